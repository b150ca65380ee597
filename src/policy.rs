//! Sanction policy: turns an app id or an unknown registrable domain into a per-flow [`Verdict`].
//! A [`Policy`] is an immutable snapshot once built (share it as `Arc<Policy>` and swap the `Arc`);
//! an app rule beats a domain rule, a domain rule beats the default, and the default allows.
//!
//! # Policy file schema (TOML)
//!
//! ```toml
//! default = "monitored"          # optional; no default means allow
//! [apps]
//! dropbox = "sanctioned"
//! wetransfer = "unsanctioned"
//! [domains]
//! "example.co.uk" = "monitored"  # registrable domains, for names no catalog knows
//! [instances.sharepoint]         # the organisation's own instances of an app
//! own = ["contoso"]              # their flows get the app's rule, else allow
//! others = "unsanctioned"        # every other instance of the app
//! ```
//!
//! An instance rule applies to flows whose name carries an instance (the catalog's `instances`
//! patterns: `fabrikam.sharepoint.com` is instance `fabrikam` of `sharepoint`). A flow of the app
//! whose name carries none (`app.slack.com`, `sharepoint.com`) gets the app's rule as before.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use foldhash::fast::RandomState;
use serde::Deserialize;

use crate::catalog::{Catalog, MAX_NAME_LEN};
use crate::error::LoadError;

/// What an administrator decided about an app or domain, as in Defender for Cloud Apps.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sanction {
    /// Approved for use: traffic is allowed.
    Sanctioned = 0,
    /// Not approved: traffic is blocked.
    Unsanctioned = 1,
    /// Allowed but watched: traffic is flagged for monitoring.
    Monitored = 2,
}

impl Sanction {
    /// The lower-case name used in policy files (`"unsanctioned"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Sanction::Sanctioned => "sanctioned",
            Sanction::Unsanctioned => "unsanctioned",
            Sanction::Monitored => "monitored",
        }
    }

    /// The verdict this sanction produces.
    pub const fn verdict(self) -> Verdict {
        match self {
            Sanction::Sanctioned => Verdict::Allow,
            Sanction::Unsanctioned => Verdict::Block,
            Sanction::Monitored => Verdict::Monitor,
        }
    }
}

impl fmt::Display for Sanction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Sanction {
    type Err = LoadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sanctioned" => Ok(Sanction::Sanctioned),
            "unsanctioned" => Ok(Sanction::Unsanctioned),
            "monitored" => Ok(Sanction::Monitored),
            _ => Err(LoadError {
                line: None,
                field: None,
                message: format!(
                    "unknown sanction '{s}' (expected sanctioned, unsanctioned or monitored)"
                ),
            }),
        }
    }
}

pub use crate::record::Verdict;

impl Verdict {
    /// The lower-case name used in records (`"block"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Monitor => "monitor",
            Verdict::Block => "block",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sanctions per app id and per registrable domain, plus an optional default.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    apps: HashMap<String, Sanction, RandomState>,
    domains: HashMap<String, Sanction, RandomState>,
    instances: HashMap<String, InstanceRule, RandomState>,
    default: Option<Sanction>,
}

/// An app's own instances and the sanction of its other instances ([`Policy::set_app_instances`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceRule {
    /// The organisation's own instances, lower case.
    pub own: Vec<String>,
    /// The sanction of every other instance of the app.
    pub others: Sanction,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstanceRule {
    #[serde(default)]
    own: Vec<String>,
    others: Sanction,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    default: Option<Sanction>,
    #[serde(default)]
    apps: HashMap<String, Sanction>,
    #[serde(default)]
    domains: HashMap<String, Sanction>,
    #[serde(default)]
    instances: HashMap<String, RawInstanceRule>,
}

fn normalize_domain(domain: &str) -> String {
    domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase()
}

impl Policy {
    /// An empty policy: everything is allowed.
    pub fn new() -> Self {
        Policy::default()
    }

    /// Sets the sanction of an app (catalog id, exact match).
    pub fn set_app(&mut self, app_id: &str, sanction: Sanction) {
        self.apps.insert(app_id.to_owned(), sanction);
    }

    /// Sets the sanction of a registrable domain (case and one trailing dot are ignored). It
    /// applies to flows whose app has no rule of its own, unknown names included.
    pub fn set_domain(&mut self, registrable_domain: &str, sanction: Sanction) {
        self.domains
            .insert(normalize_domain(registrable_domain), sanction);
    }

