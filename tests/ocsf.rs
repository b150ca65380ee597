//! Every OCSF event cloudsight writes is valid OCSF 1.3.0 Network Activity: the class and the
//! objects it uses are resolved from the schema source in `../shared/ocsf-1.3.0` (following
//! `extends`, `$include` and profiles), every emitted attribute must exist with the dictionary's
//! type (and enum value), and every required attribute (the base event's included, and the
//! required ones of the profiles the event declares) must be present. Skips without the schema,
//! fails without it when `CI` is set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cloudsight::record::*;
use cloudsight::{Device, Process, Transport, User};
use serde_json::{Map, Value};

fn root() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ocsf-1.3.0");
    if p.join("dictionary.json").is_file() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing and CI is set",
        p.display()
    );
    eprintln!("skipping: {} is absent", p.display());
    None
}

/// An attribute as the class or object defines it, with the profile it came from (if any).
#[derive(Clone, Debug)]
struct Attr {
    def: Map<String, Value>,
    profile: Option<String>,
}

struct Schema {
    root: PathBuf,
    dict: Map<String, Value>,
    types: Map<String, Value>,
}

impl Schema {
    fn load(root: &Path) -> Schema {
        let d: Value = read(&root.join("dictionary.json"));
        Schema {
            root: root.to_owned(),
            dict: d["attributes"].as_object().unwrap().clone(),
            types: d["types"]["attributes"].as_object().unwrap().clone(),
        }
    }

    /// Attributes of a file, its `$include`s and its `extends` chain (`dir` holds the parents).
    fn resolve(
        &self,
        file: &Path,
        dir: &str,
        out: &mut BTreeMap<String, Attr>,
        profile: Option<&str>,
    ) {
        let v = read(file);
        if let Some(parent) = v["extends"].as_str().filter(|p| *p != "object") {
            let name = format!("{parent}.json");
            // A class extends a sibling (network) or the base event; an object another object.
            let pf = [
                file.parent().unwrap().join(&name),
                self.root.join(dir).join(&name),
                self.root.join("events").join(&name),
            ]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{}: parent {parent} not found", file.display()));
            self.resolve(&pf, dir, out, profile);
        }
        let attrs = v["attributes"].as_object().cloned().unwrap_or_default();
        for (k, a) in attrs {
            if k == "$include" {
                for inc in a.as_array().unwrap() {
                    let inc = inc.as_str().unwrap();
                    let prof = inc
                        .strip_prefix("profiles/")
                        .map(|p| p.trim_end_matches(".json").to_owned());
                    self.resolve(&self.root.join(inc), dir, out, prof.as_deref().or(profile));
                }
                continue;
            }
            let def = a.as_object().cloned().unwrap_or_default();
            let e = out.entry(k).or_insert(Attr {
                def: Map::new(),
                profile: profile.map(str::to_owned),
            });
            for (dk, dv) in def {
                e.def.insert(dk, dv);
            }
        }
    }

    fn class(&self) -> BTreeMap<String, Attr> {
        let mut out = BTreeMap::new();
        self.resolve(
            &self.root.join("events/network/network_activity.json"),
            "objects",
            &mut out,
            None,
        );
        out
    }

    fn object(&self, name: &str) -> (BTreeMap<String, Attr>, Value) {
        let file = self.root.join("objects").join(format!("{name}.json"));
        let mut out = BTreeMap::new();
        self.resolve(&file, "objects", &mut out, None);
        // Constraints of the object or, failing that, its parents.
        let mut constraints = Value::Null;
        let mut f = Some(file);
        while let Some(path) = f {
            let v = read(&path);
            if !v["constraints"].is_null() && constraints.is_null() {
                constraints = v["constraints"].clone();
            }
            f = v["extends"]
                .as_str()
                .filter(|p| *p != "object")
                .map(|p| self.root.join("objects").join(format!("{p}.json")));
        }
        (out, constraints)
    }

