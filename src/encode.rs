//! Encodings of records for the wire: JSON lines, and bincode batches.
//!
//! All bincode use lives in this module: bincode 2.0.1 (pinned; upstream declared it finished, see
//! RUSTSEC-2025-0141) with `config::standard()`. A batch is a header (magic `CSRB`, schema version,
//! the device once, record count) followed by the records' fields in schema order, device omitted.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::context::{Device, Process, User};
use crate::engine::Engine;
use crate::record::{
    ActivityRecord, AppInfo, Event, NameSource, Protocol, Reason, Verdict, SCHEMA_VERSION,
};

/// Magic bytes that open every bincode batch.
pub const BATCH_MAGIC: [u8; 4] = *b"CSRB";

/// An encoding of drained records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Encoding {
    /// One JSON object per record, each followed by `\n`.
    JsonLines = 1,
    /// One bincode batch: header, then records.
    BincodeBatch = 2,
}

/// Errors of encoding into a caller's buffer and of decoding a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// Not even one record fits; `needed` bytes would hold the next one. Nothing was taken.
    BufferTooSmall {
        /// Bytes needed for the next record (with the batch header, for bincode).
        needed: usize,
    },
    /// A batch did not decode; the text says where.
    Decode(String),
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::BufferTooSmall { needed } => {
                write!(f, "buffer too small: the next record needs {needed} bytes")
            }
            CodecError::Decode(what) => write!(f, "batch does not decode: {what}"),
        }
    }
}

impl std::error::Error for CodecError {}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

#[derive(Serialize, Deserialize)]
struct BatchHeader<'a> {
    magic: [u8; 4],
    schema: u16,
    #[serde(borrow)]
    device_id: Cow<'a, str>,
    #[serde(borrow)]
    device_name: Cow<'a, str>,
    count: u32,
}

/// A record as a batch carries it: the fields of [`ActivityRecord`] in order, without the device.
#[derive(Serialize, Deserialize)]
struct WireRecord<'a> {
    schema: u16,
    flow_id: u64,
    #[serde(borrow)]
    community_id: Cow<'a, str>,
    event: Event,
    reason: Option<Reason>,
    first_seen_ns: u64,
    last_seen_ns: u64,
    protocol: Protocol,
    client_ip: IpAddr,
    client_port: u16,
    server_ip: IpAddr,
    server_port: u16,
    bytes_up: u64,
    bytes_down: u64,
    packets_up: u64,
    packets_down: u64,
    #[serde(borrow)]
    server_name: Option<Cow<'a, str>>,
    name_source: Option<NameSource>,
    #[serde(borrow)]
    sni: Option<Cow<'a, str>>,
    alpn: Cow<'a, [String]>,
    ech: bool,
    #[serde(borrow)]
    ja4: Option<Cow<'a, str>>,
    app: Option<Cow<'a, AppInfo>>,
    #[serde(borrow)]
    registrable_domain: Option<Cow<'a, str>>,
    verdict: Verdict,
    process: Option<Cow<'a, Process>>,
    user: Option<Cow<'a, User>>,
}

