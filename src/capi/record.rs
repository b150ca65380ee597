//! `cloudsight_record`: an activity record with fixed-size inline fields, nothing to free.

use std::ffi::c_char;

use super::abi::{versioned, Zeroed};
use super::types::cloudsight_ip;
use crate::ActivityRecord;
#[cfg(test)]
use crate::{NameSource, Reason, Verdict};

/// Bit of `cloudsight_record.truncated`: a text field was cut to fit its array (the record's JSON
/// or bincode encodings always carry the whole text).
pub const CLOUDSIGHT_TRUNCATED_SERVER_NAME: u32 = 1 << 0;
/// `sni` was cut to fit.
pub const CLOUDSIGHT_TRUNCATED_SNI: u32 = 1 << 1;
/// `alpn` was cut to fit.
pub const CLOUDSIGHT_TRUNCATED_ALPN: u32 = 1 << 2;
/// `registrable_domain` was cut to fit.
pub const CLOUDSIGHT_TRUNCATED_REGISTRABLE_DOMAIN: u32 = 1 << 3;
/// `app_id`, `app_name` or `app_category` was cut to fit.
pub const CLOUDSIGHT_TRUNCATED_APP: u32 = 1 << 4;
/// `process_path` was cut to fit.
pub const CLOUDSIGHT_TRUNCATED_PROCESS_PATH: u32 = 1 << 5;
/// `user_name` or `user_id` was cut to fit.
pub const CLOUDSIGHT_TRUNCATED_USER: u32 = 1 << 6;
/// `instance` was cut to fit (instances are single host labels, at most 63 bytes, so never in
/// practice).
pub const CLOUDSIGHT_TRUNCATED_INSTANCE: u32 = 1 << 7;

/// `cloudsight_record.event`: why the record was made.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_event {
    /// The flow is still live; counts since its previous record.
    Update = 1,
    /// The flow ended; see `reason`.
    Close = 2,
}

/// `cloudsight_record.reason`: how a flow ended.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_reason {
    /// No reason: an update record.
    None = 0,
    /// FINs from both sides (or a stream sensor's close).
    Fin = 1,
    /// A TCP RST.
    Rst = 2,
    /// No packet for the protocol's idle timeout.
    Idle = 3,
    /// Removed to make room in a full flow table.
    Evicted = 4,
    /// Ended by a flush.
    Flush = 5,
}

/// `cloudsight_record.name_source`: where `server_name` came from.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_name_source {
    /// The flow has no name.
    None = 0,
    /// The TLS ClientHello's server_name.
    TlsSni = 1,
    /// The server_name of a QUIC Initial's ClientHello.
    QuicSni = 2,
    /// The HTTP/1.x Host header (or CONNECT target).
    HttpHost = 3,
    /// A DNS answer seen earlier for the server address.
    Dns = 4,
}

/// `cloudsight_record.protocol` and `cloudsight_flow_tuple.protocol`: IP protocol numbers.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_protocol {
    /// TCP.
    Tcp = 6,
    /// UDP.
    Udp = 17,
}

