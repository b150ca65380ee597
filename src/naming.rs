//! Naming: what the inspectors and the DNS cache found becomes the flow's name, app and verdict.
//!
//! Plain functions over the catalog and the policy, with no engine state, so each rule is tested
//! case by case below (docs/ARCHITECTURE.md "Naming").
//!
//! - Precedence: a name from the flow's own bytes (TLS SNI, QUIC SNI, HTTP Host; a flow speaks
//!   one of them) replaces a DNS name given at the flow's start ([`in_band`]).
//! - ECH: when the ClientHello offers ECH and the DNS name is in *another* registrable domain than
//!   the SNI, the SNI is only the provider's public outer name: the DNS name keeps naming the flow
//!   and the SNI is kept beside it. Browsers send GREASE ECH with the real SNI in every hello, so a
//!   DNS name of the same registrable domain leaves the SNI in charge.
//! - A hello without SNI keeps its details (ALPN, JA4, ECH) and a DNS name, if any, names it.
//! - The name's app (exact host, then longest suffix), its registrable domain and the verdict of
//!   the policy in force are fixed when the flow is named ([`resolve`]).

use std::sync::{Arc, OnceLock};

use crate::catalog::{registrable_domain, Catalog};
use crate::inspect::{HelloInfo, Name};
use crate::policy::Policy;
use crate::record::{AppInfo, NameSource, Verdict};

/// What naming found out about a flow; allocated once, when the flow is named, and kept compact
/// (a flow entry holds it for its whole life): the name in one allocation, the registrable domain
/// as a suffix of it, the app shared with every flow of that app, JA4 inline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowName {
    /// The name that identifies the flow, lower case.
    pub server_name: Option<Box<str>>,
    /// Where `server_name` came from.
    pub source: Option<NameSource>,
    /// The ClientHello SNI when it differs from `server_name` (ECH outer name).
    pub sni: Option<Box<str>>,
    /// ALPN protocols offered by the client, as on the wire (one length byte before each).
    pub alpn: Box<[u8]>,
    /// The ClientHello offered ECH.
    pub ech: bool,
    /// JA4 fingerprint of the ClientHello.
    pub ja4: Option<[u8; 36]>,
    /// The catalog's app for `server_name`, shared by all flows of the app.
    pub app: Option<Arc<AppInfo>>,
    /// Where the registrable domain (eTLD+1) starts in `server_name`.
    pub domain_start: Option<u8>,
    /// Where the instance (tenant, workspace, bucket, site) sits in `server_name`: start, end.
    pub instance_at: Option<(u8, u8)>,
}

impl FlowName {
    /// Bytes it holds on the heap besides itself (what the name interner budgets).
    pub(crate) fn string_bytes(&self) -> usize {
        self.server_name.as_ref().map_or(0, |n| n.len())
            + self.sni.as_ref().map_or(0, |n| n.len())
            + self.alpn.len()
    }

    /// The offered ALPN protocols.
    pub fn alpn_list(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = &self.alpn[..];
        while let Some((&len, tail)) = rest.split_first() {
            let len = usize::from(len).min(tail.len());
            out.push(String::from_utf8_lossy(&tail[..len]).into_owned());
            rest = &tail[len..];
        }
        out
    }

    /// The registrable domain of `server_name`.
    pub fn registrable_domain(&self) -> Option<&str> {
        let name = self.server_name.as_deref()?;
        name.get(usize::from(self.domain_start?)..)
    }

    /// The instance `server_name` carries (the catalog's `instances` patterns, or the label left
    /// of a private public suffix).
    pub fn instance(&self) -> Option<&str> {
        let name = self.server_name.as_deref()?;
        let (start, end) = self.instance_at?;
        name.get(usize::from(start)..usize::from(end))
    }

    /// The JA4 fingerprint as text.
    pub fn ja4_text(&self) -> Option<String> {
        self.ja4.map(|j| String::from_utf8_lossy(&j).into_owned())
    }
}

/// A catalog in force, with one shared [`AppInfo`] per app for the flows it names (records share
/// it instead of copying its strings).
pub(crate) struct LoadedCatalog {
    pub catalog: Arc<Catalog>,
    infos: Vec<Arc<AppInfo>>,
}

impl LoadedCatalog {
    pub fn new(catalog: Arc<Catalog>) -> LoadedCatalog {
        let infos = catalog
            .apps()
            .iter()
            .map(|a| {
                Arc::new(AppInfo {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    category: a.category.id().to_owned(),
                    risk: a.risk,
                })
            })
            .collect();
        LoadedCatalog { catalog, infos }
    }

