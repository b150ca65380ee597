//! The wire formats: a golden-bytes test pins the bincode batch, JSON lines carry every field, and
//! the bundled sample capture is what `make_sample` writes.

use std::sync::Arc;

use cloudsight::record::*;
use cloudsight::{decode_batch, encode_batch, Device, Process, Transport, User};
use cloudsight_testkit::sample;

fn device() -> Device {
    Device {
        id: "d1".into(),
        name: "laptop".into(),
    }
}

fn record() -> ActivityRecord {
    ActivityRecord {
        schema: SCHEMA_VERSION,
        flow_id: 7,
        community_id: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into(),
        event: Event::Close,
        reason: Some(Reason::Fin),
        first_seen_ns: 1_000,
        last_seen_ns: 2_000,
        protocol: Transport::Tcp,
        client_ip: "10.0.0.1".parse().unwrap(),
        client_port: 50000,
        server_ip: "2001:db8::1".parse().unwrap(),
        server_port: 443,
        bytes_up: 300,
        bytes_down: 70000,
        packets_up: 5,
        packets_down: 50,
        server_name: Some("app.slack.com".into()),
        name_source: Some(NameSource::TlsSni),
        sni: None,
        alpn: vec!["h2".into()],
        ech: false,
        ja4: None,
        app: Some(Arc::new(AppInfo {
            id: "slack".into(),
            name: "Slack".into(),
            category: "collaboration".into(),
            risk: 9,
        })),
        registrable_domain: Some("slack.com".into()),
        verdict: Verdict::Allow,
        process: Some(Process {
            pid: 42,
            start_time_ns: 5,
            path: Some("/usr/bin/slack".into()),
        }),
        user: Some(User {
            name: Some("alice".into()),
            id: None,
        }),
        // app.slack.com carries no workspace.
        instance: None,
    }
}

#[test]
fn bincode_batch_golden_bytes() {
    let r = record();
    let bytes = encode_batch(&device(), std::slice::from_ref(&r));
    // Pinned wire format (bincode 2.0.1, config::standard()): changing it is a schema change.
    // Read by hand: 43535242 "CSRB", 01 schema, 02 "d1", 06 "laptop", 01 record; then the record:
    // 01 schema, 07 flow id, 1e + 30 bytes community id, 01 close, 01 00 Some(fin), fb e803 1000,
    // fb d007 2000, 00 tcp, 00 0a000001 10.0.0.1, fb 50c3 50000, 01 + 16 bytes 2001:db8::1,
    // fb bb01 443, fb 2c01 300, fc 70110100 70000, 05, 32 (50), 01 0d "app.slack.com", 01 00 tls_sni,
    // 00 no sni, 01 02 "h2", 00 no ech, 00 no ja4, 01 app (05 "slack" 05 "Slack" 0d
    // "collaboration" 09), 01 09 "slack.com", 00 allow, 01 process (2a 05 01 0e "/usr/bin/slack"),
    // 01 user (01 05 "alice" 00), 00 no instance (the one trailing field added with instances).
    let golden = "4353524201026431066c6170746f700101071e313a4c515539715a6c4b2b423546334b446d6576366d\
35504d696272673d010100fbe803fbd00700000a000001fb50c30120010db8000000000000000000000001fbbb01fb2c01fc\
701101000532010d6170702e736c61636b2e636f6d0100000102683200000105736c61636b05536c61636b0d636f6c6c61\
626f726174696f6e090109736c61636b2e636f6d00012a05010e2f7573722f62696e2f736c61636b010105616c6963650000";
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if std::env::var_os("CLOUDSIGHT_PRINT_GOLDEN").is_some() {
        eprintln!("{hex}");
    }
    assert_eq!(hex, golden.replace(['\n', ' '], ""));
    let (device, back) = decode_batch(&bytes).unwrap();
    assert_eq!(device, self::device());
    assert_eq!(back, vec![r]);
}

#[test]
fn batch_decoding_refuses_damage() {
    let r = record();
    let bytes = encode_batch(&device(), &[r.clone(), r]);
    assert!(decode_batch(&bytes[..bytes.len() - 1]).is_err());
    let mut bad_magic = bytes.clone();
    bad_magic[0] = b'X';
    assert!(decode_batch(&bad_magic).is_err());
    let mut trailing = bytes;
    trailing.push(0);
    assert!(decode_batch(&trailing).is_err());
}

#[test]
fn json_line_has_every_field_and_nulls() {
    let mut r = record();
    r.app = None;
    r.process = None;
    let mut out = Vec::new();
    cloudsight::encode::write_json_line(&device(), &r, &mut out);
    assert_eq!(out.last(), Some(&b'\n'));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let fields = [
        "schema",
        "flow_id",
        "community_id",
        "event",
        "reason",
        "first_seen_ns",
        "last_seen_ns",
        "protocol",
        "client_ip",
        "client_port",
        "server_ip",
        "server_port",
        "bytes_up",
        "bytes_down",
        "packets_up",
        "packets_down",
        "server_name",
        "name_source",
        "sni",
        "alpn",
        "ech",
        "ja4",
        "app",
        "registrable_domain",
        "verdict",
        "device",
        "process",
        "user",
        "instance",
    ];
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), fields.len());
    for f in fields {
        assert!(obj.contains_key(f), "{f} missing");
    }
    assert!(v["app"].is_null() && v["process"].is_null() && v["sni"].is_null());
    assert!(v["instance"].is_null());
    assert_eq!(v["server_ip"], "2001:db8::1");
    assert_eq!(v["event"], "close");
    assert_eq!(v["name_source"], "tls_sni");
}

#[test]
fn bundled_sample_is_what_make_sample_writes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/sample.pcap");
    let committed = std::fs::read(&path).unwrap();
    assert!(
        committed == sample::sample(),
        "examples/data/sample.pcap is stale: run `cargo run --example make_sample`"
    );
}