/// One activity record (schema 1) as plain data: fixed-size inline fields, nothing to free. Text
/// fields are NUL-terminated UTF-8, empty when unknown, cut at a character boundary when too long
/// (see `truncated`). Names never hold a NUL, a control byte or a byte that is not UTF-8: such
/// bytes are shown escaped as `\xHH`, so what C shows is what the policy matched. Enum fields
/// hold the numbers of `cloudsight_event`, `cloudsight_reason`, `cloudsight_protocol`,
/// `cloudsight_name_source` and `cloudsight_verdict`; flags are 0 or 1.
///
/// `cloudsight_engine_drain` writes records `record_size` bytes apart and sets each one's
/// `struct_size` to the bytes it filled: a caller compiled against an older, shorter record gets
/// the fields it knows; a newer, longer one gets zeros past this library's fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cloudsight_record {
    /// Bytes of this record the library filled.
    pub struct_size: u32,
    /// Bit set of `CLOUDSIGHT_TRUNCATED_*`.
    pub truncated: u32,
    /// Engine-unique flow id.
    pub flow_id: u64,
    /// Caller's timestamp of the flow's first packet, ns.
    pub first_seen_ns: u64,
    /// Caller's timestamp of the flow's latest packet, ns.
    pub last_seen_ns: u64,
    /// IP bytes client to server since the flow's previous record.
    pub bytes_up: u64,
    /// IP bytes server to client since the flow's previous record.
    pub bytes_down: u64,
    /// IP packets client to server since the flow's previous record.
    pub packets_up: u64,
    /// IP packets server to client since the flow's previous record.
    pub packets_down: u64,
    /// Process start time, ns (when `has_process`).
    pub process_start_ns: u64,
    /// Process id (when `has_process`).
    pub pid: u32,
    /// Client port.
    pub client_port: u16,
    /// Server port.
    pub server_port: u16,
    /// Client address.
    pub client_ip: cloudsight_ip,
    /// Server address.
    pub server_ip: cloudsight_ip,
    /// A `cloudsight_event`.
    pub event: u8,
    /// A `cloudsight_reason` (`CLOUDSIGHT_REASON_NONE` on update).
    pub reason: u8,
    /// A `cloudsight_protocol`.
    pub protocol: u8,
    /// A `cloudsight_name_source`.
    pub name_source: u8,
    /// A `cloudsight_verdict`.
    pub verdict: u8,
    /// 1 when the ClientHello offered ECH.
    pub ech: u8,
    /// 1 when an app matched (`app_*` fields are set).
    pub has_app: u8,
    /// App risk score 0-10 (10 = most trusted), when `has_app`.
    pub app_risk: u8,
    /// 1 when process context is present.
    pub has_process: u8,
    /// 1 when user context is present.
    pub has_user: u8,
    /// Community ID v1 ("1:" + 28 base64 characters).
    pub community_id: [c_char; 32],
    /// The name that identifies the flow, lower case.
    pub server_name: [c_char; 256],
    /// The ClientHello SNI when it differs from `server_name` (ECH outer name).
    pub sni: [c_char; 256],
    /// Offered ALPN protocols, comma-separated.
    pub alpn: [c_char; 128],
    /// JA4 fingerprint of the ClientHello.
    pub ja4: [c_char; 40],
    /// App id from the catalog (ids are at most 63 bytes, so never cut).
    pub app_id: [c_char; 64],
    /// App display name.
    pub app_name: [c_char; 96],
    /// App category (Defender for Cloud Apps names).
    pub app_category: [c_char; 48],
    /// Registrable domain (eTLD+1) of `server_name`.
    pub registrable_domain: [c_char; 256],
    /// Process image path.
    pub process_path: [c_char; 1024],
    /// User account name.
    pub user_name: [c_char; 256],
    /// User id (SID or uid).
    pub user_id: [c_char; 192],
    /// Reserved (zero).
    pub reserved: [u8; 4],
    /// The app instance (tenant, workspace, org, bucket, account, site) `server_name` carries,
    /// empty when none. Appended after `reserved`: a caller compiled against the shorter record
    /// gets the fields before it.
    pub instance: [c_char; 64],
}

versioned!(
    cloudsight_record,
    min = struct_size,
    [
        struct_size,
        truncated,
        flow_id,
        first_seen_ns,
        last_seen_ns,
        bytes_up,
        bytes_down,
        packets_up,
        packets_down,
        process_start_ns,
        pid,
        client_port,
        server_port,
        client_ip,
        server_ip,
        event,
        reason,
        protocol,
        name_source,
        verdict,
        ech,
        has_app,
        app_risk,
        has_process,
        has_user,
        community_id,
        server_name,
        sni,
        alpn,
        ja4,
        app_id,
        app_name,
        app_category,
        registrable_domain,
        process_path,
        user_name,
        user_id,
        reserved,
        instance,
    ]
);

impl Zeroed for cloudsight_record {
    fn zeroed() -> Self {
        cloudsight_record::zeroed()
    }
}

/// Copy `text` into `out` as a NUL-terminated string, cut at a UTF-8 boundary; true if cut.
pub(crate) fn put(out: &mut [c_char], text: &str) -> bool {
    let max = out.len() - 1;
    let mut len = text.len().min(max);
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    for (dst, src) in out.iter_mut().zip(&text.as_bytes()[..len]) {
        *dst = *src as c_char;
    }
    out[len] = 0;
    len < text.len()
}