    /// Check `value` against `attrs`; `profiles` are the event's declared profiles.
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        at: &str,
        value: &Map<String, Value>,
        attrs: &BTreeMap<String, Attr>,
        constraints: &Value,
        profiles: &[String],
        errors: &mut Vec<String>,
        checked: &mut usize,
    ) {
        for (k, v) in value {
            let path = format!("{at}.{k}");
            let Some(attr) = attrs.get(k) else {
                errors.push(format!("{path}: no such attribute"));
                continue;
            };
            let Some(dict) = self.dict.get(k).and_then(Value::as_object) else {
                errors.push(format!("{path}: not in the dictionary"));
                continue;
            };
            *checked += 1;
            let ty = attr
                .def
                .get("type")
                .or(dict.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let is_array = attr
                .def
                .get("is_array")
                .or(dict.get("is_array"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let values: Vec<&Value> = if is_array {
                match v.as_array() {
                    Some(a) => a.iter().collect(),
                    None => {
                        errors.push(format!("{path}: expected an array"));
                        continue;
                    }
                }
            } else {
                vec![v]
            };
            // The schema server merges the dictionary's enum (0 Unknown, 99 Other) with the
            // class's or object's. class_uid and category_uid are generated from the class and
            // category files: the test checks them on its own.
            let mut enm: Vec<String> = Vec::new();
            for e in [attr.def.get("enum"), dict.get("enum")]
                .into_iter()
                .flatten()
            {
                enm.extend(e.as_object().unwrap().keys().cloned());
            }
            let generated = at == "event" && (k == "class_uid" || k == "category_uid");
            for item in values {
                self.check_type(&path, ty, item, profiles, errors, checked);
                if let (false, false, Some(n)) = (enm.is_empty(), generated, item.as_i64()) {
                    if !enm.contains(&n.to_string()) {
                        errors.push(format!("{path}: {n} is not one of its enum values"));
                    }
                }
            }
        }
        for (k, a) in attrs {
            let active = a.profile.as_ref().is_none_or(|p| profiles.contains(p));
            if active
                && a.def.get("requirement").and_then(Value::as_str) == Some("required")
                && !value.contains_key(k)
            {
                errors.push(format!("{at}.{k}: required but missing"));
            }
        }
        if let Some(one) = constraints["at_least_one"].as_array() {
            if !one.iter().any(|k| value.contains_key(k.as_str().unwrap())) {
                errors.push(format!("{at}: needs at least one of {one:?}"));
            }
        }
    }

    fn check_type(
        &self,
        path: &str,
        ty: &str,
        v: &Value,
        profiles: &[String],
        errors: &mut Vec<String>,
        checked: &mut usize,
    ) {
        // Walk a type down to its base type (port_t -> integer_t, timestamp_t -> long_t, ...).
        let mut base = ty;
        while let Some(t) = self.types.get(base).and_then(|t| t["type"].as_str()) {
            if t == base {
                break;
            }
            if ty == "ip_t"
                && v.as_str()
                    .is_some_and(|s| s.parse::<std::net::IpAddr>().is_err())
            {
                errors.push(format!("{path}: not an IP address"));
            }
            if ty == "port_t" && v.as_u64().is_none_or(|p| p > 65535) {
                errors.push(format!("{path}: not a port"));
            }
            base = t;
        }
        let ok = match base {
            "string_t" => v.is_string(),
            "integer_t" => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            "long_t" => v.is_i64() || v.is_u64(),
            "boolean_t" => v.is_boolean(),
            "float_t" => v.is_number(),
            "json_t" => true,
            "object" => v.is_object(),
            object => {
                let Some(o) = v.as_object() else {
                    errors.push(format!("{path}: expected object {object}"));
                    return;
                };
                let (attrs, constraints) = self.object(object);
                self.check(path, o, &attrs, &constraints, profiles, errors, checked);
                true
            }
        };
        if !ok {
            errors.push(format!("{path}: {v} is not a {ty}"));
        }
    }
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn records() -> Vec<ActivityRecord> {
    let full = ActivityRecord {
        schema: SCHEMA_VERSION,
        flow_id: 7,
        community_id: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into(),
        event: Event::Close,
        reason: Some(Reason::Fin),
        first_seen_ns: 1_700_000_000_000_000_000,
        last_seen_ns: 1_700_000_005_000_000_000,
        protocol: Transport::Tcp,
        client_ip: "10.0.0.1".parse().unwrap(),
        client_port: 50000,
        server_ip: "2001:db8::1".parse().unwrap(),
        server_port: 443,
        bytes_up: 300,
        bytes_down: 70000,
        packets_up: 5,
        packets_down: 50,
        server_name: Some("fabrikam.sharepoint.com".into()),
        name_source: Some(NameSource::TlsSni),
        sni: Some("cloudflare-ech.com".into()),
        alpn: vec!["h2".into()],
        ech: true,
        ja4: Some("t13d1516h2_8daaf6152771_02713d6af862".into()),
        app: Some(Arc::new(AppInfo {
            id: "sharepoint".into(),
            name: "SharePoint Online".into(),
            category: "cloudStorage".into(),
            risk: 10,
        })),
        registrable_domain: Some("sharepoint.com".into()),
        verdict: Verdict::Block,
        process: Some(Process {
            pid: 42,
            start_time_ns: 1_699_999_000_000_000_000,
            path: Some("C:\\Program Files\\App\\app.exe".into()),
        }),
        user: Some(User {
            name: Some("alice".into()),
            id: Some("S-1-5-21".into()),
        }),
        instance: Some("fabrikam".into()),
    };
    let bare = ActivityRecord {
        event: Event::Update,
        reason: None,
        protocol: Transport::Udp,
        server_name: None,
        name_source: None,
        sni: None,
        alpn: vec![],
        ech: false,
        ja4: None,
        app: None,
        registrable_domain: None,
        verdict: Verdict::Allow,
        process: None,
        user: None,
        instance: None,
        ..full.clone()
    };
    let monitored = ActivityRecord {
        verdict: Verdict::Monitor,
        process: Some(Process {
            pid: 1,
            start_time_ns: 0,
            path: None,
        }),
        user: Some(User {
            name: None,
            id: Some("1000".into()),
        }),
        ..full.clone()
    };
    vec![full, bare, monitored]
}

#[test]
fn ocsf_events_are_valid_network_activity_1_3_0() {
    let Some(root) = root() else { return };
    let schema = Schema::load(&root);
    let class = schema.class();
    assert!(
        class.contains_key("dst_endpoint")
            && class.contains_key("severity_id")
            && class.contains_key("action_id")
    );
    let device = Device {
        id: "d1".into(),
        name: "laptop".into(),
    };
    let mut checked = 0;
    let mut errors = Vec::new();
    for r in records() {
        let mut line = Vec::new();
        cloudsight::ocsf::write_ocsf_line(&device, &r, &mut line);
        let event: Value = serde_json::from_slice(&line).unwrap();
        let category = read(&root.join("categories.json"))["attributes"]["network"]["uid"]
            .as_u64()
            .unwrap();
        let class_file = read(&root.join("events/network/network_activity.json"));
        assert_eq!(class_file["category"], "network");
        assert_eq!(event["category_uid"], category);
        assert_eq!(
            event["class_uid"],
            category * 1000 + class_file["uid"].as_u64().unwrap()
        );
        assert_eq!(
            event["type_uid"],
            400100 + event["activity_id"].as_u64().unwrap()
        );
        assert_eq!(event["metadata"]["version"], "1.3.0");
        let profiles: Vec<String> = event["metadata"]["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        for p in &profiles {
            assert!(
                root.join("profiles").join(format!("{p}.json")).is_file(),
                "profile {p}"
            );
        }
        schema.check(
            "event",
            event.as_object().unwrap(),
            &class,
            &Value::Null,
            &profiles,
            &mut errors,
            &mut checked,
        );
    }
    eprintln!(
        "ocsf: {checked} attribute values checked over 3 events, {} errors",
        errors.len()
    );
    assert!(errors.is_empty(), "{errors:#?}");
}
