//! `cloudsight-replicate`: build a large benchmark capture from small ones (benches/compare_ndpi.sh uses it).
//!
//! ```text
//! cargo run --release -p cloudsight-cli --bin cloudsight-replicate -- [--copies N] [--initials-only] OUT.pcap CAPTURE...
//! ```
//! Reads the captures (pcap or pcapng, any link type cloudsight decodes) and writes `N` copies of
//! all their frames, copy after copy, as one classic pcap file (microsecond timestamps,
//! LINKTYPE_ETHERNET). Each copy is shifted in time past the previous one and has its IP addresses
//! rewritten by a per-copy bijection (a 16-bit offset added inside every address, the same for source
//! and destination), so every copy makes new flows while each flow stays consistent. The IPv4
//! header checksum is recomputed; TCP/UDP checksums are left as they are (neither cloudsight nor
//! nDPI checks them).
//!
//! Non-Ethernet link layers (Linux SLL/SLL2, raw IP, BSD loopback) are rewritten to an Ethernet
//! header carrying the same EtherType, so captures of different link types go into one file that
//! any reader takes.
//!
//! `--initials-only` keeps only client QUIC Initial datagrams (UDP to port 443 whose payload is a
//! long-header Initial): replicated, that is a flood of distinct QUIC connections, each costing a
//! key derivation and a decryption.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use cloudsight_cli::capture;

const USAGE: &str = "usage: replicate [--copies N] [--initials-only] OUT.pcap CAPTURE...";

/// One frame reduced to Ethernet framing, with where its IP addresses are.
struct Frame {
    ts_ns: u64,
    data: Vec<u8>,
    /// (offset of the IP header, IP version) when the frame is IP.
    ip: Option<(usize, u8)>,
}

/// Rewrite the link layer to Ethernet; `None` for frames of link types that are not decoded.
fn to_ethernet(linktype: u32, data: &[u8]) -> Option<Vec<u8>> {
    let (ethertype, ip) = match linktype {
        1 => return Some(data.to_vec()),
        113 if data.len() >= 16 => ([data[14], data[15]], &data[16..]),
        276 if data.len() >= 20 => ([data[0], data[1]], &data[20..]),
        0 | 108 if data.len() >= 4 => (ip_ethertype(&data[4..])?, &data[4..]),
        101 | 228 | 229 => (ip_ethertype(data)?, data),
        _ => return None,
    };
    let mut out = Vec::with_capacity(14 + ip.len());
    out.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
    out.extend_from_slice(&ethertype);
    out.extend_from_slice(ip);
    Some(out)
}

fn ip_ethertype(ip: &[u8]) -> Option<[u8; 2]> {
    match ip.first()? >> 4 {
        4 => Some([0x08, 0x00]),
        6 => Some([0x86, 0xdd]),
        _ => None,
    }
}

/// Offset and version of the IP header of an Ethernet frame (VLAN/QinQ tags skipped).
fn ip_header(frame: &[u8]) -> Option<(usize, u8)> {
    let mut at = 14;
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
        ethertype = u16::from_be_bytes([*frame.get(at + 2)?, *frame.get(at + 3)?]);
        at += 4;
    }
    let version = frame.get(at)? >> 4;
    match (ethertype, version) {
        (0x0800, 4) if frame.len() >= at + 20 => Some((at, 4)),
        (0x86dd, 6) if frame.len() >= at + 40 => Some((at, 6)),
        _ => None,
    }
}

/// Is this a client QUIC Initial: UDP to port 443 with a long-header Initial payload?
fn is_client_initial(frame: &[u8], ip: Option<(usize, u8)>) -> bool {
    let Some((at, version)) = ip else {
        return false;
    };
    let (proto, udp) = match version {
        4 => {
            let ihl = usize::from(frame[at] & 0x0f) * 4;
            (frame[at + 9], at + ihl)
        }
        _ => (frame[at + 6], at + 40),
    };
    if proto != 17 || frame.len() < udp + 8 {
        return false;
    }
    let dst_port = u16::from_be_bytes([frame[udp + 2], frame[udp + 3]]);
    dst_port == 443
        && cloudsight::internal::inspect::quic::QuicInitial::looks_like_initial(&frame[udp + 8..])
}

