//! OCSF 1.3.0: each activity record as a Network Activity event (class_uid 4001, category 4), one
//! JSON object per line. A pure stage like [`crate::encode`]: a record and the device in, bytes
//! out. `tests/ocsf.rs` checks every emitted attribute against the OCSF 1.3.0 schema source.
//!
//! | OCSF attribute | from the record |
//! |---|---|
//! | `activity_id` | `close` -> 2 Close, `update` -> 6 Traffic; `type_uid` = 400100 + `activity_id` |
//! | `time`, `start_time`, `end_time`, `duration` | `last_seen_ns`, `first_seen_ns` (ms since the epoch) |
//! | `metadata` | product `cloudsight` (vendor `cloudsight`, the crate version), `version` "1.3.0", `correlation_uid` = Community ID, `uid` = flow id, `profiles` host and security_control |
//! | `src_endpoint`, `dst_endpoint` | client and server address and port; `dst_endpoint.hostname` = `server_name` |
//! | `connection_info` | `protocol_name`, `protocol_num`, `direction_id` 2 Outbound (the endpoint is the client) |
//! | `traffic` | `bytes_out` = `bytes_up`, `bytes_in` = `bytes_down`, packets likewise, and the sums |
//! | `actor` | `process` (pid, `file.path`, `file.name`, `created_time`), `user` (name, uid) |
//! | `device` | the engine's device: `uid` = id, `hostname` = name, `type_id` 0 Unknown |
//! | `disposition_id`, `action_id` | allow -> 1 Allowed / 1 Allowed; block -> 2 Blocked / 2 Denied; monitor -> 17 Logged / 1 Allowed |
//! | `status_id`, `severity_id` | 1 Success, except a blocked flow 2 Failure; 1 Informational |
//! | `app_name` | the catalog app's display name |
//! | `unmapped` | what OCSF has no place for: app id, category, risk, instance, registrable domain, name source, SNI, ALPN, ECH, JA4, close reason, verdict |
//!
//! OCSF 1.3.0 has no `community_uid` in `connection_info`; the Community ID is the event's
//! `metadata.correlation_uid`.

use serde_json::{json, Map, Value};

use crate::context::Device;
use crate::packet::Transport;
use crate::record::{ActivityRecord, Event, Verdict};

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";
/// Network Activity.
pub const CLASS_UID: u32 = 4001;
/// Network Activity category.
pub const CATEGORY_UID: u32 = 4;

fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