    /// Names the organisation's own instances of an app (catalog id; instances compared ignoring
    /// ASCII case) and the sanction of its other instances: a flow whose name carries an instance
    /// of the app not in `own` gets `others`; one in `own` gets the app's rule, or allow when the
    /// app has none. Flows of the app whose name carries no instance are not affected. Replaces
    /// the app's previous instance rule; an empty `own` gives every instance `others`.
    pub fn set_app_instances<S: AsRef<str>>(&mut self, app_id: &str, own: &[S], others: Sanction) {
        let own = own
            .iter()
            .map(|s| s.as_ref().to_ascii_lowercase())
            .collect();
        self.instances
            .insert(app_id.to_owned(), InstanceRule { own, others });
    }

    /// Removes the app's instance rule, if any.
    pub fn clear_app_instances(&mut self, app_id: &str) {
        self.instances.remove(app_id);
    }

    /// The app's instance rule, if one is set.
    pub fn app_instances(&self, app_id: &str) -> Option<&InstanceRule> {
        self.instances.get(app_id)
    }

    /// Sets the sanction for flows no rule matches; `None` restores the allow default.
    pub fn set_default(&mut self, sanction: Option<Sanction>) {
        self.default = sanction;
    }

    /// The sanction of an app, if one is set.
    pub fn app_sanction(&self, app_id: &str) -> Option<Sanction> {
        self.apps.get(app_id).copied()
    }

    /// The verdict for a flow: the app's rule if it has one, else the registrable domain's rule,
    /// else the default, else allow. `registrable_domain` is matched ignoring ASCII case and one
    /// trailing dot. Does not allocate.
    pub fn verdict(&self, app_id: Option<&str>, registrable_domain: Option<&str>) -> Verdict {
        self.verdict_for_instance(app_id, registrable_domain, None)
    }

    /// The verdict for a flow whose name carries `instance` (lower case, as the catalog gives
    /// it): the app's instance rule when it has one and the flow has an instance, else
    /// [`Policy::verdict`]. Does not allocate.
    pub fn verdict_for_instance(
        &self,
        app_id: Option<&str>,
        registrable_domain: Option<&str>,
        instance: Option<&str>,
    ) -> Verdict {
        self.sanction(app_id, registrable_domain, instance)
            .map_or(Verdict::Allow, Sanction::verdict)
    }

    /// The sanction that decides a flow's verdict, `None` when no rule applies (the flow is
    /// allowed, unreviewed): the app's instance rule for an instance (one of the organisation's
    /// own instances is sanctioned unless the app's rule says otherwise; any other gets the
    /// rule's `others`), else the app's rule, else the registrable domain's, else the default.
    /// Does not allocate.
    pub fn sanction(
        &self,
        app_id: Option<&str>,
        registrable_domain: Option<&str>,
        instance: Option<&str>,
    ) -> Option<Sanction> {
        if let (Some(id), Some(instance)) = (app_id, instance) {
            if let Some(rule) = self.instances.get(id) {
                if !rule.own.iter().any(|o| o == instance) {
                    return Some(rule.others);
                }
                return Some(self.apps.get(id).copied().unwrap_or(Sanction::Sanctioned));
            }
        }
        if let Some(s) = app_id.and_then(|id| self.apps.get(id)) {
            return Some(*s);
        }
        if let Some(s) = registrable_domain.and_then(|d| self.domain_sanction(d)) {
            return Some(s);
        }
        self.default
    }

    fn domain_sanction(&self, domain: &str) -> Option<Sanction> {
        if self.domains.is_empty() {
            return None;
        }
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        if domain.bytes().any(|b| b.is_ascii_uppercase()) {
            if domain.len() > MAX_NAME_LEN {
                return None;
            }
            let mut buf = [0u8; MAX_NAME_LEN];
            let lower = &mut buf[..domain.len()];
            lower.copy_from_slice(domain.as_bytes());
            lower.make_ascii_lowercase();
            let lower = std::str::from_utf8(lower).ok()?;
            return self.domains.get(lower).copied();
        }
        self.domains.get(domain).copied()
    }