    /// The embedded catalog, parsed once per process.
    pub fn embedded() -> Arc<LoadedCatalog> {
        static EMBEDDED: OnceLock<Arc<LoadedCatalog>> = OnceLock::new();
        EMBEDDED
            .get_or_init(|| Arc::new(LoadedCatalog::new(Arc::new(Catalog::embedded()))))
            .clone()
    }

    /// The app of a (lower-case) server name and where its instance sits in it; no allocation.
    pub fn app_and_instance(
        &self,
        server_name: &str,
    ) -> (Option<Arc<AppInfo>>, Option<std::ops::Range<usize>>) {
        let index = self.catalog.lookup_index(server_name.as_bytes());
        let app = index.and_then(|i| self.infos.get(i.get()).cloned());
        (app, self.catalog.instance_range(index, server_name))
    }
}

/// The name a DNS answer gives a new flow to its address, until the flow's own bytes say better
/// (`name` made from the answer's question name by [`lower_name`](crate::inspect::lower_name)).
pub(crate) fn from_dns(name: Name) -> FlowName {
    FlowName {
        server_name: Some(name.text.into_boxed_str()),
        source: Some(NameSource::Dns),
        ..FlowName::default()
    }
}

/// The name of a flow whose own bytes named it (`name` is `None` for a hello without SNI), given
/// the DNS name the flow had until then.
pub(crate) fn in_band(
    dns_name: Option<Box<str>>,
    source: NameSource,
    name: Option<Box<str>>,
    hello: Option<HelloInfo>,
) -> FlowName {
    let mut flow_name = FlowName::default();
    if let Some(h) = hello {
        flow_name.alpn = h.alpn;
        flow_name.ech = h.ech;
        flow_name.ja4 = h.ja4;
        let other_domain = match (&dns_name, &name) {
            (Some(a), Some(b)) => registrable_domain(a) != registrable_domain(b),
            _ => false,
        };
        if h.ech && other_domain {
            flow_name.server_name = dns_name;
            flow_name.source = Some(NameSource::Dns);
            flow_name.sni = name;
            return flow_name;
        }
    }
    match name {
        Some(n) => {
            flow_name.server_name = Some(n);
            flow_name.source = Some(source);
        }
        None => {
            flow_name.source = dns_name.as_ref().map(|_| NameSource::Dns);
            flow_name.server_name = dns_name;
        }
    }
    flow_name
}

