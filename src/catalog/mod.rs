//! The cloud-app catalog: which app a server name belongs to, by exact host or label-boundary suffix.
//! A [`Catalog`] is validated when built and immutable afterwards, and [`Catalog::lookup`] does at
//! most one hash probe per label of the name and never allocates, so it can run on the packet path.
//!
//! # Catalog file schema (TOML; JSON has the same shape)
//!
//! ```toml
//! schema_version = 1
//! apps = [
//!   { id = "slack", name = "Slack", category = "collaboration", risk = 9,
//!     domains = ["slack.com", "slack-edge.com"], hosts = ["slack-files.example.net"] },
//! ]
//! ```
//!
//! - `id`: stable kebab-case id (`a-z`, `0-9`, inner `-`), unique in the file.
//! - `name`: display name. `category`: a [`Category`] id such as `cloudStorage`.
//! - `risk`: 0-10, 10 = most trusted (Defender's scale); [`DEFAULT_RISK`] when absent.
//! - `domains`: suffixes matched on a label boundary (`slack.com` matches `a.slack.com`, never
//!   `evilslack.com`). `hosts`: names matched exactly. At least one of the two is required.
//! - `multi_tenant`: the app hosts its customers under a public suffix (`vercel.app`); only such an
//!   app may list a public suffix as a domain, and the tenant shows in the registrable domain.
//! - `risk_note`: optional words on why the score departs from its category's norm.
//! - `instances`: host patterns that carry the app's instance (tenant, workspace, bucket, site),
//!   such as `{instance}.slack.com`, `{instance}-my.sharepoint.com` or
//!   `{instance}.*.snowflakecomputing.com`: one `{instance}` placeholder in one label, `*` for any
//!   one label, the whole name matched, the labels right of the placeholder one of the app's
//!   `domains` or under one; tried in order ([`Catalog::instance_range`]).
//! - `instance_reserved`: labels never taken as the app's instance (`us0*` for every label that
//!   starts `us0`), beside [`GLOBAL_RESERVED`].
//!
//! The lint rejects duplicate ids, a name claimed twice, unknown categories, risk outside 0..=10,
//! empty or malformed labels, wildcards, public suffixes outside `multi_tenant` apps, and bad
//! instance patterns or reserved labels.

mod category;
mod instance;
mod load;

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;

use foldhash::fast::RandomState;
use serde::Serialize;

pub use crate::error::LoadError;
pub use category::{Category, UnknownCategory};
use instance::Pattern;
pub use instance::GLOBAL_RESERVED;
pub use load::{DEFAULT_RISK, FILE_SCHEMA_VERSION, MAX_APP_NAME_LEN, MAX_CATEGORY_LEN, MAX_ID_LEN};

/// The catalog compiled into the library, as TOML text.
pub const DEFAULT_CATALOG_TOML: &str = include_str!("default_catalog.toml");

/// Longest name (without the trailing dot) that can match: the DNS limit.
pub const MAX_NAME_LEN: usize = 253;

/// One cloud app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct App {
    /// Stable kebab-case id, such as `ms-teams`.
    pub id: String,
    /// Display name, such as `Microsoft Teams`.
    pub name: String,
    /// Defender for Cloud Apps category.
    pub category: Category,
    /// 0-10, 10 = most trusted.
    pub risk: u8,
    /// Lower-case suffixes matched on a label boundary.
    pub domains: Vec<String>,
    /// Lower-case names matched exactly.
    pub hosts: Vec<String>,
    /// The app hosts tenants under a public suffix it lists in `domains`.
    pub multi_tenant: bool,
    /// Why the score departs from the category's norm, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_note: Option<String>,
    /// Host patterns that carry the app's instance (`{instance}.slack.com`; syntax in the module
    /// docs), lower case, tried in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
    /// Labels that are never an instance of this app (beside [`GLOBAL_RESERVED`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instance_reserved: Vec<String>,
}

/// Position of an app in its [`Catalog`]; valid for that catalog only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppIndex(u32);

impl AppIndex {
    /// The index into [`Catalog::apps`].
    pub const fn get(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone, Copy, Debug)]
struct Claim {
    app: u32,
    exact: bool,
}

/// An immutable, validated set of apps with a name index. Share it as `Arc<Catalog>` and swap the
/// `Arc` to change catalogs at run time.
#[derive(Clone, Debug)]
pub struct Catalog {
    apps: Vec<App>,
    names: HashMap<Box<[u8]>, Claim, RandomState>,
    ids: HashMap<String, u32, RandomState>,
    /// Compiled `instances` patterns, per app.
    patterns: Vec<Box<[Pattern]>>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::empty()
    }
}