/// Add `k` to a 16-bit field of an address (wrapping): a bijection per copy.
fn shift_word(data: &mut [u8], at: usize, k: u16) {
    let v = u16::from_be_bytes([data[at], data[at + 1]]).wrapping_add(k);
    data[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn rewrite(frame: &mut [u8], ip: Option<(usize, u8)>, copy: u16) {
    let Some((at, version)) = ip else { return };
    match version {
        4 => {
            // Octets 1-2 of each address: 10.0.0.5 stays in 10/8, and so on.
            shift_word(frame, at + 12 + 1, copy);
            shift_word(frame, at + 16 + 1, copy);
            let ihl = usize::from(frame[at] & 0x0f) * 4;
            if ihl >= 20 && frame.len() >= at + ihl {
                frame[at + 10] = 0;
                frame[at + 11] = 0;
                let mut sum = 0u32;
                for w in frame[at..at + ihl].chunks(2) {
                    sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
                }
                while sum > 0xffff {
                    sum = (sum & 0xffff) + (sum >> 16);
                }
                frame[at + 10..at + 12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            }
        }
        _ => {
            // Bytes 10-11 of each address (inside the interface identifier).
            shift_word(frame, at + 8 + 10, copy);
            shift_word(frame, at + 24 + 10, copy);
        }
    }
}

fn main() -> ExitCode {
    let mut copies: u32 = 1;
    let mut initials_only = false;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--copies" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n >= 1 => copies = n,
                _ => {
                    eprintln!("replicate: --copies takes a positive number\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--initials-only" => initials_only = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') => {
                eprintln!("replicate: unknown option {s}\n{USAGE}");
                return ExitCode::from(2);
            }
            p => paths.push(PathBuf::from(p)),
        }
    }
    if paths.len() < 2 {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let out_path = paths.remove(0);

    let mut frames = Vec::new();
    for path in &paths {
        let read = match capture::read(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("replicate: {e}");
                return ExitCode::from(1);
            }
        };
        // Each input starts where the previous one ended, so inputs do not interleave in time.
        let base = frames.last().map_or(0, |f: &Frame| f.ts_ns + 1_000_000_000);
        let first = read.iter().map(|f| f.ts_ns).min().unwrap_or(0);
        for f in read {
            let Some(data) = to_ethernet(f.linktype, &f.data) else {
                continue;
            };
            let ip = ip_header(&data);
            if initials_only && !is_client_initial(&data, ip) {
                continue;
            }
            let ts_ns = if frames.is_empty() && base == 0 {
                f.ts_ns
            } else {
                base.max(first) + (f.ts_ns - first)
            };
            frames.push(Frame { ts_ns, data, ip });
        }
    }
    if frames.is_empty() {
        eprintln!("replicate: no frames to write");
        return ExitCode::from(1);
    }
    let first = frames.iter().map(|f| f.ts_ns).min().unwrap_or(0);
    let last = frames.iter().map(|f| f.ts_ns).max().unwrap_or(0);
    // A copy starts 1 s after the previous one ended (well under any idle timeout, so flows of
    // earlier copies stay in the table unless evicted: the table fills as on a busy endpoint).
    let span = last - first + 1_000_000_000;

    let file = match std::fs::File::create(&out_path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("replicate: {}: {e}", out_path.display());
            return ExitCode::from(1);
        }
    };
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&65535u32.to_le_bytes());
    header.extend_from_slice(&1u32.to_le_bytes());
    let mut written = 0u64;
    let mut buf = Vec::new();
    let result = (|| -> std::io::Result<()> {
        out.write_all(&header)?;
        for copy in 0..copies {
            let shift = u64::from(copy) * span;
            for f in &frames {
                buf.clear();
                buf.extend_from_slice(&f.data);
                // Copy 0 keeps the original addresses; copy k adds k (mod 2^16).
                rewrite(&mut buf, f.ip, copy as u16);
                let ts = f.ts_ns + shift;
                let len = buf.len().min(65535) as u32;
                out.write_all(&((ts / 1_000_000_000) as u32).to_le_bytes())?;
                out.write_all(&((ts % 1_000_000_000 / 1000) as u32).to_le_bytes())?;
                out.write_all(&len.to_le_bytes())?;
                out.write_all(&(buf.len() as u32).to_le_bytes())?;
                out.write_all(&buf[..len as usize])?;
                written += 1;
            }
        }
        out.flush()
    })();
    if let Err(e) = result {
        eprintln!("replicate: {}: {e}", out_path.display());
        return ExitCode::from(1);
    }
    if copies > 65536 {
        eprintln!("replicate: warning: more than 65536 copies repeat addresses");
    }
    eprintln!(
        "replicate: {} frames x {copies} copies = {written} frames -> {}",
        frames.len(),
        out_path.display()
    );
    ExitCode::SUCCESS
}