/// Fill the name's app and registrable domain from the catalog and return the policy's verdict.
pub(crate) fn resolve(name: &mut FlowName, catalog: &LoadedCatalog, policy: &Policy) -> Verdict {
    let Some(server_name) = name.server_name.as_deref() else {
        return Verdict::Allow;
    };
    let (app, instance) = catalog.app_and_instance(server_name);
    // The registrable domain is a suffix of the (lower-case) name: keep where it starts.
    let domain = registrable_domain(server_name);
    name.domain_start = domain.and_then(|d| u8::try_from(server_name.len() - d.len()).ok());
    name.instance_at =
        instance.and_then(|r| Some((u8::try_from(r.start).ok()?, u8::try_from(r.end).ok()?)));
    let instance = name
        .instance_at
        .and_then(|(a, b)| server_name.get(usize::from(a)..usize::from(b)));
    let verdict =
        policy.verdict_for_instance(app.as_deref().map(|a| a.id.as_str()), domain, instance);
    name.app = app;
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::lower_name;
    use crate::policy::Sanction;

    fn hello(ech: bool) -> HelloInfo {
        HelloInfo {
            sni: None,
            alpn: b"\x02h2".to_vec().into_boxed_slice(),
            ech,
            ja4: Some(*b"t13d1516h2_8daaf6152771_02713d6af862"),
        }
    }

    fn boxed(s: &str) -> Option<Box<str>> {
        Some(s.into())
    }

    #[test]
    fn in_band_name_replaces_a_dns_name() {
        let n = in_band(
            boxed("cdn.example.net"),
            NameSource::TlsSni,
            boxed("www.dropbox.com"),
            Some(hello(false)),
        );
        assert_eq!(n.server_name.as_deref(), Some("www.dropbox.com"));
        assert_eq!(n.source, Some(NameSource::TlsSni));
        assert_eq!(n.sni, None);
        assert_eq!(n.alpn_list(), ["h2"]);
    }

    #[test]
    fn ech_with_a_dns_name_of_another_domain_keeps_the_dns_name() {
        let n = in_band(
            boxed("www.dropbox.com"),
            NameSource::TlsSni,
            boxed("cloudflare-ech.com"),
            Some(hello(true)),
        );
        assert_eq!(n.server_name.as_deref(), Some("www.dropbox.com"));
        assert_eq!(n.source, Some(NameSource::Dns));
        assert_eq!(n.sni.as_deref(), Some("cloudflare-ech.com"));
        assert!(n.ech);
        assert!(n.ja4.is_some());
    }

    #[test]
    fn grease_ech_with_a_same_domain_dns_name_keeps_the_sni() {
        let n = in_band(
            boxed("dropbox.com"),
            NameSource::QuicSni,
            boxed("www.dropbox.com"),
            Some(hello(true)),
        );
        assert_eq!(n.server_name.as_deref(), Some("www.dropbox.com"));
        assert_eq!(n.source, Some(NameSource::QuicSni));
        assert_eq!(n.sni, None);
    }

    #[test]
    fn ech_without_a_dns_name_keeps_the_sni() {
        let n = in_band(
            None,
            NameSource::TlsSni,
            boxed("cloudflare-ech.com"),
            Some(hello(true)),
        );
        assert_eq!(n.server_name.as_deref(), Some("cloudflare-ech.com"));
        assert_eq!(n.source, Some(NameSource::TlsSni));
    }

    #[test]
    fn hello_without_sni_falls_back_to_dns_and_keeps_its_details() {
        let n = in_band(
            boxed("api.example.org"),
            NameSource::TlsSni,
            None,
            Some(hello(false)),
        );
        assert_eq!(n.server_name.as_deref(), Some("api.example.org"));
        assert_eq!(n.source, Some(NameSource::Dns));
        assert!(n.ja4.is_some());
        let n = in_band(None, NameSource::TlsSni, None, Some(hello(false)));
        assert_eq!(n.server_name, None);
        assert_eq!(n.source, None);
        assert!(n.ja4.is_some());
    }

    #[test]
    fn http_host_has_no_hello_details() {
        let n = in_band(
            boxed("a.example.com"),
            NameSource::HttpHost,
            boxed("b.example.com"),
            None,
        );
        assert_eq!(n.server_name.as_deref(), Some("b.example.com"));
        assert_eq!(n.source, Some(NameSource::HttpHost));
        assert_eq!(n.ja4, None);
        assert!(n.alpn.is_empty());
    }

    #[test]
    fn dns_names_are_lower_case_without_trailing_dot() {
        let n = from_dns(lower_name(b"Files.Dropbox.COM."));
        assert_eq!(n.server_name.as_deref(), Some("files.dropbox.com"));
        assert_eq!(n.source, Some(NameSource::Dns));
    }

    #[test]
    fn resolve_finds_app_domain_and_verdict() {
        let catalog = LoadedCatalog::embedded();
        let mut policy = Policy::new();
        policy.set_app("dropbox", Sanction::Unsanctioned);
        let mut n = from_dns(lower_name(b"www.dropbox.com"));
        assert_eq!(resolve(&mut n, &catalog, &policy), Verdict::Block);
        assert_eq!(n.app.as_ref().map(|a| a.id.as_str()), Some("dropbox"));
        assert_eq!(n.registrable_domain(), Some("dropbox.com"));
        // Label boundaries: evildropbox.com is not Dropbox.
        let mut n = from_dns(lower_name(b"evildropbox.com"));
        assert_eq!(resolve(&mut n, &catalog, &policy), Verdict::Allow);
        assert!(n.app.is_none());
        assert_eq!(n.registrable_domain(), Some("evildropbox.com"));
        // Domain policy for names no catalog knows.
        policy.set_domain("evildropbox.com", Sanction::Monitored);
        let mut n = from_dns(lower_name(b"x.evildropbox.com"));
        assert_eq!(resolve(&mut n, &catalog, &policy), Verdict::Monitor);
        // Instances: the organisation's own SharePoint tenant is allowed, every other blocked.
        policy.set_app_instances("sharepoint", &["contoso"], Sanction::Unsanctioned);
        let mut n = from_dns(lower_name(b"fabrikam.sharepoint.com"));
        assert_eq!(resolve(&mut n, &catalog, &policy), Verdict::Block);
        assert_eq!(n.instance(), Some("fabrikam"));
        let mut n = from_dns(lower_name(b"contoso-my.sharepoint.com"));
        assert_eq!(resolve(&mut n, &catalog, &policy), Verdict::Allow);
        assert_eq!(n.instance(), Some("contoso"));
        let mut n = from_dns(lower_name(b"www.dropbox.com"));
        resolve(&mut n, &catalog, &policy);
        assert_eq!(n.instance(), None);
        // No name: allow, nothing filled.
        let mut n = FlowName::default();
        assert_eq!(resolve(&mut n, &catalog, &policy), Verdict::Allow);
        assert_eq!(n.registrable_domain(), None);
    }
}