    /// App ids with a rule that `catalog` does not know: likely typos, worth a warning.
    pub fn unknown_apps<'a>(&'a self, catalog: &Catalog) -> Vec<&'a str> {
        let mut ids: Vec<&str> = self
            .apps
            .keys()
            .chain(self.instances.keys())
            .map(String::as_str)
            .filter(|id| catalog.app(id).is_none())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Parses a TOML policy file (schema in the module docs).
    pub fn from_toml(text: &str) -> Result<Policy, LoadError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| {
                let end = s.start.min(text.len());
                text.as_bytes()[..end]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1
            });
            LoadError {
                line,
                field: None,
                message: e.message().trim().to_owned(),
            }
        })?;
        let mut policy = Policy::new();
        policy.default = raw.default;
        for (id, s) in raw.apps {
            policy.set_app(&id, s);
        }
        for (domain, s) in raw.domains {
            policy.set_domain(&domain, s);
        }
        for (id, rule) in raw.instances {
            policy.set_app_instances(&id, &rule.own, rule.others);
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deciding_sanction_is_none_without_a_rule_and_follows_instances() {
        let mut p = Policy::new();
        assert_eq!(
            p.sanction(Some("slack"), Some("slack.com"), Some("acme")),
            None
        );
        p.set_app_instances("slack", &["acme"], Sanction::Unsanctioned);
        // One of our own instances, no app rule: sanctioned; another tenant: the rule's others.
        assert_eq!(
            p.sanction(Some("slack"), Some("slack.com"), Some("acme")),
            Some(Sanction::Sanctioned)
        );
        assert_eq!(
            p.sanction(Some("slack"), Some("slack.com"), Some("evil")),
            Some(Sanction::Unsanctioned)
        );
        // No instance in the name: the app's rule (none), then the domain's, then the default.
        assert_eq!(p.sanction(Some("slack"), Some("slack.com"), None), None);
        p.set_domain("Slack.com.", Sanction::Monitored);
        assert_eq!(
            p.sanction(Some("slack"), Some("slack.com"), None),
            Some(Sanction::Monitored)
        );
        p.set_app("slack", Sanction::Monitored);
        assert_eq!(
            p.sanction(Some("slack"), Some("slack.com"), Some("acme")),
            Some(Sanction::Monitored)
        );
        p.set_default(Some(Sanction::Unsanctioned));
        assert_eq!(
            p.sanction(None, Some("other.example"), None),
            Some(Sanction::Unsanctioned)
        );
        assert_eq!(
            p.verdict_for_instance(Some("slack"), None, Some("evil")),
            Verdict::Block
        );
    }

    #[test]
    fn no_rule_allows() {
        let p = Policy::new();
        assert_eq!(p.verdict(None, None), Verdict::Allow);
        assert_eq!(
            p.verdict(Some("dropbox"), Some("dropbox.com")),
            Verdict::Allow
        );
    }

    #[test]
    fn each_sanction_maps_to_its_verdict() {
        let mut p = Policy::new();
        p.set_app("a", Sanction::Sanctioned);
        p.set_app("b", Sanction::Unsanctioned);
        p.set_app("c", Sanction::Monitored);
        assert_eq!(p.verdict(Some("a"), None), Verdict::Allow);
        assert_eq!(p.verdict(Some("b"), None), Verdict::Block);
        assert_eq!(p.verdict(Some("c"), None), Verdict::Monitor);
        assert_eq!(p.verdict(Some("d"), None), Verdict::Allow);
    }

    #[test]
    fn app_rule_beats_domain_rule_beats_default() {
        let mut p = Policy::new();
        p.set_default(Some(Sanction::Monitored));
        p.set_domain("Example.CO.uk.", Sanction::Unsanctioned);
        p.set_app("wetransfer", Sanction::Sanctioned);
        // unknown name: its domain's rule
        assert_eq!(p.verdict(None, Some("example.co.uk")), Verdict::Block);
        assert_eq!(p.verdict(None, Some("EXAMPLE.co.UK.")), Verdict::Block);
        // known app without a rule still falls to the domain rule (a tenant of a shared host)
        assert_eq!(
            p.verdict(Some("vercel"), Some("example.co.uk")),
            Verdict::Block
        );
        // app rule wins over the domain rule
        assert_eq!(
            p.verdict(Some("wetransfer"), Some("example.co.uk")),
            Verdict::Allow
        );
        // nothing matches: default
        assert_eq!(p.verdict(None, Some("other.org")), Verdict::Monitor);
        assert_eq!(p.verdict(None, None), Verdict::Monitor);
        p.set_default(None);
        assert_eq!(p.verdict(None, None), Verdict::Allow);
    }

    #[test]
    fn later_set_replaces_earlier() {
        let mut p = Policy::new();
        p.set_app("slack", Sanction::Unsanctioned);
        p.set_app("slack", Sanction::Monitored);
        assert_eq!(p.app_sanction("slack"), Some(Sanction::Monitored));
        assert_eq!(p.verdict(Some("slack"), None), Verdict::Monitor);
    }

    #[test]
    fn verdict_numbers_are_stable() {
        assert_eq!(Verdict::Allow as u8, 0);
        assert_eq!(Verdict::Monitor as u8, 1);
        assert_eq!(Verdict::Block as u8, 2);
        assert!(Verdict::Block > Verdict::Monitor && Verdict::Monitor > Verdict::Allow);
        assert_eq!(Verdict::Block.to_string(), "block");
    }

    #[test]
    fn policy_file_parses() {
        let p = Policy::from_toml(
            "default = \"monitored\"\n[apps]\ndropbox = \"unsanctioned\"\nslack = \"sanctioned\"\n\
             [domains]\n\"Unknown.Example\" = \"unsanctioned\"\n",
        )
        .unwrap();
        assert_eq!(p.verdict(Some("dropbox"), None), Verdict::Block);
        assert_eq!(p.verdict(Some("slack"), None), Verdict::Allow);
        assert_eq!(p.verdict(None, Some("unknown.example")), Verdict::Block);
        assert_eq!(p.verdict(None, None), Verdict::Monitor);
    }

    #[test]
    fn bad_policy_file_names_the_line() {
        let err = Policy::from_toml("[apps]\ndropbox = \"unsanctioned\"\nslack = \"banned\"\n")
            .unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.to_string().starts_with("line 3: "), "{err}");
        let err = Policy::from_toml("[apps]\nslack = \n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        let err = Policy::from_toml("[rules]\n").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
    }

    #[test]
    fn instance_rules_split_an_app_by_instance() {
        let mut p = Policy::new();
        p.set_app_instances("sharepoint", &["Contoso"], Sanction::Unsanctioned);
        let v = |i: Option<&str>| p.verdict_for_instance(Some("sharepoint"), None, i);
        assert_eq!(v(Some("contoso")), Verdict::Allow);
        assert_eq!(v(Some("fabrikam")), Verdict::Block);
        assert_eq!(v(None), Verdict::Allow);
        // Own instances follow the app's rule when it has one.
        p.set_app("sharepoint", Sanction::Monitored);
        assert_eq!(
            p.verdict_for_instance(Some("sharepoint"), None, Some("contoso")),
            Verdict::Monitor
        );
        assert_eq!(
            p.verdict_for_instance(Some("sharepoint"), None, Some("fabrikam")),
            Verdict::Block
        );
        // Other apps are untouched.
        assert_eq!(
            p.verdict_for_instance(Some("slack"), None, Some("acme")),
            Verdict::Allow
        );
        p.clear_app_instances("sharepoint");
        assert_eq!(
            p.verdict_for_instance(Some("sharepoint"), None, Some("fabrikam")),
            Verdict::Monitor
        );
        let p = Policy::from_toml("[instances.slack]\nown = [\"acme\"]\nothers = \"monitored\"\n")
            .unwrap();
        assert_eq!(
            p.verdict_for_instance(Some("slack"), None, Some("other")),
            Verdict::Monitor
        );
        assert_eq!(
            p.app_instances("slack").map(|r| r.own.clone()),
            Some(vec!["acme".to_owned()])
        );
    }

    #[test]
    fn unknown_apps_are_reported() {
        let catalog = Catalog::from_toml(
            "schema_version = 1\napps = [{ id = \"slack\", name = \"Slack\", \
             category = \"collaboration\", risk = 9, domains = [\"slack.com\"] }]\n",
        )
        .unwrap();
        let mut p = Policy::new();
        p.set_app("slack", Sanction::Sanctioned);
        p.set_app("slak", Sanction::Sanctioned);
        assert_eq!(p.unknown_apps(&catalog), vec!["slak"]);
    }
}
