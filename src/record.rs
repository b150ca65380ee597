//! Cloud-app activity records, schema version 1 (docs/ARCHITECTURE.md "Records").
//!
//! A record covers one flow from its previous record (or its start) to `last_seen_ns`: the sum of a
//! flow's records is the flow's total. Every field is always present in JSON, `null` when unknown.
//!
//! [`ActivityRecord`] is the one definition of the record: its serde derive is both the bincode
//! wire form (field order = wire order) and, with the engine's [`Device`] added once per line, the
//! JSON form ([`JsonRecord`]). The C form (`cloudsight_record`) is filled from it, and a test in
//! `capi::record` fails when a field of this struct has no place in the C struct.

use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::context::{Device, Process, User};
use crate::packet::Transport;

/// The record schema version this library writes.
pub const SCHEMA_VERSION: u16 = 1;

/// Why a record was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Event {
    /// The flow is still live; counts since its previous record (active timeout).
    Update = 1,
    /// The flow ended; see [`Reason`].
    Close = 2,
}

/// How a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Reason {
    /// FINs from both sides.
    Fin = 1,
    /// A TCP RST.
    Rst = 2,
    /// No packet for the protocol's idle timeout.
    Idle = 3,
    /// Removed to make room in a full flow table.
    Evicted = 4,
    /// Ended by an explicit flush (end of capture, shutdown) or a stream close call.
    Flush = 5,
}

/// Where `server_name` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum NameSource {
    /// The TLS ClientHello's server_name.
    TlsSni = 1,
    /// The server_name of a QUIC Initial's ClientHello.
    QuicSni = 2,
    /// The HTTP/1.x Host header (or CONNECT target).
    HttpHost = 3,
    /// A DNS answer seen earlier for the server address.
    Dns = 4,
}

/// The admin's answer for a flow: fixed when the flow is named.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Verdict {
    /// Let it pass (sanctioned, or no policy).
    #[default]
    Allow = 0,
    /// Let it pass and flag it (monitored app).
    Monitor = 1,
    /// Block it (unsanctioned app).
    Block = 2,
}

/// The cloud app a flow was matched to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    /// Stable catalog id, e.g. `dropbox`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Category (Defender for Cloud Apps names, e.g. `cloudStorage`).
    pub category: String,
    /// Risk score 0-10, 10 = most trusted.
    pub risk: u8,
}

/// One cloud-app activity record (schema 1), without the device: every record of an engine has the
/// same device ([`crate::Config::device`]), which the encodings carry once per batch (bincode) or
/// add to each line ([`JsonRecord`]). Field order is the wire order of both encodings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRecord {
    /// Always [`SCHEMA_VERSION`].
    pub schema: u16,
    /// Engine-unique flow id.
    pub flow_id: u64,
    /// Community ID v1 of the flow's 5-tuple (`1:` + base64 SHA-1).
    pub community_id: String,
    /// `update` or `close`.
    pub event: Event,
    /// On close, how the flow ended; `None` on update.
    pub reason: Option<Reason>,
    /// Timestamp of the flow's first packet (caller's clock, ns since the epoch).
    pub first_seen_ns: u64,
    /// Timestamp of the flow's latest packet.
    pub last_seen_ns: u64,
    /// `tcp` or `udp`.
    pub protocol: Transport,
    /// Client address (docs/ARCHITECTURE.md "Flows" has the client rule).
    pub client_ip: IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Server address.
    pub server_ip: IpAddr,
    /// Server port.
    pub server_port: u16,
    /// IP bytes client -> server since the previous record.
    pub bytes_up: u64,
    /// IP bytes server -> client since the previous record.
    pub bytes_down: u64,
    /// IP packets client -> server since the previous record.
    pub packets_up: u64,
    /// IP packets server -> client since the previous record.
    pub packets_down: u64,
    /// The name that identifies the flow, lower case.
    pub server_name: Option<String>,
    /// Where `server_name` came from.
    pub name_source: Option<NameSource>,
    /// The ClientHello SNI when it differs from `server_name` (the ECH outer name).
    pub sni: Option<String>,
    /// ALPN protocols the client offered.
    pub alpn: Vec<String>,
    /// The ClientHello offered Encrypted Client Hello.
    pub ech: bool,
    /// JA4 fingerprint of the ClientHello.
    pub ja4: Option<String>,
    /// The cloud app, if the catalog knows the name (shared by the records of that app).
    pub app: Option<Arc<AppInfo>>,
    /// Registrable domain (eTLD+1) of `server_name`.
    pub registrable_domain: Option<String>,
    /// The verdict for the flow.
    pub verdict: Verdict,
    /// The process behind the flow, if the sensor said.
    pub process: Option<Process>,
    /// The user behind the flow, if the sensor said.
    pub user: Option<User>,
    /// The instance of the app (tenant, workspace, org, bucket, account, site) that
    /// `server_name` carries, `None` when it carries none. Last, so older wire readers' prefix
    /// stays the same.
    pub instance: Option<String>,
}

/// A record as a JSON line carries it: the record's fields, then the device.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct JsonRecord<'a> {
    /// The record.
    #[serde(flatten)]
    pub record: &'a ActivityRecord,
    /// The engine's device.
    pub device: &'a Device,
}

/// A record with every field set (and no field at its default), for tests of the record's forms.
#[cfg(test)]
pub(crate) fn full_record() -> ActivityRecord {
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
        server_name: Some("www.example.com".into()),
        name_source: Some(NameSource::Dns),
        sni: Some("cloudflare-ech.com".into()),
        alpn: vec!["h2".into(), "http/1.1".into()],
        ech: true,
        ja4: Some("t13d1516h2_8daaf6152771_02713d6af862".into()),
        app: Some(Arc::new(AppInfo {
            id: "slack".into(),
            name: "Slack".into(),
            category: "collaboration".into(),
            risk: 9,
        })),
        registrable_domain: Some("example.com".into()),
        verdict: Verdict::Block,
        process: Some(Process {
            pid: 42,
            start_time_ns: 5,
            path: Some("/usr/bin/slack".into()),
        }),
        user: Some(User {
            name: Some("alice".into()),
            id: Some("S-1-5-21".into()),
        }),
        instance: Some("acme".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record's field names, from its serde form (the one definition).
    fn field_names(r: &ActivityRecord) -> Vec<String> {
        match serde_json::to_value(r).unwrap() {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn json_line_is_the_record_plus_the_device() {
        let r = full_record();
        let device = Device {
            id: "d1".into(),
            name: "laptop".into(),
        };
        let line = serde_json::to_value(JsonRecord {
            record: &r,
            device: &device,
        })
        .unwrap();
        let obj = line.as_object().unwrap();
        let mut expected = field_names(&r);
        expected.push("device".into());
        assert_eq!(obj.len(), expected.len());
        for f in &expected {
            assert!(obj.contains_key(f), "{f} missing from the JSON line");
        }
        assert_eq!(line["device"]["name"], "laptop");
        assert_eq!(line["protocol"], "tcp");
        let back: ActivityRecord = serde_json::from_value(line).unwrap();
        assert_eq!(back, r);
    }
}