impl cloudsight_record {
    /// A record with every field zero (empty strings, no address) but `struct_size`.
    pub fn zeroed() -> cloudsight_record {
        cloudsight_record {
            struct_size: std::mem::size_of::<cloudsight_record>() as u32,
            truncated: 0,
            flow_id: 0,
            first_seen_ns: 0,
            last_seen_ns: 0,
            bytes_up: 0,
            bytes_down: 0,
            packets_up: 0,
            packets_down: 0,
            process_start_ns: 0,
            pid: 0,
            client_port: 0,
            server_port: 0,
            client_ip: cloudsight_ip {
                family: 0,
                addr: [0; 16],
            },
            server_ip: cloudsight_ip {
                family: 0,
                addr: [0; 16],
            },
            event: 0,
            reason: 0,
            protocol: 0,
            name_source: 0,
            verdict: 0,
            ech: 0,
            has_app: 0,
            app_risk: 0,
            has_process: 0,
            has_user: 0,
            community_id: [0; 32],
            server_name: [0; 256],
            sni: [0; 256],
            alpn: [0; 128],
            ja4: [0; 40],
            app_id: [0; 64],
            app_name: [0; 96],
            app_category: [0; 48],
            registrable_domain: [0; 256],
            process_path: [0; 1024],
            user_name: [0; 256],
            user_id: [0; 192],
            reserved: [0; 4],
            instance: [0; 64],
        }
    }

