//! Reading pcap and pcapng files into memory (pcap-parser does the format work).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

/// One captured frame.
pub struct Frame {
    /// pcap LINKTYPE of the interface it was captured on.
    pub linktype: u32,
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: u64,
    /// The bytes as captured.
    pub data: Vec<u8>,
}

/// DLT_RAW is 12 (14 on OpenBSD) in some writers' files; LINKTYPE_RAW (101) is what they mean.
fn normalize_linktype(linktype: i32) -> u32 {
    // The upper 16 bits of the field can carry FCS flags (pcap LINKTYPE_ field layout).
    match linktype & 0xffff {
        12 | 14 => 101,
        other => other as u32,
    }
}

struct Interface {
    linktype: u32,
    units_per_second: u64,
    offset_s: i64,
}

/// Read every frame of a pcap or pcapng file, or say clearly why not.
pub fn read(path: &Path) -> Result<Vec<Frame>, String> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| format!("{name}: cannot open: {e}"))?;
    read_from(&name, file)
}

/// Read every frame of a pcap or pcapng capture from `input` (`name` names it in errors).
pub fn read_from(name: &str, input: impl Read + Send) -> Result<Vec<Frame>, String> {
    let mut reader = create_reader(1 << 20, input).map_err(|e| match e {
        PcapError::HeaderNotRecognized => format!("{name}: not a pcap or pcapng file"),
        PcapError::Eof | PcapError::UnexpectedEof | PcapError::Incomplete(_) => {
            format!("{name}: file is empty or truncated before its header ends")
        }
        other => format!("{name}: cannot read capture header: {other:?}"),
    })?;
    let mut frames = Vec::new();
    let mut legacy: Option<(u32, bool)> = None;
    let mut interfaces: Vec<Interface> = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy =
                            Some((normalize_linktype(h.network.0), h.is_nanosecond_precision()));
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let (linktype, nanos) = legacy.unwrap_or((1, false));
                        let frac = if nanos {
                            u64::from(b.ts_usec)
                        } else {
                            u64::from(b.ts_usec) * 1000
                        };
                        frames.push(Frame {
                            linktype,
                            ts_ns: u64::from(b.ts_sec) * 1_000_000_000 + frac,
                            data: b.data.to_vec(),
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        interfaces.push(Interface {
                            linktype: normalize_linktype(idb.linktype.0),
                            units_per_second: idb.ts_resolution().unwrap_or(1_000_000),
                            offset_s: idb.ts_offset(),
                        });
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let iface = interfaces.get(epb.if_id as usize).ok_or_else(|| {
                            format!("{name}: packet on undeclared interface {}", epb.if_id)
                        })?;
                        let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let ns = u128::from(ticks) * 1_000_000_000
                            / u128::from(iface.units_per_second.max(1));
                        let ns = (ns as i128 + i128::from(iface.offset_s) * 1_000_000_000)
                            .clamp(0, i128::from(u64::MAX)) as u64;
                        let len = (epb.caplen as usize).min(epb.data.len());
                        frames.push(Frame {
                            linktype: iface.linktype,
                            ts_ns: ns,
                            data: epb.data[..len].to_vec(),
                        });
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let iface = interfaces.first().ok_or_else(|| {
                            format!("{name}: simple packet block before any interface")
                        })?;
                        frames.push(Frame {
                            linktype: iface.linktype,
                            ts_ns: frames.last().map_or(0, |f: &Frame| f.ts_ns),
                            data: spb.data.to_vec(),
                        });
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                reader
                    .refill()
                    .map_err(|e| format!("{name}: read error: {e:?}"))?;
            }
            Err(PcapError::UnexpectedEof) => {
                return Err(format!(
                    "{name}: truncated: the file ends inside a packet record (after {} frames)",
                    frames.len()
                ))
            }
            Err(e) => {
                return Err(format!(
                    "{name}: malformed capture after {} frames: {e:?}",
                    frames.len()
                ))
            }
        }
    }
    Ok(frames)
}