/// The record as an OCSF 1.3.0 Network Activity event.
pub fn to_ocsf(device: &Device, r: &ActivityRecord) -> Value {
    let (activity_id, activity_name) = match r.event {
        Event::Close => (2, "Close"),
        Event::Update => (6, "Traffic"),
    };
    let (disposition_id, disposition, action_id, action) = match r.verdict {
        Verdict::Allow => (1, "Allowed", 1, "Allowed"),
        Verdict::Block => (2, "Blocked", 2, "Denied"),
        Verdict::Monitor => (17, "Logged", 1, "Allowed"),
    };
    let (status_id, status) = match r.verdict {
        Verdict::Block => (2, "Failure"),
        _ => (1, "Success"),
    };
    let mut dst = json!({ "ip": r.server_ip.to_string(), "port": r.server_port });
    if let Some(name) = &r.server_name {
        dst["hostname"] = json!(name);
    }
    let mut event = json!({
        "class_uid": CLASS_UID,
        "class_name": "Network Activity",
        "category_uid": CATEGORY_UID,
        "category_name": "Network Activity",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": format!("Network Activity: {activity_name}"),
        "severity_id": 1,
        "severity": "Informational",
        "status_id": status_id,
        "status": status,
        "time": ms(r.last_seen_ns),
        "start_time": ms(r.first_seen_ns),
        "end_time": ms(r.last_seen_ns),
        "duration": ms(r.last_seen_ns.saturating_sub(r.first_seen_ns)),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "cloudsight",
                "vendor_name": "cloudsight",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "correlation_uid": r.community_id,
            "uid": r.flow_id.to_string(),
            "profiles": ["host", "security_control"],
        },
        "src_endpoint": { "ip": r.client_ip.to_string(), "port": r.client_port },
        "dst_endpoint": dst,
        "connection_info": {
            "protocol_name": match r.protocol {
                Transport::Tcp => "tcp",
                Transport::Udp => "udp",
            },
            "protocol_num": r.protocol as u8,
            "direction_id": 2,
            "direction": "Outbound",
        },
        "traffic": {
            "bytes_out": r.bytes_up,
            "bytes_in": r.bytes_down,
            "bytes": r.bytes_up.saturating_add(r.bytes_down),
            "packets_out": r.packets_up,
            "packets_in": r.packets_down,
            "packets": r.packets_up.saturating_add(r.packets_down),
        },
        "device": { "uid": device.id, "hostname": device.name, "type_id": 0 },
        "disposition_id": disposition_id,
        "disposition": disposition,
        "action_id": action_id,
        "action": action,
    });
    let mut actor = Map::new();
    if let Some(p) = &r.process {
        let mut process = json!({ "pid": p.pid });
        if p.start_time_ns != 0 {
            process["created_time"] = json!(ms(p.start_time_ns));
        }
        if let Some(path) = p.path.as_deref().filter(|s| !s.is_empty()) {
            let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
            process["name"] = json!(name);
            process["file"] = json!({ "path": path, "name": name, "type_id": 1 });
        }
        actor.insert("process".into(), process);
    }
    if let Some(u) = &r.user {
        let mut user = Map::new();
        if let Some(n) = &u.name {
            user.insert("name".into(), json!(n));
        }
        if let Some(id) = &u.id {
            user.insert("uid".into(), json!(id));
        }
        if !user.is_empty() {
            actor.insert("user".into(), Value::Object(user));
        }
    }
    if !actor.is_empty() {
        event["actor"] = Value::Object(actor);
    }
    // An engine configured with `skip_community_id` leaves it empty: no correlation id then.
    if r.community_id.is_empty() {
        if let Some(metadata) = event["metadata"].as_object_mut() {
            metadata.remove("correlation_uid");
        }
    }
    let mut unmapped = Map::new();
    if let Some(app) = &r.app {
        event["app_name"] = json!(app.name);
        unmapped.insert("app_id".into(), json!(app.id));
        unmapped.insert("app_category".into(), json!(app.category));
        unmapped.insert("app_risk".into(), json!(app.risk));
    }
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            unmapped.insert(k.into(), v);
        }
    };
    put("instance", json!(r.instance));
    put("registrable_domain", json!(r.registrable_domain));
    put("name_source", json!(r.name_source));
    put("sni", json!(r.sni));
    if !r.alpn.is_empty() {
        put("alpn", json!(r.alpn));
    }
    if r.ech {
        put("ech", json!(true));
    }
    put("ja4", json!(r.ja4));
    put("reason", json!(r.reason));
    put("verdict", json!(r.verdict));
    event["unmapped"] = Value::Object(unmapped);
    event
}

/// Append the record as one OCSF event line (`\n`-terminated).
pub fn write_ocsf_line(device: &Device, record: &ActivityRecord, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, &to_ocsf(device, record))
        .expect("OCSF events always serialize");
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::full_record;

    #[test]
    fn close_record_maps_to_a_close_event() {
        let device = Device {
            id: "d1".into(),
            name: "laptop".into(),
        };
        let r = full_record();
        let e = to_ocsf(&device, &r);
        assert_eq!(e["type_uid"], 400102);
        assert_eq!(e["disposition_id"], 2);
        assert_eq!(e["metadata"]["correlation_uid"], r.community_id.as_str());
        let skipped = ActivityRecord {
            community_id: String::new(),
            ..r.clone()
        };
        let metadata = &to_ocsf(&device, &skipped)["metadata"];
        assert!(metadata.get("correlation_uid").is_none(), "{metadata}");
        assert_eq!(metadata["uid"], r.flow_id.to_string());
        assert_eq!(e["dst_endpoint"]["hostname"], "www.example.com");
        assert_eq!(e["actor"]["process"]["file"]["name"], "slack");
        assert_eq!(e["traffic"]["bytes"], 70300);
        assert_eq!(e["unmapped"]["instance"], "acme");
        let mut out = Vec::new();
        write_ocsf_line(&device, &r, &mut out);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    }
}
