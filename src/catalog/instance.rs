//! Instances: the tenant, workspace, org, bucket, account or site a host name carries, read by the
//! app's `instances` patterns, or for names on a platform the catalog does not know (and for
//! `multi_tenant` apps without patterns), from the private section of the public suffix list.
//!
//! A pattern is a host name template, matched against the whole name (same number of labels):
//!
//! - exactly one label holds the placeholder `{instance}`, alone (`{instance}.slack.com`) or with
//!   literal text around it in that label (`{instance}-my.sharepoint.com`, `adb-{instance}.*...`);
//! - a label `*` matches any one label (a region: `{instance}.*.snowflakecomputing.com`);
//! - every other label is literal, and the literal labels right of the last `*` or placeholder
//!   must be one of the app's `domains` or under one.
//!
//! An app's patterns are tried in file order and the first that matches with an instance that is
//! not reserved wins. Reserved labels ([`GLOBAL_RESERVED`], and the app's `instance_reserved`) are
//! never instances: `app.slack.com`, `www.box.com` and `login.okta.com` carry none.

use std::ops::Range;

/// Labels that never name an instance, for every app and for the public-suffix-list fallback.
pub const GLOBAL_RESERVED: &[&str] = &[
    "www",
    "www2",
    "web",
    "api",
    "apis",
    "app",
    "apps",
    "login",
    "logon",
    "signin",
    "signup",
    "auth",
    "sso",
    "oauth",
    "id",
    "identity",
    "accounts",
    "account",
    "status",
    "cdn",
    "static",
    "assets",
    "media",
    "images",
    "img",
    "files",
    "file",
    "upload",
    "uploads",
    "download",
    "downloads",
    "help",
    "support",
    "docs",
    "doc",
    "developer",
    "developers",
    "dev-docs",
    "blog",
    "news",
    "community",
    "forum",
    "forums",
    "mail",
    "email",
    "smtp",
    "m",
    "mobile",
    "admin",
    "portal",
    "console",
    "dashboard",
    "my",
    "secure",
    "edge",
    "gateway",
    "ws",
    "wss",
    "events",
    "telemetry",
    "metrics",
    "analytics",
    "stats",
    "tracking",
    "ocsp",
    "crl",
    "ns1",
    "ns2",
    "mx",
    "info",
    "about",
    "go",
    "get",
    "careers",
    "jobs",
    "legal",
    "privacy",
    "security",
    "trust",
    "marketplace",
    "partners",
    "investor",
    "investors",
    "ir",
    "press",
    "academy",
    "learn",
    "training",
    "university",
    "beta",
    "preview",
    "staging",
    "test",
    "sandbox",
    "demo",
    "cloud",
    "enterprise",
    "business",
    "global",
    "public",
    "share",
    "link",
    "links",
    "s3",
];

/// One compiled `instances` pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// Labels left to right.
    labels: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Any,
    Instance { prefix: String, suffix: String },
}

const PLACEHOLDER: &str = "{instance}";

