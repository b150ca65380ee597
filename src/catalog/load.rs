//! Catalog files: the serde shape of the TOML and JSON schema, and the lint every catalog passes.
//! Nothing here is on the packet path; errors carry the line (when the format can tell it) and the
//! field path of the first problem found.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::{App, Catalog, Category};

/// The only `schema_version` this crate reads and writes.
pub const FILE_SCHEMA_VERSION: i64 = 1;

/// Longest app id accepted, in bytes: it must fit the C record's `char[64]` with its NUL (a longer
/// id would be cut there, and the cut id could name another app).
pub const MAX_ID_LEN: usize = 63;

/// Longest app name accepted, in bytes: it must fit the C record's `char[96]` with its NUL.
pub const MAX_APP_NAME_LEN: usize = 95;

/// Longest category id, in bytes: every category id fits the C record's `char[48]` with its NUL
/// (checked by a test over [`Category::ALL`]).
pub const MAX_CATEGORY_LEN: usize = 47;

use crate::error::LoadError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    schema_version: i64,
    #[serde(default)]
    apps: Vec<RawApp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    id: String,
    name: String,
    category: String,
    #[serde(default)]
    risk: Option<i64>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    multi_tenant: bool,
    #[serde(default)]
    risk_note: Option<String>,
    #[serde(default)]
    instances: Vec<String>,
    #[serde(default)]
    instance_reserved: Vec<String>,
}

/// Risk given to an app whose entry has no `risk` (custom catalogs only; the embedded one scores
/// every app): the middle of the scale, neither trusted nor flagged.
pub const DEFAULT_RISK: u8 = 5;

/// Where in the source a field sits, so lint errors can name a line.
enum Locator<'a> {
    None,
    Toml {
        text: &'a str,
        root: Spanned<DeTable<'a>>,
    },
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn table_get<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

impl Locator<'_> {
    /// Line of `apps[app].field[elem]` (or of the top-level `field` when `app` is `None`), going as
    /// deep as the document allows.
    fn line(&self, app: Option<usize>, field: Option<&str>, elem: Option<usize>) -> Option<usize> {
        let Locator::Toml { text, root } = self else {
            return None;
        };
        let mut span: Range<usize> = root.span();
        let table: &DeTable<'_> = match app {
            None => root.get_ref(),
            Some(i) => {
                let apps = table_get(root.get_ref(), "apps")?;
                span = apps.span();
                let DeValue::Array(items) = apps.get_ref() else {
                    return Some(line_of(text, span.start));
                };
                let Some(item) = items.get(i) else {
                    return Some(line_of(text, span.start));
                };
                span = item.span();
                match item.get_ref() {
                    DeValue::Table(t) => t,
                    _ => return Some(line_of(text, span.start)),
                }
            }
        };
        if let Some(value) = field.and_then(|f| table_get(table, f)) {
            span = value.span();
            if let (Some(e), DeValue::Array(items)) = (elem, value.get_ref()) {
                span = items.get(e).map_or(span, |item| item.span());
            }
        }
        Some(line_of(text, span.start))
    }

    /// Field path (`apps[3].risk`) of the value whose span holds `offset`.
    fn path_at(&self, offset: usize) -> Option<String> {
        let Locator::Toml { root, .. } = self else {
            return None;
        };
        let contains = |r: Range<usize>| r.start <= offset && offset < r.end.max(r.start + 1);
        for (key, value) in root.get_ref().iter() {
            let name = key.get_ref().as_ref();
            if contains(key.span()) {
                return Some(name.to_owned());
            }
            if !contains(value.span()) {
                continue;
            }
            let DeValue::Array(items) = value.get_ref() else {
                return Some(name.to_owned());
            };
            for (i, item) in items.iter().enumerate() {
                if !contains(item.span()) {
                    continue;
                }
                if let DeValue::Table(t) = item.get_ref() {
                    for (k, v) in t.iter() {
                        if contains(k.span()) || contains(v.span()) {
                            return Some(format!("{name}[{i}].{}", k.get_ref()));
                        }
                    }
                }
                return Some(format!("{name}[{i}]"));
            }
            return Some(name.to_owned());
        }
        None
    }
}

pub(super) fn from_toml(text: &str) -> Result<Catalog, LoadError> {
    let root = DeTable::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        LoadError::new(
            line,
            None,
            format!("malformed TOML: {}", e.message().trim()),
        )
    })?;
    let locator = Locator::Toml { text, root };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let (line, field) = match e.span() {
            Some(s) => (Some(line_of(text, s.start)), locator.path_at(s.start)),
            None => (None, None),
        };
        LoadError::new(line, field, e.message().trim().to_owned())
    })?;
    build(raw, &locator)
}

pub(super) fn from_json(text: &str) -> Result<Catalog, LoadError> {
    let raw: RawFile = serde_json::from_str(text).map_err(|e| {
        let line = (e.line() > 0).then_some(e.line());
        let message = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("malformed JSON: {e}")
            }
            _ => e.to_string(),
        };
        LoadError::new(line, None, message)
    })?;
    build(raw, &Locator::None)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

