//! Cloud-app activity records, schema version 1 (the table in DESIGN.md "Records").
//!
//! A record covers one flow from its previous record (or its start) to `last_seen_ns`: the sum of a
//! flow's records is the flow's total. Every field is always present in JSON, `null` when unknown.

use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::context::{Device, Process, User};

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

/// Transport protocol, as records name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Protocol {
    /// TCP.
    Tcp = 6,
    /// UDP.
    Udp = 17,
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

/// One cloud-app activity record (schema 1). Field order is the wire order of both encodings.
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
    pub protocol: Protocol,
    /// Client address (see DESIGN.md "Flows" for the client rule).
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
    /// The device (from the engine's configuration; shared by every record of the engine).
    pub device: Arc<Device>,
    /// The process behind the flow, if the sensor said.
    pub process: Option<Process>,
    /// The user behind the flow, if the sensor said.
    pub user: Option<User>,
}