fn valid_label_text(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Pattern {
    /// Compile `raw` for an app whose (normalized) domains are `domains`; `Err` says why not.
    pub(crate) fn parse(raw: &str, domains: &[String]) -> Result<Pattern, String> {
        let text = raw.to_ascii_lowercase();
        if text.is_empty() || text.len() > super::MAX_NAME_LEN {
            return Err(format!("pattern '{raw}' is empty or too long"));
        }
        if text.matches(PLACEHOLDER).count() != 1 {
            return Err(format!(
                "pattern '{raw}' must hold exactly one {PLACEHOLDER} placeholder"
            ));
        }
        let mut labels = Vec::new();
        for label in text.split('.') {
            if label.is_empty() {
                return Err(format!("pattern '{raw}' has an empty label"));
            }
            if label == "*" {
                labels.push(Part::Any);
            } else if let Some(at) = label.find(PLACEHOLDER) {
                let (prefix, suffix) = (&label[..at], &label[at + PLACEHOLDER.len()..]);
                if !valid_label_text(prefix) || !valid_label_text(suffix) {
                    return Err(format!(
                        "pattern '{raw}': text around {PLACEHOLDER} must be a-z, 0-9, '-', '_'"
                    ));
                }
                labels.push(Part::Instance {
                    prefix: prefix.to_owned(),
                    suffix: suffix.to_owned(),
                });
            } else if !valid_label_text(label)
                || label.starts_with('-')
                || label.ends_with('-')
                || label.len() > 63
            {
                return Err(format!(
                    "pattern '{raw}' has a label '{label}' that is neither a host label, '*' \
                     nor one holding {PLACEHOLDER}"
                ));
            } else {
                labels.push(Part::Literal(label.to_owned()));
            }
        }
        let at = labels
            .iter()
            .position(|p| matches!(p, Part::Instance { .. }))
            .unwrap_or(0);
        let tail = &labels[at + 1..];
        if !matches!(tail.last(), Some(Part::Literal(_))) {
            return Err(format!("pattern '{raw}' must end in a literal label"));
        }
        // The labels right of the placeholder, `*` matching any label, must spell one of the
        // app's domains or a name under one.
        let spells = |d: &String| {
            let d: Vec<&str> = d.split('.').collect();
            d.len() <= tail.len()
                && tail[tail.len() - d.len()..]
                    .iter()
                    .zip(&d)
                    .all(|(p, l)| match p {
                        Part::Literal(t) => t == l,
                        _ => true,
                    })
        };
        if !domains.iter().any(spells) {
            return Err(format!(
                "pattern '{raw}': the labels right of {PLACEHOLDER} are not one of the app's \
                 domains nor under one"
            ));
        }
        Ok(Pattern { labels })
    }

    /// The byte range of the instance in `host` (lower case, no trailing dot), if the pattern
    /// matches it.
    pub(crate) fn capture(&self, host: &str) -> Option<Range<usize>> {
        let mut found = None;
        let mut start = 0;
        let mut parts = self.labels.iter();
        for label in host.split('.') {
            let part = parts.next()?;
            match part {
                Part::Literal(l) if l != label => return None,
                Part::Literal(_) | Part::Any => {}
                Part::Instance { prefix, suffix } => {
                    if label.len() <= prefix.len() + suffix.len()
                        || !label.starts_with(prefix.as_str())
                        || !label.ends_with(suffix.as_str())
                    {
                        return None;
                    }
                    found = Some(start + prefix.len()..start + label.len() - suffix.len());
                }
            }
            start += label.len() + 1;
        }
        if parts.next().is_some() {
            return None;
        }
        found
    }
}

/// True when `label` is never an instance for an app whose own reserved list is `reserved`.
/// An entry of `instance_reserved` ending in `*` reserves every label it starts
/// (`us0*` reserves Zoom's `us02web`).
pub(crate) fn is_reserved(label: &str, reserved: &[String]) -> bool {
    GLOBAL_RESERVED.contains(&label)
        || reserved.iter().any(|r| match r.strip_suffix('*') {
            Some(prefix) => label.starts_with(prefix),
            None => r == label,
        })
}

/// The instance a name on a private public suffix carries: the label left of the suffix
/// (`foo.some-paas.example` under the private suffix `some-paas.example` gives `foo`).
pub(crate) fn from_private_suffix(host: &str) -> Option<Range<usize>> {
    let suffix = psl::suffix(host.as_bytes())?;
    if suffix.typ() != Some(psl::Type::Private) {
        return None;
    }
    let suffix_len = suffix.as_bytes().len();
    if host.len() <= suffix_len + 1 || host.as_bytes()[host.len() - suffix_len - 1] != b'.' {
        return None;
    }
    let end = host.len() - suffix_len - 1;
    let start = host[..end].rfind('.').map_or(0, |d| d + 1);
    let label = &host[start..end];
    if label.is_empty() || is_reserved(label, &[]) {
        return None;
    }
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &str, domain: &str) -> Pattern {
        Pattern::parse(raw, &[domain.to_owned()]).unwrap()
    }

    fn cap<'a>(pat: &Pattern, host: &'a str) -> Option<&'a str> {
        pat.capture(host).map(|r| &host[r])
    }

    #[test]
    fn patterns_capture_whole_and_partial_labels() {
        let sp = p("{instance}-my.sharepoint.com", "sharepoint.com");
        assert_eq!(cap(&sp, "contoso-my.sharepoint.com"), Some("contoso"));
        assert_eq!(cap(&sp, "contoso.sharepoint.com"), None);
        assert_eq!(cap(&sp, "-my.sharepoint.com"), None);
        let sf = p(
            "{instance}.*.snowflakecomputing.com",
            "snowflakecomputing.com",
        );
        assert_eq!(
            cap(&sf, "xy12345.us-east-1.snowflakecomputing.com"),
            Some("xy12345")
        );
        assert_eq!(cap(&sf, "xy12345.snowflakecomputing.com"), None);
        assert_eq!(cap(&sf, "a.b.c.snowflakecomputing.com"), None);
        let adb = p(
            "adb-{instance}.*.azuredatabricks.net",
            "azuredatabricks.net",
        );
        assert_eq!(cap(&adb, "adb-123.4.azuredatabricks.net"), Some("123"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        let d = ["slack.com".to_owned()];
        assert!(Pattern::parse(
            "{instance}.s3.*.amazonaws.com",
            &["s3.us-west-2.amazonaws.com".into()]
        )
        .is_ok());
        assert!(Pattern::parse(
            "{instance}.*.amazonaws.com",
            &["s3.us-west-2.amazonaws.com".into()]
        )
        .is_err());
        for bad in [
            "slack.com",
            "{instance}.{instance}.slack.com",
            "{instance}.*",
            "{instance}.evil.com",
            "{instance}..slack.com",
            "{instance}.sl@ck.com",
            "a{instance}b{x}.slack.com",
        ] {
            assert!(Pattern::parse(bad, &d).is_err(), "{bad}");
        }
        assert!(Pattern::parse("{instance}.enterprise.slack.com", &d).is_ok());
    }

    #[test]
    fn private_suffixes_give_the_label_left_of_them() {
        let cap = |h: &'static str| from_private_suffix(h).map(|r| &h[r]);
        assert_eq!(cap("foo.blogspot.com"), Some("foo"));
        assert_eq!(cap("x.y.github.io"), Some("y"));
        assert_eq!(cap("www.github.io"), None);
        assert_eq!(cap("github.io"), None);
        assert_eq!(cap("www.example.com"), None);
        assert_eq!(cap("example.co.uk"), None);
    }
}