impl Catalog {
    /// A catalog with no apps: every lookup misses.
    pub fn empty() -> Catalog {
        Catalog::from_valid_apps(Vec::new())
    }

    /// Parses the catalog compiled into the library ([`DEFAULT_CATALOG_TOML`]). Each call parses
    /// anew; cache the result.
    pub fn embedded() -> Catalog {
        // The embedded file is linted by the test suite, so this cannot fail in a tested build.
        Catalog::from_toml(DEFAULT_CATALOG_TOML).expect("embedded catalog passes its lint")
    }

    /// Parses and lints a TOML catalog (schema in the module docs).
    pub fn from_toml(text: &str) -> Result<Catalog, LoadError> {
        load::from_toml(text)
    }

    /// Parses and lints a JSON catalog with the same shape as the TOML one.
    pub fn from_json(text: &str) -> Result<Catalog, LoadError> {
        load::from_json(text)
    }

    /// Builds the index over apps that already passed the lint (unique ids and names).
    fn from_valid_apps(apps: Vec<App>) -> Catalog {
        let mut names = HashMap::with_hasher(RandomState::default());
        let mut ids = HashMap::with_capacity_and_hasher(apps.len(), RandomState::default());
        for (i, app) in apps.iter().enumerate() {
            let app_index = u32::try_from(i).expect("fewer than 2^32 apps");
            ids.insert(app.id.clone(), app_index);
            for (list, exact) in [(&app.domains, false), (&app.hosts, true)] {
                for name in list {
                    let claim = Claim {
                        app: app_index,
                        exact,
                    };
                    names.insert(name.as_bytes().into(), claim);
                }
            }
        }
        let patterns = apps
            .iter()
            .map(|app| {
                // Patterns passed the lint; one whose domain `extend` took away is left out.
                app.instances
                    .iter()
                    .filter_map(|p| Pattern::parse(p, &app.domains).ok())
                    .collect()
            })
            .collect();
        Catalog {
            apps,
            names,
            ids,
            patterns,
        }
    }

    /// A new catalog: `self` overlaid with `other`. An app of `other` replaces the app of `self`
    /// with the same id (in place); other apps of `other` are appended. A name that `other` claims
    /// is taken away from whichever app of `self` claimed it, so `other`'s domains always win (an
    /// app of `self` may be left with no names: it stays listed but never matches).
    pub fn extend(&self, other: &Catalog) -> Catalog {
        let mut apps: Vec<App> = Vec::with_capacity(self.apps.len() + other.apps.len());
        for app in &self.apps {
            if let Some(&o) = other.ids.get(&app.id) {
                apps.push(other.apps[o as usize].clone());
                continue;
            }
            let mut app = app.clone();
            let taken = |name: &String| other.names.contains_key(name.as_bytes());
            app.domains.retain(|d| !taken(d));
            app.hosts.retain(|h| !taken(h));
            apps.push(app);
        }
        for app in &other.apps {
            if !self.ids.contains_key(&app.id) {
                apps.push(app.clone());
            }
        }
        Catalog::from_valid_apps(apps)
    }

    /// The app that `host` belongs to: an exact host entry first, then the longest domain suffix
    /// that ends on a label boundary. ASCII case is ignored, one trailing dot is ignored, and a name
    /// longer than [`MAX_NAME_LEN`] or empty matches nothing. Does not allocate.
    pub fn lookup(&self, host: &[u8]) -> Option<&App> {
        self.lookup_index(host).map(|i| &self.apps[i.get()])
    }

    /// Like [`Catalog::lookup`], returning the app's position instead of a reference.
    pub fn lookup_index(&self, host: &[u8]) -> Option<AppIndex> {
        let host = host.strip_suffix(b".").unwrap_or(host);
        if host.is_empty() || host.len() > MAX_NAME_LEN {
            return None;
        }
        let mut buf = [0u8; 255];
        let name = &mut buf[..host.len()];
        name.copy_from_slice(host);
        name.make_ascii_lowercase();
        let name: &[u8] = name;

        // The whole name may be an exact host or a domain; a proper suffix only a domain. Scanning
        // the dots left to right visits suffixes longest first, so the first hit is the answer.
        if let Some(claim) = self.names.get(name) {
            return Some(AppIndex(claim.app));
        }
        let mut rest = name;
        while let Some(dot) = rest.iter().position(|&b| b == b'.') {
            rest = &rest[dot + 1..];
            if rest.is_empty() {
                break;
            }
            match self.names.get(rest) {
                Some(claim) if !claim.exact => return Some(AppIndex(claim.app)),
                _ => {}
            }
        }
        None
    }

