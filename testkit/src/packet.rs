//! IP TCP and UDP frames: [`ipv4`] and [`ip`] write the headers by hand (fast enough for floods, fields
//! patchable in place); [`Tcp`] goes through etherparse (raw IP or Ethernet framing).

use cloudsight::LinkType;
use etherparse::{IpHeaders, PacketBuilder, PacketBuilderStep, TcpHeader};

pub use crate::raw::{fragment, fragment_at, ip, ip_packet};

/// Every link type the engine decodes (for floods and fuzzing: garbage under each framing).
pub const LINK_TYPES: [LinkType; 20] = [
    LinkType::Null,
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Loop,
    LinkType::LinuxSll,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll2,
    LinkType::Nflog,
    LinkType::ArcnetBsd,
    LinkType::Ppp,
    LinkType::Fddi,
    LinkType::PppHdlc,
    LinkType::CiscoHdlc,
    LinkType::ArcnetLinux,
    LinkType::Ppi,
    LinkType::Ieee80211,
    LinkType::Ieee80211Prism,
    LinkType::Ieee80211Radiotap,
    LinkType::Ieee80211Avs,
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