    /// Fill every field of `self` from `r`.
    pub(crate) fn fill(&mut self, r: &ActivityRecord) {
        let mut truncated = 0;
        let mut flag = |cut: bool, bit: u32| {
            if cut {
                truncated |= bit;
            }
        };
        self.flow_id = r.flow_id;
        self.first_seen_ns = r.first_seen_ns;
        self.last_seen_ns = r.last_seen_ns;
        self.bytes_up = r.bytes_up;
        self.bytes_down = r.bytes_down;
        self.packets_up = r.packets_up;
        self.packets_down = r.packets_down;
        self.client_ip = cloudsight_ip::from_ip(r.client_ip);
        self.client_port = r.client_port;
        self.server_ip = cloudsight_ip::from_ip(r.server_ip);
        self.server_port = r.server_port;
        self.event = r.event as u8;
        self.reason = r.reason.map_or(0, |x| x as u8);
        self.protocol = r.protocol as u8;
        self.name_source = r.name_source.map_or(0, |x| x as u8);
        self.verdict = r.verdict as u8;
        self.ech = u8::from(r.ech);
        put(&mut self.community_id, &r.community_id);
        fn text(o: &Option<String>) -> &str {
            o.as_deref().unwrap_or("")
        }
        flag(
            put(&mut self.server_name, text(&r.server_name)),
            CLOUDSIGHT_TRUNCATED_SERVER_NAME,
        );
        flag(put(&mut self.sni, text(&r.sni)), CLOUDSIGHT_TRUNCATED_SNI);
        flag(
            put(&mut self.alpn, &r.alpn.join(",")),
            CLOUDSIGHT_TRUNCATED_ALPN,
        );
        put(&mut self.ja4, text(&r.ja4));
        flag(
            put(&mut self.registrable_domain, text(&r.registrable_domain)),
            CLOUDSIGHT_TRUNCATED_REGISTRABLE_DOMAIN,
        );
        self.has_app = u8::from(r.app.is_some());
        let app = r.app.as_ref();
        self.app_risk = app.map_or(0, |a| a.risk);
        let cut = put(&mut self.app_id, app.map_or("", |a| &a.id))
            | put(&mut self.app_name, app.map_or("", |a| &a.name))
            | put(&mut self.app_category, app.map_or("", |a| &a.category));
        flag(cut, CLOUDSIGHT_TRUNCATED_APP);
        self.has_process = u8::from(r.process.is_some());
        let process = r.process.as_ref();
        self.pid = process.map_or(0, |p| p.pid);
        self.process_start_ns = process.map_or(0, |p| p.start_time_ns);
        flag(
            put(
                &mut self.process_path,
                process.and_then(|p| p.path.as_deref()).unwrap_or(""),
            ),
            CLOUDSIGHT_TRUNCATED_PROCESS_PATH,
        );
        self.has_user = u8::from(r.user.is_some());
        let user = r.user.as_ref();
        let cut = put(
            &mut self.user_name,
            user.and_then(|u| u.name.as_deref()).unwrap_or(""),
        ) | put(
            &mut self.user_id,
            user.and_then(|u| u.id.as_deref()).unwrap_or(""),
        );
        flag(cut, CLOUDSIGHT_TRUNCATED_USER);
        flag(
            put(&mut self.instance, text(&r.instance)),
            CLOUDSIGHT_TRUNCATED_INSTANCE,
        );
        self.truncated = truncated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::full_record;

    fn text(field: &[c_char]) -> String {
        let bytes: Vec<u8> = field
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8(bytes).unwrap()
    }

    /// Every field of the record (its serde form, the one definition) has a place in the C struct
    /// and is filled: a field added to `ActivityRecord` fails here until the C form carries it.
    #[test]
    fn every_record_field_has_a_place_in_the_c_struct() {
        let r = full_record();
        let mut c = cloudsight_record::zeroed();
        c.fill(&r);
        let serde_json::Value::Object(fields) = serde_json::to_value(&r).unwrap() else {
            unreachable!()
        };
        for name in fields.keys() {
            let filled = match name.as_str() {
                // The C ABI version fixes the record schema (one struct layout per schema).
                "schema" => r.schema == crate::record::SCHEMA_VERSION,
                "flow_id" => c.flow_id == r.flow_id,
                "community_id" => text(&c.community_id) == r.community_id,
                "event" => c.event == r.event as u8,
                "reason" => c.reason == Reason::Fin as u8,
                "first_seen_ns" => c.first_seen_ns == r.first_seen_ns,
                "last_seen_ns" => c.last_seen_ns == r.last_seen_ns,
                "protocol" => c.protocol == 6,
                "client_ip" => c.client_ip.family == 4 && c.client_ip.addr[..4] == [10, 0, 0, 1],
                "client_port" => c.client_port == r.client_port,
                "server_ip" => c.server_ip.family == 6,
                "server_port" => c.server_port == r.server_port,
                "bytes_up" => c.bytes_up == r.bytes_up,
                "bytes_down" => c.bytes_down == r.bytes_down,
                "packets_up" => c.packets_up == r.packets_up,
                "packets_down" => c.packets_down == r.packets_down,
                "server_name" => Some(text(&c.server_name)) == r.server_name,
                "name_source" => c.name_source == NameSource::Dns as u8,
                "sni" => Some(text(&c.sni)) == r.sni,
                "alpn" => text(&c.alpn) == "h2,http/1.1",
                "ech" => c.ech == 1,
                "ja4" => Some(text(&c.ja4)) == r.ja4,
                "app" => {
                    c.has_app == 1
                        && text(&c.app_id) == "slack"
                        && text(&c.app_name) == "Slack"
                        && text(&c.app_category) == "collaboration"
                        && c.app_risk == 9
                }
                "registrable_domain" => Some(text(&c.registrable_domain)) == r.registrable_domain,
                "verdict" => c.verdict == Verdict::Block as u8,
                "process" => {
                    c.has_process == 1
                        && c.pid == 42
                        && c.process_start_ns == 5
                        && text(&c.process_path) == "/usr/bin/slack"
                }
                "user" => {
                    c.has_user == 1
                        && text(&c.user_name) == "alice"
                        && text(&c.user_id) == "S-1-5-21"
                }
                "instance" => Some(text(&c.instance)) == r.instance,
                other => panic!(
                    "record field `{other}` has no place in cloudsight_record: add it to the C \
                     struct, to fill(), and here"
                ),
            };
            assert!(
                filled,
                "record field `{name}` is not carried into cloudsight_record"
            );
        }
        assert_eq!(c.truncated, 0);
    }

    #[test]
    fn put_cuts_at_a_character_boundary_and_terminates() {
        let mut buf = [1 as c_char; 4];
        assert!(put(&mut buf, "aé€"));
        // "a" + "é" (2 bytes) = 3 bytes fit before the NUL; "€" does not.
        assert_eq!(buf[3], 0);
        assert_eq!(buf[0] as u8, b'a');
        let mut small = [1 as c_char; 4];
        assert!(!put(&mut small, "abc"));
        assert_eq!(small, [b'a' as c_char, b'b' as c_char, b'c' as c_char, 0]);
    }
}