/// Lower-cases a catalog name and drops one trailing dot; `Err` says why the name is unusable.
pub(super) fn normalize_name(raw: &str) -> Result<String, String> {
    let name = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.len() > super::MAX_NAME_LEN {
        return Err(format!(
            "'{raw}' is longer than {} bytes",
            super::MAX_NAME_LEN
        ));
    }
    if name.contains('*') {
        return Err(format!(
            "'{raw}': wildcards are not supported; list the suffix under `domains`"
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!("'{raw}' has an empty label"));
        }
        if label.len() > 63 {
            return Err(format!("'{raw}' has a label longer than 63 bytes"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "'{raw}' has a character outside a-z, 0-9, '-', '_' (write IDNs in punycode)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("'{raw}' has a label that starts or ends with '-'"));
        }
    }
    Ok(name)
}

fn is_public_suffix(name: &str) -> bool {
    psl::suffix(name.as_bytes()).is_some_and(|s| s.as_bytes() == name.as_bytes())
}

fn build(raw: RawFile, loc: &Locator<'_>) -> Result<Catalog, LoadError> {
    let err = |app: Option<usize>, field: &str, elem: Option<usize>, message: String| {
        let path = match (app, elem) {
            (None, _) => field.to_owned(),
            (Some(i), None) if field.is_empty() => format!("apps[{i}]"),
            (Some(i), None) => format!("apps[{i}].{field}"),
            (Some(i), Some(e)) => format!("apps[{i}].{field}[{e}]"),
        };
        let f = (!field.is_empty()).then_some(field);
        LoadError::new(loc.line(app, f, elem), Some(path), message)
    };

    if raw.schema_version != FILE_SCHEMA_VERSION {
        return Err(err(
            None,
            "schema_version",
            None,
            format!(
                "unsupported schema_version {} (this build reads {FILE_SCHEMA_VERSION})",
                raw.schema_version
            ),
        ));
    }

    let mut apps = Vec::with_capacity(raw.apps.len());
    let mut ids: HashMap<String, usize> = HashMap::with_capacity(raw.apps.len());
    // name -> (app index, field, element index) of its first claim
    let mut claims: HashMap<String, (usize, &'static str, usize)> = HashMap::new();

    for (i, a) in raw.apps.into_iter().enumerate() {
        let at = Some(i);
        if !valid_id(&a.id) {
            return Err(err(
                at,
                "id",
                None,
                format!(
                    "invalid id '{}': use 1-{MAX_ID_LEN} characters of a-z, 0-9 and inner '-'",
                    a.id
                ),
            ));
        }
        if let Some(&first) = ids.get(&a.id) {
            return Err(err(
                at,
                "id",
                None,
                format!("duplicate id '{}' (first used by apps[{first}])", a.id),
            ));
        }
        if a.name.trim().is_empty() {
            return Err(err(at, "name", None, "empty name".into()));
        }
        if a.name.len() > MAX_APP_NAME_LEN {
            return Err(err(
                at,
                "name",
                None,
                format!(
                    "name is {} bytes, longer than {MAX_APP_NAME_LEN}",
                    a.name.len()
                ),
            ));
        }
        let Some(category) = Category::from_id(&a.category) else {
            return Err(err(
                at,
                "category",
                None,
                format!("unknown category '{}'", a.category),
            ));
        };
        let risk = match a.risk {
            None => DEFAULT_RISK,
            Some(r @ 0..=10) => r as u8,
            Some(r) => {
                return Err(err(
                    at,
                    "risk",
                    None,
                    format!("risk {r} is out of range 0..=10"),
                ));
            }
        };
        if a.domains.is_empty() && a.hosts.is_empty() {
            return Err(err(
                at,
                "",
                None,
                format!("app '{}' has no domains and no hosts", a.id),
            ));
        }

        let mut lists: [(&'static str, Vec<String>); 2] =
            [("domains", a.domains), ("hosts", a.hosts)];
        for (field, list) in lists.iter_mut() {
            for (e, entry) in list.iter_mut().enumerate() {
                let name = normalize_name(entry).map_err(|m| err(at, field, Some(e), m))?;
                if *field == "domains" && !a.multi_tenant && is_public_suffix(&name) {
                    return Err(err(
                        at,
                        field,
                        Some(e),
                        format!(
                            "'{name}' is a public suffix shared by many owners; \
                             set multi_tenant = true if the app really hosts its tenants there"
                        ),
                    ));
                }
                if let Some(&(other, of, oe)) = claims.get(&name) {
                    let owner = if other == i {
                        "this app".to_owned()
                    } else {
                        format!("app '{}'", apps_id(&apps, other))
                    };
                    return Err(err(
                        at,
                        field,
                        Some(e),
                        format!(
                            "'{name}' is already claimed by {owner} (apps[{other}].{of}[{oe}])"
                        ),
                    ));
                }
                claims.insert(name.clone(), (i, field, e));
                *entry = name;
            }
        }
        let [(_, domains), (_, hosts)] = lists;
        let mut instances = Vec::with_capacity(a.instances.len());
        for (e, raw) in a.instances.iter().enumerate() {
            super::instance::Pattern::parse(raw, &domains)
                .map_err(|m| err(at, "instances", Some(e), m))?;
            instances.push(raw.to_ascii_lowercase());
        }
        let mut instance_reserved = Vec::with_capacity(a.instance_reserved.len());
        for (e, raw) in a.instance_reserved.iter().enumerate() {
            let label = raw.to_ascii_lowercase();
            let stem = label.strip_suffix('*').unwrap_or(&label);
            if stem.is_empty()
                || stem.contains('.')
                || normalize_name(stem.trim_end_matches('-')).is_err()
            {
                return Err(err(
                    at,
                    "instance_reserved",
                    Some(e),
                    format!("'{raw}' is not a single host label (or a label's start and '*')"),
                ));
            }
            instance_reserved.push(label);
        }
        ids.insert(a.id.clone(), i);
        apps.push(App {
            id: a.id,
            name: a.name,
            category,
            risk,
            domains,
            hosts,
            multi_tenant: a.multi_tenant,
            risk_note: a.risk_note.filter(|n| !n.trim().is_empty()),
            instances,
            instance_reserved,
        });
    }
    Ok(Catalog::from_valid_apps(apps))
}

fn apps_id(apps: &[App], i: usize) -> &str {
    apps.get(i).map_or("?", |a| a.id.as_str())
}