impl<'a> WireRecord<'a> {
    fn from_record(r: &'a ActivityRecord) -> WireRecord<'a> {
        WireRecord {
            schema: r.schema,
            flow_id: r.flow_id,
            community_id: Cow::Borrowed(&r.community_id),
            event: r.event,
            reason: r.reason,
            first_seen_ns: r.first_seen_ns,
            last_seen_ns: r.last_seen_ns,
            protocol: r.protocol,
            client_ip: r.client_ip,
            client_port: r.client_port,
            server_ip: r.server_ip,
            server_port: r.server_port,
            bytes_up: r.bytes_up,
            bytes_down: r.bytes_down,
            packets_up: r.packets_up,
            packets_down: r.packets_down,
            server_name: r.server_name.as_deref().map(Cow::Borrowed),
            name_source: r.name_source,
            sni: r.sni.as_deref().map(Cow::Borrowed),
            alpn: Cow::Borrowed(&r.alpn),
            ech: r.ech,
            ja4: r.ja4.as_deref().map(Cow::Borrowed),
            app: r.app.as_deref().map(Cow::Borrowed),
            registrable_domain: r.registrable_domain.as_deref().map(Cow::Borrowed),
            verdict: r.verdict,
            process: r.process.as_ref().map(Cow::Borrowed),
            user: r.user.as_ref().map(Cow::Borrowed),
        }
    }

    fn into_record(self, device: &Arc<Device>) -> ActivityRecord {
        ActivityRecord {
            schema: self.schema,
            flow_id: self.flow_id,
            community_id: self.community_id.into_owned(),
            event: self.event,
            reason: self.reason,
            first_seen_ns: self.first_seen_ns,
            last_seen_ns: self.last_seen_ns,
            protocol: self.protocol,
            client_ip: self.client_ip,
            client_port: self.client_port,
            server_ip: self.server_ip,
            server_port: self.server_port,
            bytes_up: self.bytes_up,
            bytes_down: self.bytes_down,
            packets_up: self.packets_up,
            packets_down: self.packets_down,
            server_name: self.server_name.map(Cow::into_owned),
            name_source: self.name_source,
            sni: self.sni.map(Cow::into_owned),
            alpn: self.alpn.into_owned(),
            ech: self.ech,
            ja4: self.ja4.map(Cow::into_owned),
            app: self.app.map(|a| Arc::new(a.into_owned())),
            registrable_domain: self.registrable_domain.map(Cow::into_owned),
            verdict: self.verdict,
            device: device.clone(),
            process: self.process.map(Cow::into_owned),
            user: self.user.map(Cow::into_owned),
        }
    }
}

/// Append one record as a JSON line (`\n`-terminated).
pub fn write_json_line(record: &ActivityRecord, out: &mut Vec<u8>) {
    // Serializing plain data into a Vec cannot fail: no I/O, no map with non-string keys.
    serde_json::to_writer(&mut *out, record).expect("records always serialize to JSON");
    out.push(b'\n');
}

fn write_wire_record(record: &ActivityRecord, out: &mut Vec<u8>) {
    bincode::serde::encode_into_std_write(WireRecord::from_record(record), out, config())
        .expect("records always encode with bincode");
}

fn write_batch_header(device: &Device, count: u32, out: &mut Vec<u8>) {
    let header = BatchHeader {
        magic: BATCH_MAGIC,
        schema: SCHEMA_VERSION,
        device_id: Cow::Borrowed(&device.id),
        device_name: Cow::Borrowed(&device.name),
        count,
    };
    bincode::serde::encode_into_std_write(header, out, config())
        .expect("batch headers always encode with bincode");
}

fn batch_header_len(device: &Device, count: u32) -> usize {
    let mut v = Vec::with_capacity(32 + device.id.len() + device.name.len());
    write_batch_header(device, count, &mut v);
    v.len()
}

/// Encode records as one bincode batch.
pub fn encode_batch(device: &Device, records: &[ActivityRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    write_batch_header(device, records.len() as u32, &mut out);
    for r in records {
        write_wire_record(r, &mut out);
    }
    out
}

/// Decode one bincode batch: the device and the records, each carrying the device again.
pub fn decode_batch(bytes: &[u8]) -> Result<(Device, Vec<ActivityRecord>), CodecError> {
    let err =
        |what: &str, e: bincode::error::DecodeError| CodecError::Decode(format!("{what}: {e}"));
    let (header, mut at): (BatchHeader<'_>, usize) =
        bincode::serde::borrow_decode_from_slice(bytes, config()).map_err(|e| err("header", e))?;
    if header.magic != BATCH_MAGIC {
        return Err(CodecError::Decode("bad magic".into()));
    }
    if header.schema != SCHEMA_VERSION {
        return Err(CodecError::Decode(format!(
            "schema version {} (this library reads {SCHEMA_VERSION})",
            header.schema
        )));
    }
    let device = Arc::new(Device {
        id: header.device_id.into_owned(),
        name: header.device_name.into_owned(),
    });
    // Never trust a count for an allocation: each record takes at least one byte per field.
    let mut records = Vec::with_capacity((header.count as usize).min(bytes.len() / 16));
    for i in 0..header.count {
        let (wire, used): (WireRecord<'_>, usize) =
            bincode::serde::borrow_decode_from_slice(&bytes[at..], config())
                .map_err(|e| err(&format!("record {i}"), e))?;
        at += used;
        records.push(wire.into_record(&device));
    }
    if at != bytes.len() {
        return Err(CodecError::Decode(format!(
            "{} bytes after the last record",
            bytes.len() - at
        )));
    }
    Ok((Device::clone(&device), records))
}

/// Drain whole records from `engine` into `out` in `encoding`; returns the bytes written (0 when
/// no record is waiting). When not even one record fits, nothing is taken and the error says how
/// many bytes the next one needs.
pub fn drain_encoded(
    engine: &Engine,
    encoding: Encoding,
    out: &mut [u8],
) -> Result<usize, CodecError> {
    let capacity = out.len();
    let mut body = Vec::with_capacity(capacity.min(1 << 20));
    let mut scratch = Vec::with_capacity(512);
    let mut count: u32 = 0;
    let mut needed = None;
    let device = &engine.config().device;
    engine.drain_with(|record| {
        scratch.clear();
        let header = match encoding {
            Encoding::JsonLines => {
                write_json_line(record, &mut scratch);
                0
            }
            Encoding::BincodeBatch => {
                write_wire_record(record, &mut scratch);
                batch_header_len(device, count + 1)
            }
        };
        let total = header + body.len() + scratch.len();
        if total > capacity || count == u32::MAX {
            if count == 0 {
                needed = Some(total);
            }
            return false;
        }
        body.extend_from_slice(&scratch);
        count += 1;
        true
    });
    if let Some(needed) = needed {
        return Err(CodecError::BufferTooSmall { needed });
    }
    if count == 0 {
        return Ok(0);
    }
    let mut written = 0;
    if encoding == Encoding::BincodeBatch {
        let mut header = Vec::with_capacity(64);
        write_batch_header(device, count, &mut header);
        out[..header.len()].copy_from_slice(&header);
        written = header.len();
    }
    out[written..written + body.len()].copy_from_slice(&body);
    Ok(written + body.len())
}