    /// Where the instance (tenant, workspace, org, bucket, account, site) sits in `host`, a name
    /// as naming makes it (lower case, no trailing dot) whose app is `app` (from
    /// [`Catalog::lookup_index`] on `host`): the app's `instances` patterns when it has some;
    /// otherwise, for a name no app claims or a `multi_tenant` app's name, the label left of a
    /// public suffix of the list's private section. `None` when the name carries no instance or
    /// only a reserved label. Allocates nothing.
    pub fn instance_range(&self, app: Option<AppIndex>, host: &str) -> Option<Range<usize>> {
        let range = match app.and_then(|i| Some((self.apps.get(i.get())?, &self.patterns[i.get()])))
        {
            Some((app, patterns)) if !patterns.is_empty() => patterns.iter().find_map(|p| {
                p.capture(host)
                    .filter(|r| !instance::is_reserved(&host[r.clone()], &app.instance_reserved))
            }),
            Some((app, _)) if !app.multi_tenant => None,
            _ => instance::from_private_suffix(host),
        }?;
        // Only host-label characters: an escaped byte (`\xHH`) never makes an instance.
        host[range.clone()]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            .then_some(range)
    }

    /// The instance `host` carries (see [`Catalog::instance_range`]); case and one trailing dot
    /// are ignored, the result is lower case.
    pub fn instance(&self, host: &str) -> Option<String> {
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let app = self.lookup_index(host.as_bytes());
        self.instance_range(app, &host).map(|r| host[r].to_owned())
    }

    /// The app with this id.
    pub fn app(&self, id: &str) -> Option<&App> {
        self.ids.get(id).map(|&i| &self.apps[i as usize])
    }

    /// The app at `index` (from [`Catalog::lookup_index`] on this catalog).
    pub fn app_at(&self, index: AppIndex) -> Option<&App> {
        self.apps.get(index.get())
    }

    /// Every app, in file order (after [`Catalog::extend`]: `self`'s order, then `other`'s new apps).
    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    /// Number of apps.
    pub fn len(&self) -> usize {
        self.apps.len()
    }

    /// True when the catalog has no apps.
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// One JSON object per app and line (`id`, `name`, `category`, `risk`, `domains`, `hosts`,
    /// `multi_tenant`, and `risk_note` when set), for `--list-apps`.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for app in &self.apps {
            out.push_str(&serde_json::to_string(app).expect("an App always serializes"));
            out.push('\n');
        }
        out
    }

    /// The whole catalog as a JSON catalog file that [`Catalog::from_json`] reads back.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct File<'a> {
            schema_version: i64,
            apps: &'a [App],
        }
        let file = File {
            schema_version: FILE_SCHEMA_VERSION,
            apps: &self.apps,
        };
        serde_json::to_string_pretty(&file).expect("a catalog always serializes")
    }
}

/// The registrable domain (eTLD+1, by the public suffix list including its private section) of
/// `host`, as a slice of `host`: `a.b.example.co.uk` gives `example.co.uk`, `x.vercel.app` gives
/// `x.vercel.app`. One trailing dot is left out of the result and ASCII case is ignored for the
/// match (the slice keeps the input's case). `None` for IP literals, bare public suffixes, names
/// with empty labels, and empty or over-long names. IDNs are matched as given (punycode or UTF-8).
pub fn registrable_domain(host: &str) -> Option<&str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > MAX_NAME_LEN {
        return None;
    }
    if host.contains(':') || host.starts_with('[') || host.parse::<IpAddr>().is_ok() {
        return None;
    }
    if host.split('.').any(str::is_empty) {
        return None;
    }
    // No top-level domain is all digits; such a name is an IPv4 literal in some odd form.
    let tld = host.rsplit('.').next().unwrap_or(host);
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut buf = [0u8; MAX_NAME_LEN];
    let lower = &mut buf[..host.len()];
    lower.copy_from_slice(host.as_bytes());
    lower.make_ascii_lowercase();
    let len = psl::domain(lower)?.as_bytes().len();
    host.get(host.len() - len..)
}

#[cfg(test)]
mod tests;
