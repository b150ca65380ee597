//! IP TCP and UDP frames: [`ipv4`] and [`ip`] write the headers by hand (fast enough for floods, fields
//! patchable in place); [`Tcp`] goes through etherparse (raw IP or Ethernet framing).

use std::net::IpAddr;

use cloudsight::LinkType;
use etherparse::{IpHeaders, PacketBuilder, PacketBuilderStep, TcpHeader};

/// Every link type the engine decodes (for floods and fuzzing: garbage under each framing).
pub const LINK_TYPES: [LinkType; 8] = [
    LinkType::Null,
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Loop,
    LinkType::LinuxSll,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll2,
];

/// TCP flags (the byte at offset 13 of the TCP header).
pub const SYN: u8 = 0x02;
/// ACK flag.
pub const ACK: u8 = 0x10;
/// SYN + ACK.
pub const SYN_ACK: u8 = 0x12;
/// PSH + ACK.
pub const PSH_ACK: u8 = 0x18;
/// FIN + ACK.
pub const FIN_ACK: u8 = 0x11;

/// A raw IPv4 TCP (`tcp` = (flags, sequence number)) or UDP (`tcp` None) packet; checksums are
/// zero (the engine does not verify them). Offsets: source address 12, destination 16, ports 20
/// and 22, TCP sequence number 24, payload 40 (TCP) or 28 (UDP).
pub fn ipv4(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    tcp: Option<(u8, u32)>,
    payload: &[u8],
) -> Vec<u8> {
    let (flags, seq) = tcp.unwrap_or_default();
    ip(
        tcp.is_some(),
        (src.into(), sport),
        (dst.into(), dport),
        flags,
        seq,
        payload,
    )
}

/// A raw IP frame, IPv4 or IPv6 (`src` and `dst` of the same family), TCP (`flags`, `seq`,
/// acknowledgment number 1, window 65535) or UDP; checksums are zero (the engine does not verify
/// them).
pub fn ip(
    tcp: bool,
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    flags: u8,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut l4 = Vec::with_capacity(20 + payload.len());
    l4.extend_from_slice(&src.1.to_be_bytes());
    l4.extend_from_slice(&dst.1.to_be_bytes());
    if tcp {
        l4.extend_from_slice(&seq.to_be_bytes());
        l4.extend_from_slice(&[0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
    }
    l4.extend_from_slice(payload);
    let proto = if tcp { 6 } else { 17 };
    let mut out = Vec::with_capacity(40 + l4.len());
    match (src.0, dst.0) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
            out.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            out.extend_from_slice(&[proto, 64]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        _ => unreachable!("same family only"),
    }
    out.extend_from_slice(&l4);
    out
}

/// One direction of an IPv4 TCP connection, written through etherparse: TTL 64, window 1000,
/// sequence number 1000 unless set, acknowledgment number 1 when [`ACK`] is among the flags.
#[derive(Debug, Clone, Copy)]
pub struct Tcp {
    /// Source address and port.
    pub src: ([u8; 4], u16),
    /// Destination address and port.
    pub dst: ([u8; 4], u16),
    /// Sequence number.
    pub seq: u32,
    /// Ethernet framing (MAC 02:02:02:02:02:02 to 04:04:04:04:04:04; LinkType::Ethernet), else
    /// raw IP (LinkType::Raw).
    pub ethernet: bool,
}

impl Tcp {
    /// Raw IP, sequence number 1000.
    pub fn new(src: ([u8; 4], u16), dst: ([u8; 4], u16)) -> Tcp {
        Tcp {
            src,
            dst,
            seq: 1000,
            ethernet: false,
        }
    }

    /// With Ethernet framing.
    pub fn ethernet(self) -> Tcp {
        Tcp {
            ethernet: true,
            ..self
        }
    }

    /// With sequence number `seq`.
    pub fn seq(self, seq: u32) -> Tcp {
        Tcp { seq, ..self }
    }

    /// This direction (`up`: source to destination) or the other one.
    pub fn up(self, up: bool) -> Tcp {
        if up {
            self
        } else {
            Tcp {
                src: self.dst,
                dst: self.src,
                ..self
            }
        }
    }

    /// Write the frame with `flags` ([`SYN`] and [`ACK`] are honoured) and `payload` into `out`
    /// (cleared first).
    pub fn write(&self, out: &mut Vec<u8>, flags: u8, payload: &[u8]) {
        let ip: PacketBuilderStep<IpHeaders> = if self.ethernet {
            PacketBuilder::ethernet2([2; 6], [4; 6]).ipv4(self.src.0, self.dst.0, 64)
        } else {
            PacketBuilder::ipv4(self.src.0, self.dst.0, 64)
        };
        let mut b: PacketBuilderStep<TcpHeader> = ip.tcp(self.src.1, self.dst.1, self.seq, 1000);
        if flags & SYN != 0 {
            b = b.syn();
        }
        if flags & ACK != 0 {
            b = b.ack(1);
        }
        out.clear();
        b.write(out, payload).expect("valid packet");
    }

    /// The frame with `flags` and `payload`.
    pub fn frame(&self, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out, flags, payload);
        out
    }
}

/// Split a raw IP datagram (IPv4 with any header length, or IPv6 without extension headers) into
/// raw IP fragments carrying `size` payload bytes each (rounded down to a multiple of 8, at least
/// 8; the last one carries the rest), in order, each made by [`fragment_at`].
pub fn fragment(datagram: &[u8], size: usize, id: u32) -> Vec<Vec<u8>> {
    let size = (size / 8).max(1) * 8;
    let payload_len = datagram.len() - ip_header_len(datagram);
    (0..payload_len.div_ceil(size))
        .map(|i| fragment_at(datagram, i * size, ((i + 1) * size).min(payload_len), id))
        .collect()
}

fn ip_header_len(datagram: &[u8]) -> usize {
    if datagram[0] >> 4 == 6 {
        40
    } else {
        usize::from(datagram[0] & 0x0f) * 4
    }
}

/// One raw IP fragment of `datagram` (as for [`fragment`]) carrying its payload bytes
/// `from..to` (`from` a multiple of 8), More Fragments set unless `to` is the payload's end. IPv4
/// fragments copy the header (options included) with the identification `id`, the offset and
/// More Fragments set and Don't Fragment cleared; IPv6 fragments get a Fragment header (RFC 8200
/// §4.5) with the identification `id` after the fixed header. Checksums are left zero (the engine
/// does not verify them).
pub fn fragment_at(datagram: &[u8], from: usize, to: usize, id: u32) -> Vec<u8> {
    let header_len = ip_header_len(datagram);
    let (header, payload) = datagram.split_at(header_len);
    let chunk = &payload[from..to];
    let more = to < payload.len();
    let mut f = header.to_vec();
    if header_len == 40 {
        let next = header[6];
        f[6] = 44;
        f[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[next, 0]);
        f.extend_from_slice(&((from as u16 & !7) | u16::from(more)).to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
    } else {
        f[2..4].copy_from_slice(&((header_len + chunk.len()) as u16).to_be_bytes());
        f[4..6].copy_from_slice(&(id as u16).to_be_bytes());
        let flags = (from / 8) as u16 | if more { 0x2000 } else { 0 };
        f[6..8].copy_from_slice(&flags.to_be_bytes());
        f[10..12].copy_from_slice(&[0, 0]);
    }
    f.extend_from_slice(chunk);
    f
}
