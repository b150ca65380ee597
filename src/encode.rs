//! Encodings of records for the wire: JSON lines, bincode batches, and OCSF event lines
//! ([`crate::ocsf`]). A pure stage: records and
//! the device in, bytes out (and back); draining the engine into a caller's buffer is the
//! engine's (`Engine::drain_encoded`), which uses [`BufferEncoder`].
//!
//! All bincode use lives in this module: bincode 2.0.1 (pinned; upstream declared it finished, see
//! RUSTSEC-2025-0141) with `config::standard()`. A batch is a header (magic `CSRB`, schema version,
//! the device once, record count) followed by each [`ActivityRecord`] in its serde form: the
//! record's own derive is the wire form, so no field list is repeated here.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::context::Device;
use crate::record::{ActivityRecord, JsonRecord, SCHEMA_VERSION};
use crate::usage::{JsonUsageRow, UsageRow};

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
    /// One OCSF 1.3.0 Network Activity event per record, each followed by `\n`
    /// ([`crate::ocsf`]).
    Ocsf = 3,
}

/// Encoding into a caller's buffer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// Not even one record fits; `needed` bytes would hold the next one. Nothing was taken.
    BufferTooSmall {
        /// Bytes needed for the next record (with the batch header, for bincode).
        needed: usize,
    },
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed } => {
                write!(f, "buffer too small: the next record needs {needed} bytes")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// A batch did not decode; the text says where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "batch does not decode: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

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

/// Append one record as a JSON line (`\n`-terminated): its fields, then the device.
pub fn write_json_line(device: &Device, record: &ActivityRecord, out: &mut Vec<u8>) {
    // Serializing plain data into a Vec cannot fail: no I/O, no map with non-string keys.
    serde_json::to_writer(&mut *out, &JsonRecord { record, device })
        .expect("records always serialize to JSON");
    out.push(b'\n');
}

fn write_wire_record(record: &ActivityRecord, out: &mut Vec<u8>) {
    bincode::serde::encode_into_std_write(record, out, config())
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

/// Bytes of bincode's standard variable-length encoding of a `u32` (a single byte below 251,
/// else a marker byte and the value as u16 or u32).
fn varint_len(n: u32) -> usize {
    match n {
        0..=250 => 1,
        251..=0xffff => 3,
        _ => 5,
    }
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

/// Decode one bincode batch: the device, and the records.
pub fn decode_batch(bytes: &[u8]) -> Result<(Device, Vec<ActivityRecord>), DecodeError> {
    let err = |what: &str, e: bincode::error::DecodeError| DecodeError(format!("{what}: {e}"));
    let (header, mut at): (BatchHeader<'_>, usize) =
        bincode::serde::borrow_decode_from_slice(bytes, config()).map_err(|e| err("header", e))?;
    if header.magic != BATCH_MAGIC {
        return Err(DecodeError("bad magic".into()));
    }
    if header.schema != SCHEMA_VERSION {
        return Err(DecodeError(format!(
            "schema version {} (this library reads {SCHEMA_VERSION})",
            header.schema
        )));
    }
    let device = Device {
        id: header.device_id.into_owned(),
        name: header.device_name.into_owned(),
    };
    // Never trust a count for an allocation: each record takes at least one byte per field.
    let mut records = Vec::with_capacity((header.count as usize).min(bytes.len() / 16));
    for i in 0..header.count {
        let (record, used): (ActivityRecord, usize) =
            bincode::serde::decode_from_slice(&bytes[at..], config())
                .map_err(|e| err(&format!("record {i}"), e))?;
        at += used;
        records.push(record);
    }
    if at != bytes.len() {
        return Err(DecodeError(format!(
            "{} bytes after the last record",
            bytes.len() - at
        )));
    }
    Ok((device, records))
}

/// Magic bytes that open every bincode batch of usage rows.
pub const USAGE_BATCH_MAGIC: [u8; 4] = *b"CSUB";

/// The usage row schema version this library writes.
pub const USAGE_SCHEMA_VERSION: u16 = 1;

/// Append one usage row as a JSON line (`\n`-terminated): its fields, then the device.
pub fn write_usage_json_line(device: &Device, row: &UsageRow, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, &JsonUsageRow { row, device })
        .expect("usage rows always serialize to JSON");
    out.push(b'\n');
}

/// Encode usage rows as one bincode batch: a header like the record batch's (magic `CSUB`, usage
/// schema version, the device once, row count), then each [`UsageRow`] in its serde form.
pub fn encode_usage_batch(device: &Device, rows: &[UsageRow]) -> Vec<u8> {
    let mut out = Vec::new();
    let header = BatchHeader {
        magic: USAGE_BATCH_MAGIC,
        schema: USAGE_SCHEMA_VERSION,
        device_id: Cow::Borrowed(&device.id),
        device_name: Cow::Borrowed(&device.name),
        count: rows.len() as u32,
    };
    bincode::serde::encode_into_std_write(header, &mut out, config())
        .expect("batch headers always encode with bincode");
    for r in rows {
        bincode::serde::encode_into_std_write(r, &mut out, config())
            .expect("usage rows always encode with bincode");
    }
    out
}

/// Decode one bincode batch of usage rows: the device, and the rows.
pub fn decode_usage_batch(bytes: &[u8]) -> Result<(Device, Vec<UsageRow>), DecodeError> {
    let err = |what: &str, e: bincode::error::DecodeError| DecodeError(format!("{what}: {e}"));
    let (header, mut at): (BatchHeader<'_>, usize) =
        bincode::serde::borrow_decode_from_slice(bytes, config()).map_err(|e| err("header", e))?;
    if header.magic != USAGE_BATCH_MAGIC {
        return Err(DecodeError("bad magic".into()));
    }
    if header.schema != USAGE_SCHEMA_VERSION {
        return Err(DecodeError(format!(
            "usage schema version {} (this library reads {USAGE_SCHEMA_VERSION})",
            header.schema
        )));
    }
    let device = Device {
        id: header.device_id.into_owned(),
        name: header.device_name.into_owned(),
    };
    // Never trust a count for an allocation.
    let mut rows = Vec::with_capacity((header.count as usize).min(bytes.len() / 16));
    for i in 0..header.count {
        let (row, used): (UsageRow, usize) =
            bincode::serde::decode_from_slice(&bytes[at..], config())
                .map_err(|e| err(&format!("row {i}"), e))?;
        at += used;
        rows.push(row);
    }
    if at != bytes.len() {
        return Err(DecodeError(format!(
            "{} bytes after the last row",
            bytes.len() - at
        )));
    }
    Ok((device, rows))
}

/// Fills a caller's buffer with whole encoded records, one at a time, until the next one does not
/// fit. The batch header's length is computed once (only its record count's length varies).
#[derive(Debug)]
pub struct BufferEncoder<'a> {
    encoding: Encoding,
    device: &'a Device,
    capacity: usize,
    /// Batch header bytes before the record count (bincode only).
    header_prefix: usize,
    body: Vec<u8>,
    scratch: Vec<u8>,
    count: u32,
    needed: Option<usize>,
}

impl<'a> BufferEncoder<'a> {
    /// An encoder for a buffer of `capacity` bytes.
    pub fn new(encoding: Encoding, device: &'a Device, capacity: usize) -> BufferEncoder<'a> {
        let header_prefix = match encoding {
            Encoding::JsonLines | Encoding::Ocsf => 0,
            Encoding::BincodeBatch => {
                let mut v = Vec::with_capacity(32 + device.id.len() + device.name.len());
                write_batch_header(device, 0, &mut v);
                v.len() - varint_len(0)
            }
        };
        BufferEncoder {
            encoding,
            device,
            capacity,
            header_prefix,
            body: Vec::with_capacity(capacity.min(1 << 20)),
            scratch: Vec::with_capacity(512),
            count: 0,
            needed: None,
        }
    }

    /// Add `record` if it fits; false (and nothing added) when it does not.
    pub fn push(&mut self, record: &ActivityRecord) -> bool {
        self.scratch.clear();
        let header = match self.encoding {
            Encoding::JsonLines => {
                write_json_line(self.device, record, &mut self.scratch);
                0
            }
            Encoding::Ocsf => {
                crate::ocsf::write_ocsf_line(self.device, record, &mut self.scratch);
                0
            }
            Encoding::BincodeBatch => {
                write_wire_record(record, &mut self.scratch);
                self.header_prefix + varint_len(self.count.saturating_add(1))
            }
        };
        let total = header + self.body.len() + self.scratch.len();
        if total > self.capacity || self.count == u32::MAX {
            if self.count == 0 {
                self.needed = Some(total);
            }
            return false;
        }
        self.body.extend_from_slice(&self.scratch);
        self.count += 1;
        true
    }

    /// Write what was added into `out` (at least `capacity` bytes long); returns the bytes
    /// written, 0 when nothing was added, or the size the first record needed.
    pub fn finish(self, out: &mut [u8]) -> Result<usize, EncodeError> {
        if let Some(needed) = self.needed {
            return Err(EncodeError::BufferTooSmall { needed });
        }
        if self.count == 0 {
            return Ok(0);
        }
        let mut written = 0;
        if self.encoding == Encoding::BincodeBatch {
            let mut header = Vec::with_capacity(self.header_prefix + 5);
            write_batch_header(self.device, self.count, &mut header);
            out[..header.len()].copy_from_slice(&header);
            written = header.len();
        }
        out[written..written + self.body.len()].copy_from_slice(&self.body);
        Ok(written + self.body.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_batch_round_trips_and_is_not_a_record_batch() {
        let device = Device {
            id: "d".into(),
            name: "n".into(),
        };
        let row = UsageRow {
            window_start_ns: 0,
            window_end_ns: 10,
            app: crate::record::full_record().app,
            registrable_domain: Some("slack.com".into()),
            instance: Some("acme".into()),
            user_name: Some("alice".into()),
            process_path: Some("/bin/x".into()),
            client_ip: Some("10.0.0.1".parse().unwrap()),
            first_seen_ns: 1,
            last_seen_ns: 9,
            flows: 2,
            blocked_flows: 1,
            bytes_up: 3,
            bytes_down: 4,
            packets_up: 5,
            packets_down: 6,
            app_tags: vec![],
        };
        let bytes = encode_usage_batch(&device, std::slice::from_ref(&row));
        assert_eq!(&bytes[..4], b"CSUB");
        let (d, rows) = decode_usage_batch(&bytes).unwrap();
        assert_eq!(d, device);
        assert_eq!(rows, vec![row]);
        assert!(decode_batch(&bytes).is_err());
        assert!(decode_usage_batch(&encode_batch(&device, &[])).is_err());
        let mut line = Vec::new();
        write_usage_json_line(&device, &rows[0], &mut line);
        assert!(line.ends_with(b"}\n"));
    }

    #[test]
    fn varint_len_matches_bincode() {
        for n in [0u32, 1, 250, 251, 252, 0xffff, 0x1_0000, u32::MAX] {
            let bytes = bincode::serde::encode_to_vec(n, config()).unwrap();
            assert_eq!(varint_len(n), bytes.len(), "{n}");
        }
    }

    #[test]
    fn header_length_is_prefix_plus_count() {
        let device = Device {
            id: "d".repeat(300),
            name: "n".into(),
        };
        let enc = BufferEncoder::new(Encoding::BincodeBatch, &device, 1 << 16);
        for count in [0u32, 1, 250, 251, 70_000] {
            let mut v = Vec::new();
            write_batch_header(&device, count, &mut v);
            assert_eq!(v.len(), enc.header_prefix + varint_len(count), "{count}");
        }
    }
}
