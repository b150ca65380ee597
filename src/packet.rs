//! Link layer and IP/TCP/UDP slicing: one captured frame in, one borrowed [`PacketView`] out.
//!
//! Parsing never allocates and never panics; every frame that cannot become a flow packet comes back
//! as a [`DropReason`] the engine counts. Link types are pcap LINKTYPE numbers (tcpdump.org
//! link-layer header types); IP and transport slicing is etherparse's lax mode, so a frame truncated
//! by the capture's snaplen still counts with the length its IP header states.
//!
//! # Encapsulations
//! Tunnels an endpoint meets are decoded down to the innermost TCP or UDP header, which is the
//! flow, as Wireshark counts it (its `tcp.stream`/`udp.stream` is the innermost transport header);
//! the tunnel itself is not a flow. etherparse 0.21 slices Ethernet with 802.1Q/QinQ tags (and
//! MACsec), IPv4/IPv6 and TCP/UDP; it has none of the following, so they are decoded here, each
//! layer handing the next one back to etherparse:
//! - PPPoE session frames (EtherType 0x8864, RFC 2516 §4) carrying PPP IPv4 (0x0021) or IPv6
//!   (0x0057), also under VLAN/QinQ tags; PPPoE discovery (0x8863) and PPP control protocols (LCP,
//!   IPCP ...) are [`DropReason::NotIp`];
//! - Linux NFLOG ([`LinkType::Nflog`]): the IP packet of the NFULA_PAYLOAD TLV;
//! - GRE (IP protocol 47; RFC 2784 with RFC 2890 key and sequence number; PPTP's enhanced GRE,
//!   version 1, RFC 2637 §4.1): IPv4/IPv6, transparent Ethernet bridging (0x6558), PPP (0x880B),
//!   MPLS, any other EtherType via etherparse;
//! - VXLAN (UDP port 4789, RFC 7348) when the header is valid (I flag set and a whole inner
//!   Ethernet header follows), else the datagram stays a plain UDP flow;
//! - VXLAN-GPE (UDP port 4790) carrying IPv4, IPv6 or Ethernet;
//! - Geneve (UDP port 6081, RFC 8926) with its options, carrying Ethernet or any EtherType, and
//!   GRE in UDP (UDP port 4754, RFC 8086), when the header is valid, else the datagram stays a
//!   plain UDP flow;
//! - IP in IP: IP protocols 4 and 41 (IPv4 or IPv6 inside) in IPv4 or IPv6 (4in4, 6in4, 4in6,
//!   6in6);
//! - MPLS label stacks (EtherTypes 0x8847/0x8848, RFC 3032) popped to the bottom of the stack,
//!   then IPv4/IPv6 by the first nibble, or an Ethernet pseudowire after a control word (first
//!   nibble 0, RFC 4385/4448);
//! - AYIYA (UDP port 5072, SixXS's "anything in anything") forward messages;
//! - IEEE 802.11 frames in Aruba's GRE (protocol types 0x8200 to 0x8370 in steps of 0x10, those
//!   Wireshark hands to its 802.11 dissector), read like the 802.11 link types below;
//! - GTP-U (UDP port 2152, GTPv1 G-PDU, 3GPP TS 29.281 §5) with its sequence number, N-PDU number
//!   and extension headers. Other GTP-U messages (echo, error indication, end marker) and
//!   datagrams that are not GTPv1 stay plain UDP flows of the tunnel endpoints, as Wireshark
//!   counts them (no inner transport header).
//!
//! VXLAN, VXLAN-GPE, Geneve and GRE in UDP are recognized by their port as the destination, or as
//! the source when it is the lower of the two ports (the tunnel end's replies; Wireshark tries
//! the lower port's dissector first, so a DNS query from port 4789 to 53 stays DNS). A UDP tunnel
//! whose inner packet has no TCP/UDP header (ICMP, IGMP, ARP ...) counts in the UDP flow of the
//! tunnel endpoints: the outer UDP header is then the innermost transport header, as Wireshark
//! counts it.
//!
//! **IEEE 802.11** ([`LinkType::Ieee80211`], and under radiotap, Prism, AVS or PPI headers): data
//! frames (3 or 4 addresses, QoS, HT Control) carry 802.2 LLC/SNAP; management, control and
//! null-data frames, protected (encrypted) frames and later fragments of an MSDU are
//! [`DropReason::NotIp`]. A QoS data frame with A-MSDU Present carries several MSDUs, each its own
//! packet, possibly of different flows: [`Parsed::Aggregate`], whose [`Msdus`] the engine takes
//! one by one (its doc says how the frame counts).
//!
//! At most [`MAX_ENCAP_DEPTH`] encapsulation layers (each MPLS label counts as one) are decoded,
//! deeper is [`DropReason::EncapTooDeep`]; a tunnel header cut short or malformed is
//! [`DropReason::EncapMalformed`]. Nothing is allocated per layer: every layer borrows the frame.
//!
//! **Counted bytes.** A tunnelled packet counts the *inner* IP packet's length (the IP header
//! directly enclosing the flow's transport header: IPv4 Total Length, IPv6 40 + Payload Length),
//! in its flow and in [`Stats::ip_bytes`](crate::Stats::ip_bytes): what Wireshark's conversation
//! statistics show for the inner conversation. Tunnel headers and outer IP headers are not counted.
//!
//! **Fragments.** Inner IP fragments are [`Parsed::Fragment`]s of the inner addresses and go
//! through the same reassembly as any other fragment. A fragmented UDP tunnel datagram (VXLAN,
//! Geneve, GTP-U, GRE in UDP, AYIYA) is reassembled, then decapsulated like a whole one, its
//! inner packet counted as the datagram's fragments; an outer fragment of GRE or IP in IP is
//! not decapsulated (out of scope) and is [`DropReason::OtherProtocol`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, LenSource, TcpSlice, TransportSlice,
    UdpSlice,
};

/// A pcap LINKTYPE this library decodes. Any other number is refused with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum LinkType {
    /// LINKTYPE_NULL (0): BSD loopback, 4-byte address family in host byte order.
    Null = 0,
    /// LINKTYPE_ETHERNET (1), with 802.1Q and 802.1ad (QinQ) tags.
    Ethernet = 1,
    /// LINKTYPE_ARCNET_BSD (7): ARCNET source and destination, then the protocol ID; RFC 1201
    /// protocols (IPv4 0xD4, IPv6 0xC4) with their split flag and sequence number (an exception
    /// packet's four more bytes when the flag is 0xFF), RFC 1051 IPv4 (0xF0) without.
    ArcnetBsd = 7,
    /// LINKTYPE_PPP (9): a PPP frame, with or without the HDLC address and control bytes.
    Ppp = 9,
    /// LINKTYPE_FDDI (10): FDDI frame control and addresses, then 802.2 LLC with SNAP.
    Fddi = 10,
    /// LINKTYPE_PPP_HDLC (50): PPP in HDLC-like framing (RFC 1662).
    PppHdlc = 50,
    /// LINKTYPE_RAW (101): raw IPv4 or IPv6, chosen by the version nibble.
    Raw = 101,
    /// LINKTYPE_C_HDLC (104): Cisco HDLC: address, control, then an EtherType.
    CiscoHdlc = 104,
    /// LINKTYPE_IEEE802_11 (105): an IEEE 802.11 MAC frame without FCS; data frames carry 802.2
    /// LLC/SNAP, or an A-MSDU whose every subframe is a packet of its own.
    Ieee80211 = 105,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, 4-byte address family in network byte order.
    Loop = 108,
    /// LINKTYPE_LINUX_SLL (113): Linux cooked capture v1, 16-byte header.
    LinuxSll = 113,
    /// LINKTYPE_IEEE802_11_PRISM (119): a 144-byte Prism monitor-mode header (or an AVS header,
    /// by its magic, as some drivers write under this link type), then an 802.11 frame.
    Ieee80211Prism = 119,
    /// LINKTYPE_IEEE802_11_RADIOTAP (127): a radiotap header (its length little-endian), then an
    /// 802.11 frame, its FCS at the end cut off when the radiotap Flags field says it is there.
    Ieee80211Radiotap = 127,
    /// LINKTYPE_ARCNET_LINUX (129): like [`LinkType::ArcnetBsd`] with a 2-byte offset field
    /// after the addresses and no exception packets.
    ArcnetLinux = 129,
    /// LINKTYPE_IEEE802_11_AVS (163): an AVS monitor-mode header (its length big-endian in bytes
    /// 4..8), then an 802.11 frame.
    Ieee80211Avs = 163,
    /// LINKTYPE_PPI (192): a Per-Packet Information header (its length and the link type of the
    /// frame it wraps, little-endian), then that frame, of any link type here but PPI.
    Ppi = 192,
    /// LINKTYPE_IPV4 (228): raw IPv4.
    Ipv4 = 228,
    /// LINKTYPE_IPV6 (229): raw IPv6.
    Ipv6 = 229,
    /// LINKTYPE_NFLOG (239): Linux netfilter NFLOG (`iptables -j NFLOG`): a 4-byte header
    /// (address family, version 0, resource id) then TLVs (length and type in the capturing
    /// host's byte order, little-endian unless only big-endian makes sense; padded to 4 bytes);
    /// the IP packet is the NFULA_PAYLOAD TLV (type 9). Families AF_INET (2) and AF_INET6 (10).
    Nflog = 239,
    /// LINKTYPE_LINUX_SLL2 (276): Linux cooked capture v2, 20-byte header.
    LinuxSll2 = 276,
}

impl LinkType {
    /// The link type for a pcap LINKTYPE number, or `None` for one this library does not decode.
    pub fn from_linktype(value: u32) -> Option<LinkType> {
        Some(match value {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            7 => LinkType::ArcnetBsd,
            9 => LinkType::Ppp,
            10 => LinkType::Fddi,
            50 => LinkType::PppHdlc,
            101 => LinkType::Raw,
            104 => LinkType::CiscoHdlc,
            105 => LinkType::Ieee80211,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            119 => LinkType::Ieee80211Prism,
            127 => LinkType::Ieee80211Radiotap,
            129 => LinkType::ArcnetLinux,
            163 => LinkType::Ieee80211Avs,
            192 => LinkType::Ppi,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            239 => LinkType::Nflog,
            276 => LinkType::LinuxSll2,
            _ => return None,
        })
    }
}

/// Transport protocol of a tracked flow (records name it `tcp` or `udp`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Transport {
    /// TCP (IP protocol 6).
    Tcp = 6,
    /// UDP (IP protocol 17).
    Udp = 17,
}

/// TCP header flag bits as on the wire (RFC 9293 §3.1).
pub mod tcp_flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
}

/// One TCP or UDP packet, borrowed from the caller's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketView<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TCP or UDP.
    pub transport: Transport,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// TCP flags ([`tcp_flags`]); 0 for UDP.
    pub tcp_flags: u8,
    /// TCP sequence number; 0 for UDP.
    pub seq: u32,
    /// TCP acknowledgment number (meaningful with the ACK flag); 0 for UDP.
    pub ack: u32,
    /// IP length as the header states it: IPv4 total length, IPv6 40 + payload length; the
    /// captured IP bytes when the header states 0 (a TSO/LSO or BIG TCP super-packet captured on
    /// the sending host); for a reassembled datagram, the sum of its fragments' IP lengths.
    pub ip_len: u32,
    /// Transport payload as captured (may be shorter than on the wire when the snaplen cut it).
    pub payload: &'a [u8],
    /// IP packets this view stands for: 1, or the number of fragments of a reassembled datagram;
    /// 0 (and `ip_len` 0) for an 802.11 A-MSDU subframe followed by one of the same flow, which
    /// counts the frame (see [`Msdus`]).
    pub packets: u32,
}

/// Identifies the IP datagram a fragment belongs to (RFC 791 §3.2, RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentId {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol of the fragmented payload.
    pub protocol: u8,
    /// IPv4 identification or IPv6 fragment identification.
    pub id: u32,
}

/// One IP fragment of a TCP or UDP datagram (first or not): its piece of the datagram's payload,
/// to be reassembled before the transport header and payload are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// The datagram this fragment belongs to.
    pub id: FragmentId,
    /// IP length of this fragment (what it counts toward its flow).
    pub ip_len: u32,
    /// Where its data starts in the datagram's payload, bytes (the fragment offset times 8).
    pub offset: u32,
    /// Length of its data as its IP header states it.
    pub len: u32,
    /// False on the last fragment.
    pub more: bool,
    /// Its data as captured (shorter than `len` when the snaplen cut it).
    pub data: &'a [u8],
}

/// What a frame turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole TCP or UDP packet.
    Packet(PacketView<'a>),
    /// An IP fragment of a TCP or UDP datagram (the first one included).
    Fragment(Fragment<'a>),
    /// An 802.11 A-MSDU: several packets in one frame, each a [`Parsed`] of its own.
    Aggregate(Msdus<'a>),
    /// An IPComp payload (RFC 3173): to be inflated ([`inflate`]) and read ([`inflated`]).
    Compressed(Compressed<'a>),
}

/// IP protocol number of IPComp, the IP Payload Compression Protocol (RFC 3173).
const IPCOMP: IpNumber = IpNumber(108);
/// Length of the IPComp header: next header, flags, Compression Parameter Index (RFC 3173 §2.2).
const IPCOMP_HEADER_LEN: usize = 4;
/// Most bytes an IPComp payload inflates to: an IP datagram's whole payload at most (RFC 3173
/// §3.2: compression happens before fragmentation, on one datagram). More is a decompression
/// bomb, not a packet.
pub const MAX_INFLATED: usize = 65_535;

/// An IPComp payload (RFC 3173): a datagram's payload compressed by its sender (IPsec, mostly
/// with AH in front of it). Its compression algorithm is negotiated per Security Association
/// (the CPI), so unseen here; DEFLATE (RFC 2394) is the one every IPsec stack implements and the
/// one tried, as Wireshark does. The flow inside counts as its own: in tunnel mode the inner IP
/// packet, in transport mode the compressed transport header with the outer addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compressed<'a> {
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// IP length of the outer packet (what a transport-mode flow counts).
    pub ip_len: u32,
    /// The IPComp header's next header: the protocol of what is compressed.
    pub next_header: u8,
    /// Encapsulation layers above the compressed payload.
    pub depth: u32,
    /// The compressed bytes (after the 4-byte IPComp header).
    pub data: &'a [u8],
}

/// The DEFLATE (RFC 1951, raw, as RFC 2394 sends it) of an IPComp payload inflated, or `None`
/// when it is no valid DEFLATE stream or inflates to more than [`MAX_INFLATED`] bytes.
pub fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    miniz_oxide::inflate::decompress_to_vec_with_limit(data, MAX_INFLATED).ok()
}

/// The packet an inflated IPComp payload carries: an IP packet in tunnel mode (IP in IP, maybe a
/// tunnel again), a TCP or UDP header and payload in transport mode. An IPComp payload inside it
/// is [`DropReason::EncapMalformed`]: a sender compresses a datagram once (RFC 3173 §3), and a
/// frame is inflated at most once.
pub fn inflated<'a>(outer: &Compressed<'_>, plain: &'a [u8]) -> Result<Parsed<'a>, DropReason> {
    let mut depth = outer.depth;
    let parsed = match IpNumber(outer.next_header) {
        IpNumber::IPV4 | IpNumber::IPV6 => {
            let version = if outer.next_header == IpNumber::IPV4.0 {
                4
            } else {
                6
            };
            enter(&mut depth)?;
            decapsulate(Inner::Ip(Some(version), plain), depth)?
        }
        _ => {
            let id = FragmentId {
                src: outer.src,
                dst: outer.dst,
                protocol: outer.next_header,
                id: 0,
            };
            Parsed::Packet(datagram(&id, plain, outer.ip_len, 1)?)
        }
    };
    match parsed {
        Parsed::Compressed(_) => Err(DropReason::EncapMalformed),
        other => Ok(other),
    }
}

/// Why a frame is not a flow packet. Each reason has its own counter in the engine's stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The link-layer header is cut short.
    LinkTruncated,
    /// Not IPv4 or IPv6 (ARP, LLDP, unknown address family ...), or a tunnel message that carries
    /// no IP packet (PPPoE discovery, PPP control protocols such as LCP, a PPTP acknowledgment, a
    /// tunnel carrying another EtherType).
    NotIp,
    /// The IP header is malformed or cut short.
    IpMalformed,
    /// An IP protocol other than TCP and UDP (ICMP, IGMP, ESP ...).
    OtherProtocol,
    /// The TCP or UDP header is cut short before its ports (a TCP header with a bogus data
    /// offset still counts toward the flow of its ports, as Wireshark counts it).
    TransportMalformed,
    /// A tunnel or encapsulation header (PPPoE, PPP, NFLOG TLVs, GRE, MPLS, GTP-U extension
    /// headers, the Ethernet frame inside VXLAN or GRE, the 802.11 frame inside Aruba's GRE) is
    /// malformed, unsupported (GRE source routing, GRE versions above 1) or cut short.
    EncapMalformed,
    /// More than [`MAX_ENCAP_DEPTH`] encapsulation layers.
    EncapTooDeep,
}

/// Most encapsulation layers (PPPoE, GRE, VXLAN, IP in IP, GTP-U, each MPLS label) decoded above
/// the flow's own IP header; a frame with more is [`DropReason::EncapTooDeep`].
pub const MAX_ENCAP_DEPTH: u32 = 8;

// Linux cooked capture v1 (LINKTYPE_LINUX_SLL): packet type(2) ARPHRD(2) addr len(2) addr(8)
// protocol(2); the protocol field is an EtherType for the frames we care about.
const SLL_HEADER_LEN: usize = 16;
// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2): protocol(2) reserved(2) if index(4) ARPHRD(2)
// packet type(1) addr len(1) addr(8). etherparse 0.21 has no SLL2, so it is decoded here.
const SLL2_HEADER_LEN: usize = 20;

/// Parse one frame of the given link type.
///
/// The common frame (Ethernet, at most one VLAN tag, an unfragmented IPv4 or IPv6 packet with no
/// extension headers, a whole TCP or UDP header, no tunnel port, lengths that agree) is read by
/// a fast path directly; everything else, and anything it is unsure of, by
/// [`parse_sliced`]. Both give the same answer for every frame the fast one takes (a unit
/// proptest and the `packet` fuzz target compare them).
#[inline]
pub fn parse(link: LinkType, frame: &[u8]) -> Result<Parsed<'_>, DropReason> {
    if link == LinkType::Ethernet {
        if let Some(view) = fast_ethernet(frame) {
            return Ok(Parsed::Packet(view));
        }
    }
    parse_sliced(link, frame)
}

/// EtherTypes the fast path reads.
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;

/// The packet of a plain Ethernet frame, read without etherparse: `None` whenever the frame is
/// anything but the common case (see [`parse`]), so that etherparse's lax slicing decides it.
/// etherparse builds a large sliced-packet value per frame and moves it several times; on
/// TLS-heavy traffic those copies were a tenth of the whole process.
#[inline]
fn fast_ethernet(frame: &[u8]) -> Option<PacketView<'_>> {
    let mut at = 12;
    let mut ether_type = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    if ether_type == ETHERTYPE_VLAN {
        at += 4;
        ether_type = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    }
    let ip = &frame[at + 2..];
    let (src, dst, protocol, ip_len, l4) = match ether_type {
        ETHERTYPE_IPV4 => {
            let header: &[u8; 20] = ip.first_chunk()?;
            let header_len = usize::from(header[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
            // Version 4, a valid header length, a Total Length that covers the header and fits
            // the frame (TSO's 0 and snaplen cuts go the slow way), no fragment.
            if header[0] >> 4 != 4
                || header_len < 20
                || total < header_len
                || total > ip.len()
                || u16::from_be_bytes([header[6], header[7]]) & 0x3fff != 0
            {
                return None;
            }
            let src = IpAddr::V4(Ipv4Addr::new(
                header[12], header[13], header[14], header[15],
            ));
            let dst = IpAddr::V4(Ipv4Addr::new(
                header[16], header[17], header[18], header[19],
            ));
            (src, dst, header[9], total, &ip[header_len..total])
        }
        ETHERTYPE_IPV6 => {
            let header: &[u8; 40] = ip.first_chunk()?;
            let payload_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
            // Payload Length 0 (a jumbogram, BIG TCP) and snaplen cuts go the slow way.
            if header[0] >> 4 != 6 || payload_len == 0 || 40 + payload_len > ip.len() {
                return None;
            }
            let src = IpAddr::V6(Ipv6Addr::from(*header[8..24].first_chunk::<16>()?));
            let dst = IpAddr::V6(Ipv6Addr::from(*header[24..40].first_chunk::<16>()?));
            (
                src,
                dst,
                header[6],
                40 + payload_len,
                &ip[40..40 + payload_len],
            )
        }
        _ => return None,
    };
    let [s0, s1, d0, d1, ..] = *l4 else {
        return None;
    };
    let (src_port, dst_port) = (u16::from_be_bytes([s0, s1]), u16::from_be_bytes([d0, d1]));
    let ip_len = ip_len as u32;
    match protocol {
        6 => {
            let header: &[u8; 20] = l4.first_chunk()?;
            let header_len = usize::from(header[12] >> 4) * 4;
            if header_len < 20 || header_len > l4.len() {
                return None;
            }
            Some(PacketView {
                src,
                dst,
                transport: Transport::Tcp,
                src_port,
                dst_port,
                tcp_flags: header[13],
                seq: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
                ack: u32::from_be_bytes([header[8], header[9], header[10], header[11]]),
                ip_len,
                payload: &l4[header_len..],
                packets: 1,
            })
        }
        17 => {
            let header: &[u8; 8] = l4.first_chunk()?;
            // The UDP length agrees with the IP length; no port a tunnel is decoded on.
            if usize::from(u16::from_be_bytes([header[4], header[5]])) != l4.len()
                || UDP_TUNNEL_PORTS.contains(&dst_port)
                || UDP_TUNNEL_PORTS.contains(&src_port)
            {
                return None;
            }
            Some(PacketView {
                src,
                dst,
                transport: Transport::Udp,
                src_port,
                dst_port,
                tcp_flags: 0,
                seq: 0,
                ack: 0,
                ip_len,
                payload: &l4[8..],
                packets: 1,
            })
        }
        _ => None,
    }
}

/// Largest IEEE 802.3 length: a DLT_NULL header value above it holds an EtherType.
const IEEE_802_3_MAX_LEN: u32 = 1500;

/// The value of a DLT_NULL header, stored in the capturing host's byte order, read the way
/// Wireshark's null dissector reads it: an address family in either byte order or in the upper
/// half (IRIX, UNICOS/mp); a value above [`IEEE_802_3_MAX_LEN`] has an EtherType in its low 16
/// bits (some loopback drivers write one).
fn null_header(header: [u8; 4]) -> u32 {
    let h = u32::from_le_bytes(header);
    if h & 0xffff_0000 != 0 {
        if h & 0xff00_0000 == 0 && h & 0x00ff_0000 < 0x0006_0000 {
            h >> 16
        } else {
            h.swap_bytes()
        }
    } else if h & 0xff == 0 && h & 0xff00 < 0x0600 {
        u32::from((h as u16).swap_bytes())
    } else {
        h
    }
}

/// Parse one frame of the given link type with etherparse's lax slicing (every frame [`parse`]'s
/// fast path does not take).
pub fn parse_sliced(link: LinkType, frame: &[u8]) -> Result<Parsed<'_>, DropReason> {
    let (link, frame) = match link {
        LinkType::Ppi => ppi(frame)?,
        _ => (link, frame),
    };
    let sliced = match link {
        LinkType::Ieee80211
        | LinkType::Ieee80211Prism
        | LinkType::Ieee80211Radiotap
        | LinkType::Ieee80211Avs => {
            let (mac, pad) = wlan_link(link, frame)?;
            match ieee80211(mac, pad).map_err(link_cut)? {
                Wlan::Msdu(inner) => slice_link(Ok(inner))?,
                Wlan::Amsdu(body) => return Ok(Parsed::Aggregate(Msdus::new(body, 0, true))),
            }
        }
        _ => link_layer(link, frame)?,
    };
    packet_of(&sliced, 0)
}

/// The packet of a frame sliced past its link layer (or of an A-MSDU subframe), `depth`
/// encapsulation layers in: its own, or the innermost one of the tunnels it carries.
#[inline]
fn packet_of<'a>(sliced: &LaxSlicedPacket<'a>, mut depth: u32) -> Result<Parsed<'a>, DropReason> {
    // The fast path: a frame that is no tunnel is sliced once, as before tunnels were decoded.
    match encapsulated(sliced, &mut depth)? {
        None => from_sliced(sliced, depth),
        Some(inner) => match decapsulate(inner, depth) {
            // A UDP tunnel (VXLAN, Geneve, GTP-U, GRE in UDP, AYIYA) whose inner packet has no
            // TCP/UDP header (ICMP, IGMP, ARP ...): the outer UDP header is the innermost
            // transport header, so the datagram counts in the tunnel endpoints' UDP flow, as
            // Wireshark counts it.
            Err(DropReason::NotIp | DropReason::OtherProtocol)
                if matches!(sliced.transport, Some(TransportSlice::Udp(_))) =>
            {
                from_sliced(sliced, depth)
            }
            other => other,
        },
    }
}

/// The link type and frame a PPI header wraps: its length and the link type, little-endian, in
/// its first 8 bytes. A PPI frame inside PPI, or of a link type not decoded here, is not IP.
fn ppi(frame: &[u8]) -> Result<(LinkType, &[u8]), DropReason> {
    let [_version, _flags, l0, l1, d0, d1, d2, d3, ..] = frame else {
        return Err(DropReason::LinkTruncated);
    };
    let len = usize::from(u16::from_le_bytes([*l0, *l1]));
    let inner = frame.get(len.max(8)..).ok_or(DropReason::LinkTruncated)?;
    match LinkType::from_linktype(u32::from_le_bytes([*d0, *d1, *d2, *d3])) {
        Some(LinkType::Ppi) | None => Err(DropReason::NotIp),
        Some(link) => Ok((link, inner)),
    }
}

/// The frame sliced past its link-layer header (PPI unwrapped before).
#[inline]
fn link_layer(link: LinkType, frame: &[u8]) -> Result<LaxSlicedPacket<'_>, DropReason> {
    Ok(match link {
        LinkType::Ethernet => {
            LaxSlicedPacket::from_ethernet(frame).map_err(|_| DropReason::LinkTruncated)?
        }
        LinkType::LinuxSll => {
            let header = frame
                .get(..SLL_HEADER_LEN)
                .ok_or(DropReason::LinkTruncated)?;
            let ether_type = u16::from_be_bytes([header[14], header[15]]);
            LaxSlicedPacket::from_ether_type(EtherType(ether_type), &frame[SLL_HEADER_LEN..])
        }
        LinkType::LinuxSll2 => {
            let header = frame
                .get(..SLL2_HEADER_LEN)
                .ok_or(DropReason::LinkTruncated)?;
            let ether_type = u16::from_be_bytes([header[0], header[1]]);
            LaxSlicedPacket::from_ether_type(EtherType(ether_type), &frame[SLL2_HEADER_LEN..])
        }
        // DLT_NULL with PPP in HDLC framing instead of a family (as Wireshark reads it).
        LinkType::Null if frame.starts_with(&[0xff, 0x03]) => slice_link(ppp(frame))?,
        LinkType::Null | LinkType::Loop => {
            let header = frame.get(..4).ok_or(DropReason::LinkTruncated)?;
            let header = [header[0], header[1], header[2], header[3]];
            let family = if link == LinkType::Loop {
                u32::from_be_bytes(header)
            } else {
                null_header(header)
            };
            match family {
                // An EtherType where the family goes.
                v if v > IEEE_802_3_MAX_LEN => {
                    LaxSlicedPacket::from_ether_type(EtherType(v as u16), &frame[4..])
                }
                // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (BSDs), 28 (FreeBSD),
                // 30 (macOS).
                2 | 10 | 24 | 28 | 30 => ip(&frame[4..])?,
                _ => return Err(DropReason::NotIp),
            }
        }
        LinkType::Raw => ip(frame)?,
        LinkType::Ipv4 => match frame.first() {
            Some(b) if b >> 4 == 4 => ip(frame)?,
            Some(_) => return Err(DropReason::IpMalformed),
            None => return Err(DropReason::LinkTruncated),
        },
        LinkType::Ipv6 => match frame.first() {
            Some(b) if b >> 4 == 6 => ip(frame)?,
            Some(_) => return Err(DropReason::IpMalformed),
            None => return Err(DropReason::LinkTruncated),
        },
        LinkType::Nflog => {
            let (version, packet) = nflog(frame)?;
            inner_ip(Some(version), packet)?
        }
        LinkType::Ppp | LinkType::PppHdlc => slice_link(ppp(frame))?,
        LinkType::CiscoHdlc => match frame {
            [_, _, t0, t1, rest @ ..] => {
                LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([*t0, *t1])), rest)
            }
            _ => return Err(DropReason::LinkTruncated),
        },
        LinkType::Fddi => {
            // Frame control (1), destination (6), source (6), then 802.2 LLC.
            let llc = frame.get(13..).ok_or(DropReason::LinkTruncated)?;
            slice_link(llc_snap(llc))?
        }
        LinkType::ArcnetBsd | LinkType::ArcnetLinux => slice_link(arcnet(link, frame))?,
        // Unwrapped (PPI) or decoded (802.11) before, in `parse_sliced`.
        LinkType::Ppi
        | LinkType::Ieee80211
        | LinkType::Ieee80211Prism
        | LinkType::Ieee80211Radiotap
        | LinkType::Ieee80211Avs => return Err(DropReason::NotIp),
    })
}

/// A link layer's payload sliced, its errors those of the link layer: a header cut short is
/// [`DropReason::LinkTruncated`], not a tunnel's malformed header.
fn slice_link(inner: Result<Inner<'_>, DropReason>) -> Result<LaxSlicedPacket<'_>, DropReason> {
    slice_inner(inner.map_err(link_cut)?)
}

/// A layer's error as the link layer's: a header cut short is [`DropReason::LinkTruncated`].
fn link_cut(drop: DropReason) -> DropReason {
    match drop {
        DropReason::EncapMalformed => DropReason::LinkTruncated,
        other => other,
    }
}

/// The EtherType and payload of an 802.2 LLC frame with a SNAP header (DSAP and SSAP 0xAA,
/// control 0x03 (UI), organization code 00-00-00 or 00-00-F8 (RFC 1042, 802.1H), EtherType).
/// Other LLC frames (spanning tree, NetBIOS, IPX ...) are not IP.
fn llc_snap(llc: &[u8]) -> Result<Inner<'_>, DropReason> {
    match llc {
        [0xaa, 0xaa, 0x03, 0, 0, 0 | 0xf8, t0, t1, rest @ ..] => {
            Ok(Inner::EtherType(u16::from_be_bytes([*t0, *t1]), rest))
        }
        [_, _, _, _, _, _, _, _, ..] => Err(DropReason::NotIp),
        _ => Err(DropReason::EncapMalformed),
    }
}

// ARCNET protocol IDs (IANA ARCNET protocol identifiers; RFC 1051, RFC 1201, RFC 2497).
const ARCNET_IP_RFC1051: u8 = 0xf0;
const ARCNET_IP_RFC1201: u8 = 0xd4;
const ARCNET_IPV6: u8 = 0xc4;

/// The IP packet of an ARCNET frame ([`LinkType::ArcnetBsd`], [`LinkType::ArcnetLinux`]).
fn arcnet(link: LinkType, frame: &[u8]) -> Result<Inner<'_>, DropReason> {
    let header = if link == LinkType::ArcnetLinux { 4 } else { 2 };
    let [protocol, rest @ ..] = frame.get(header..).ok_or(DropReason::EncapMalformed)? else {
        return Err(DropReason::EncapMalformed);
    };
    match *protocol {
        ARCNET_IP_RFC1051 => Ok(Inner::Ip(Some(4), rest)),
        ARCNET_IP_RFC1201 | ARCNET_IPV6 => {
            // Split flag (1) and sequence number (2); on BSD an exception packet (flag 0xFF)
            // carries four more bytes (RFC 1201 §4.1: padding, the protocol ID and flag again).
            let skip = match rest.first() {
                Some(0xff) if link == LinkType::ArcnetBsd => 7,
                _ => 3,
            };
            let packet = rest.get(skip..).ok_or(DropReason::EncapMalformed)?;
            let version = if *protocol == ARCNET_IPV6 { 6 } else { 4 };
            Ok(Inner::Ip(Some(version), packet))
        }
        _ => Err(DropReason::NotIp),
    }
}

/// The 802.11 frame of a LinkType::Ieee80211* frame past its capture header, and whether the
/// radiotap data-pad flag pads the 802.11 header to a multiple of 4 bytes.
fn wlan_link(link: LinkType, frame: &[u8]) -> Result<(&[u8], bool), DropReason> {
    match link {
        LinkType::Ieee80211Radiotap => radiotap(frame),
        // Some drivers write an AVS header under the Prism link type: its magic tells.
        LinkType::Ieee80211Prism => match frame {
            [0x80, 0x21, 0x10, ..] => avs(frame).map(|mac| (mac, false)),
            _ => Ok((
                frame
                    .get(PRISM_HEADER_LEN..)
                    .ok_or(DropReason::LinkTruncated)?,
                false,
            )),
        },
        LinkType::Ieee80211Avs => avs(frame).map(|mac| (mac, false)),
        _ => Ok((frame, false)),
    }
}

/// The Prism monitor-mode header: message code and length (4 each), device name (16), ten
/// 12-byte items.
const PRISM_HEADER_LEN: usize = 144;

/// The 802.11 frame after an AVS capture header (version 4 bytes, header length 4, big-endian).
fn avs(frame: &[u8]) -> Result<&[u8], DropReason> {
    let [_, _, _, _, l0, l1, l2, l3, ..] = frame else {
        return Err(DropReason::LinkTruncated);
    };
    let len = u32::from_be_bytes([*l0, *l1, *l2, *l3]);
    usize::try_from(len)
        .ok()
        .and_then(|len| frame.get(len.max(8)..))
        .ok_or(DropReason::LinkTruncated)
}

// Radiotap (radiotap.org): present-bitmap bits of the first two fields, the extension bit, and
// the Flags field's bits read here.
const RADIOTAP_TSFT: u32 = 1 << 0;
const RADIOTAP_FLAGS: u32 = 1 << 1;
const RADIOTAP_EXT: u32 = 1 << 31;
const RADIOTAP_FLAG_FCS: u8 = 0x10;
const RADIOTAP_FLAG_DATAPAD: u8 = 0x20;

/// The 802.11 frame of a radiotap capture: version, pad, header length (little-endian), present
/// bitmaps (little-endian, each with bit 31 set followed by another), then the fields, each
/// aligned to its size from the header's start. The Flags field (bit 1; after TSFT, bit 0, 8
/// bytes) says whether the frame ends in an FCS (0x10, cut off here) and whether the 802.11
/// header is padded to 4 bytes (0x20, returned).
fn radiotap(frame: &[u8]) -> Result<(&[u8], bool), DropReason> {
    let [_, _, l0, l1, ..] = frame else {
        return Err(DropReason::LinkTruncated);
    };
    let len = usize::from(u16::from_le_bytes([*l0, *l1]));
    let header = frame.get(..len).ok_or(DropReason::LinkTruncated)?;
    let mac = &frame[len..];
    let word = |at: usize| match header.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_le_bytes([a, b, c, d])),
        _ => Err(DropReason::LinkTruncated),
    };
    let present = word(4)?;
    let mut at = 8;
    let mut last = present;
    while last & RADIOTAP_EXT != 0 {
        last = word(at)?;
        at += 4;
    }
    let mut flags = 0;
    if present & RADIOTAP_FLAGS != 0 {
        if present & RADIOTAP_TSFT != 0 {
            at = at.next_multiple_of(8) + 8;
        }
        flags = *header.get(at).ok_or(DropReason::LinkTruncated)?;
    }
    let mac = if flags & RADIOTAP_FLAG_FCS != 0 {
        mac.len()
            .checked_sub(4)
            .map(|end| &mac[..end])
            .ok_or(DropReason::LinkTruncated)?
    } else {
        mac
    };
    Ok((mac, flags & RADIOTAP_FLAG_DATAPAD != 0))
}

/// What an 802.11 data frame carries.
enum Wlan<'a> {
    /// One MSDU: the EtherType and payload of its LLC/SNAP header.
    Msdu(Inner<'a>),
    /// An A-MSDU: the subframes of its body ([`Msdus`]).
    Amsdu(&'a [u8]),
}

// IEEE 802.11 frame control (IEEE Std 802.11-2020 §9.2.4.1): byte 0 holds the protocol version
// (bits 0-1), type (2-3) and subtype (4-7); byte 1 the flags.
const WLAN_TYPE_DATA: u8 = 2;
/// Data subtypes with this bit carry no frame body (Null, QoS Null, CF-Ack/Poll without data).
const WLAN_SUBTYPE_NO_DATA: u8 = 0x4;
/// Data subtypes with this bit are QoS data: a QoS Control field follows the addresses.
const WLAN_SUBTYPE_QOS: u8 = 0x8;
const WLAN_TO_DS: u8 = 0x01;
const WLAN_FROM_DS: u8 = 0x02;
const WLAN_PROTECTED: u8 = 0x40;
/// +HTC/Order: in a QoS data frame, a 4-byte HT Control field follows the QoS Control.
const WLAN_ORDER: u8 = 0x80;
/// The first byte of QoS Control: A-MSDU Present (§9.2.4.5.9).
const WLAN_QOS_AMSDU: u8 = 0x80;

/// The body of an IEEE 802.11 data frame (IEEE Std 802.11-2020 §9.3.2.1): frame control (2),
/// duration (2), three addresses (18), sequence control (2), a fourth address when both ToDS
/// and FromDS are set, the QoS Control (2) of a QoS data frame and its HT Control (4) with
/// +HTC/Order; `pad` rounds that header up to 4 bytes (radiotap's data pad). The body is 802.2
/// LLC/SNAP, or an A-MSDU when QoS Control says so. Management, control and extension frames,
/// data frames without a body, protected (encrypted) frames and fragments after an MSDU's first
/// are not IP (the first fragment of a fragmented MSDU is read as far as it goes). A header cut
/// short is [`DropReason::EncapMalformed`].
fn ieee80211(frame: &[u8], pad: bool) -> Result<Wlan<'_>, DropReason> {
    let [fc, flags, ..] = *frame else {
        return Err(DropReason::EncapMalformed);
    };
    let subtype = fc >> 4;
    if fc & 0x03 != 0
        || (fc >> 2) & 0x03 != WLAN_TYPE_DATA
        || subtype & WLAN_SUBTYPE_NO_DATA != 0
        || flags & WLAN_PROTECTED != 0
    {
        return Err(DropReason::NotIp);
    }
    let mut len = 24;
    if flags & (WLAN_TO_DS | WLAN_FROM_DS) == WLAN_TO_DS | WLAN_FROM_DS {
        len += 6;
    }
    let qos_at = len;
    let qos = subtype & WLAN_SUBTYPE_QOS != 0;
    if qos {
        len += 2;
        if flags & WLAN_ORDER != 0 {
            len += 4;
        }
    }
    let header = frame.get(..len).ok_or(DropReason::EncapMalformed)?;
    // Fragment number (the low 4 bits of sequence control): a later fragment of an MSDU.
    if header[22] & 0x0f != 0 {
        return Err(DropReason::NotIp);
    }
    if pad {
        len = len.next_multiple_of(4);
    }
    let body = frame.get(len..).ok_or(DropReason::EncapMalformed)?;
    if qos && header[qos_at] & WLAN_QOS_AMSDU != 0 {
        // At least one subframe header.
        if body.len() < AMSDU_SUBFRAME_HEADER {
            return Err(DropReason::EncapMalformed);
        }
        Ok(Wlan::Amsdu(body))
    } else {
        llc_snap(body).map(Wlan::Msdu)
    }
}

/// A-MSDU subframe header: destination (6), source (6), length of the MSDU (2, big-endian).
const AMSDU_SUBFRAME_HEADER: usize = 14;

/// The packets of an 802.11 A-MSDU (IEEE Std 802.11-2020 §9.3.2.2.2), in order: its subframes,
/// each a subframe header and an MSDU (802.2 LLC/SNAP, then the packet of its EtherType, tunnels
/// decoded as anywhere else), padded to 4 bytes but the last. A length past the captured bytes
/// reads what is there (the snaplen cut it); bytes after a subframe too few for a subframe
/// header are padding. A body too short for one subframe header is not an A-MSDU but a cut
/// frame.
///
/// **Counts.** The frame counts once toward each flow it carries, with the IP length of that
/// flow's last subframe in a run: a subframe followed by one of the same flow (same addresses,
/// ports and direction) comes out with `packets` and `ip_len` 0, its payload still read. That is
/// how Wireshark's per-frame view counts it (a frame belongs to a TCP/UDP stream once; its
/// innermost, last, IP header is the frame's), where its conversation table would count each
/// subframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msdus<'a> {
    rest: &'a [u8],
    depth: u32,
    /// At the link layer: a cut subframe is [`DropReason::LinkTruncated`], not a tunnel's
    /// [`DropReason::EncapMalformed`].
    link: bool,
}

impl<'a> Msdus<'a> {
    fn new(body: &'a [u8], depth: u32, link: bool) -> Msdus<'a> {
        Msdus {
            rest: body,
            depth,
            link,
        }
    }

    /// The next subframe's MSDU and the bytes after it; `None` at the end.
    fn split(rest: &'a [u8]) -> Option<(Result<Inner<'a>, DropReason>, &'a [u8])> {
        // Too short for a subframe header: the end, or padding after the last subframe.
        let (header, body) = rest.split_first_chunk::<AMSDU_SUBFRAME_HEADER>()?;
        let len = usize::from(u16::from_be_bytes([header[12], header[13]]));
        let msdu = body.get(..len).unwrap_or(body);
        let next = rest
            .get((AMSDU_SUBFRAME_HEADER + len).next_multiple_of(4)..)
            .unwrap_or(&[]);
        Some((llc_snap(msdu), next))
    }

    /// The packet of one MSDU.
    fn packet(&self, msdu: Result<Inner<'a>, DropReason>) -> Result<Parsed<'a>, DropReason> {
        let msdu = if self.link {
            msdu.map_err(link_cut)?
        } else {
            msdu?
        };
        packet_of(&slice_inner(msdu)?, self.depth)
    }
}

impl<'a> Iterator for Msdus<'a> {
    type Item = Result<Parsed<'a>, DropReason>;

    fn next(&mut self) -> Option<Self::Item> {
        let (msdu, next) = Self::split(self.rest)?;
        self.rest = next;
        let parsed = self.packet(msdu);
        let Ok(Parsed::Packet(view)) = parsed else {
            return Some(parsed);
        };
        // The next subframe of the same flow counts the frame.
        let same_flow = |other: &PacketView<'_>| {
            (
                view.transport,
                view.src,
                view.src_port,
                view.dst,
                view.dst_port,
            ) == (
                other.transport,
                other.src,
                other.src_port,
                other.dst,
                other.dst_port,
            )
        };
        let counted_later = Self::split(next)
            .map(|(msdu, _)| self.packet(msdu))
            .is_some_and(|later| matches!(later, Ok(Parsed::Packet(ref v)) if same_flow(v)));
        Some(Ok(Parsed::Packet(if counted_later {
            PacketView {
                packets: 0,
                ip_len: 0,
                ..view
            }
        } else {
            view
        })))
    }
}

fn ip(frame: &[u8]) -> Result<LaxSlicedPacket<'_>, DropReason> {
    if frame.is_empty() {
        return Err(DropReason::LinkTruncated);
    }
    LaxSlicedPacket::from_ip(frame).map_err(|_| DropReason::IpMalformed)
}

// EtherTypes and numbers of the encapsulations decoded here (IEEE registry, RFC 2516, RFC 3032,
// RFC 1701 §3.3, RFC 2637 §4.1, RFC 1661 §2 / IANA PPP DLL protocol numbers).
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// Cisco MetaData (CMD): Cisco TrustSec's Security Group Tag in an Ethernet frame.
const ETHERTYPE_CISCO_METADATA: u16 = 0x8909;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
const ETHERTYPE_TRANSPARENT_BRIDGING: u16 = 0x6558;
const ETHERTYPE_PPP: u16 = 0x880b;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
/// VXLAN's IANA UDP port (RFC 7348 §5).
const VXLAN_PORT: u16 = 4789;
/// VXLAN-GPE's IANA UDP port (draft-ietf-nvo3-vxlan-gpe §3.2).
const VXLAN_GPE_PORT: u16 = 4790;
/// UDP ports of the tunnels decoded here: a datagram from or to one of them is no plain UDP
/// packet for [`fast_ethernet`].
const UDP_TUNNEL_PORTS: [u16; 8] = [
    VXLAN_PORT,
    VXLAN_GPE_PORT,
    GENEVE_PORT,
    GRE_UDP_PORT,
    GTPU_PORT,
    AYIYA_PORT,
    LISP_DATA_PORT,
    LISP_CONTROL_PORT,
];
/// LISP's data-plane UDP port (RFC 9300 §5.1).
const LISP_DATA_PORT: u16 = 4341;
/// LISP's control-plane UDP port (RFC 9301 §5.1).
const LISP_CONTROL_PORT: u16 = 4342;
/// Geneve's IANA UDP port (RFC 8926 §3.3).
const GENEVE_PORT: u16 = 6081;
/// GRE-in-UDP's IANA UDP port (RFC 8086 §3.1).
const GRE_UDP_PORT: u16 = 4754;
/// GTP-U's UDP port (3GPP TS 29.281 §4.4.2).
const GTPU_PORT: u16 = 2152;
/// AYIYA's IANA UDP port.
const AYIYA_PORT: u16 = 5072;
/// GTP message type G-PDU: a user packet (3GPP TS 29.281 §6.1).
const GTP_G_PDU: u8 = 255;
/// Aruba's GRE protocol types of 802.11 frames ("ARUBA WLAN"): 0x8200 to 0x8370 in steps of
/// 0x10, those Wireshark hands to its 802.11 dissector (`tshark -G decodes`, `gre.proto`).
/// GRE protocol of Cisco's ERSPAN types I and II (draft-foschiano-erspan §4.1, §4.2), port
/// mirroring: a copy of an Ethernet frame seen elsewhere.
const GRE_ERSPAN_II: u16 = 0x88be;
/// GRE protocol of ERSPAN type III (draft-foschiano-erspan §4.3).
const GRE_ERSPAN_III: u16 = 0x22eb;
const GRE_ARUBA_FIRST: u16 = 0x8200;
const GRE_ARUBA_LAST: u16 = 0x8370;
/// NFULA_PAYLOAD (linux/netfilter/nfnetlink_log.h): the logged packet.
const NFULA_PAYLOAD: u16 = 9;

/// What an encapsulation layer carries: the next layer, still to be sliced.
#[derive(Debug, Clone, Copy)]
enum Inner<'a> {
    /// An Ethernet frame (VXLAN, GRE transparent bridging, an MPLS Ethernet pseudowire).
    Ethernet(&'a [u8]),
    /// A payload of this EtherType (GRE).
    EtherType(u16, &'a [u8]),
    /// An IP packet of this version (4 or 6), or of the version its first nibble says.
    Ip(Option<u8>, &'a [u8]),
    /// An IEEE 802.11 frame (Aruba's GRE).
    Wlan(&'a [u8]),
}

/// The innermost TCP/UDP packet of what a tunnel carries, `depth` layers in: while that is a
/// tunnel again (PPPoE, MPLS, GRE, IP in IP, VXLAN, GTP-U), slice what it carries instead. Out of
/// line, so that frames that are no tunnel pay nothing for it.
#[cold]
#[inline(never)]
fn decapsulate(mut inner: Inner<'_>, mut depth: u32) -> Result<Parsed<'_>, DropReason> {
    loop {
        let sliced = match inner {
            Inner::Wlan(frame) => match ieee80211(frame, false)? {
                Wlan::Msdu(msdu) => slice_inner(msdu)?,
                Wlan::Amsdu(body) => {
                    return Ok(Parsed::Aggregate(Msdus::new(body, depth, false)));
                }
            },
            other => slice_inner(other)?,
        };
        match encapsulated(&sliced, &mut depth)? {
            None => return from_sliced(&sliced, depth),
            Some(next) => inner = next,
        }
    }
}

/// One more encapsulation layer, within [`MAX_ENCAP_DEPTH`].
fn enter(depth: &mut u32) -> Result<(), DropReason> {
    *depth += 1;
    if *depth > MAX_ENCAP_DEPTH {
        Err(DropReason::EncapTooDeep)
    } else {
        Ok(())
    }
}

/// What the sliced frame tunnels, or `None` when it is not a tunnel (the flow is its own).
#[inline]
fn encapsulated<'a>(
    sliced: &LaxSlicedPacket<'a>,
    depth: &mut u32,
) -> Result<Option<Inner<'a>>, DropReason> {
    match &sliced.net {
        Some(LaxNetSlice::Ipv4(_)) | Some(LaxNetSlice::Ipv6(_)) => {
            let Some(payload) = sliced.ip_payload() else {
                return Ok(None);
            };
            // A fragmented outer packet is a fragment (`from_sliced`), decapsulated once its
            // datagram is whole (`reassembled`).
            if payload.fragmented {
                return Ok(None);
            }
            match payload.ip_number {
                IpNumber::TCP => Ok(None),
                IpNumber::UDP => match &sliced.transport {
                    // A bogus UDP length: no tunnel, dropped as the flow's own (`from_sliced`).
                    Some(TransportSlice::Udp(udp))
                        if udp.length() >= 8 || ip_length_unstated(sliced) =>
                    {
                        udp_tunnel(udp, depth)
                    }
                    _ => Ok(None),
                },
                IpNumber::GRE => {
                    enter(depth)?;
                    gre(payload.payload).map(Some)
                }
                // IP in IP (RFC 2003; RFC 4213 §3.5 for IPv6 in IPv4, RFC 2473 in IPv6).
                IpNumber::IPV4 => {
                    enter(depth)?;
                    Ok(Some(Inner::Ip(Some(4), payload.payload)))
                }
                IpNumber::IPV6 => {
                    enter(depth)?;
                    Ok(Some(Inner::Ip(Some(6), payload.payload)))
                }
                _ => Ok(None),
            }
        }
        Some(LaxNetSlice::Arp(_)) => Ok(None),
        None => {
            if sliced.stop_err.is_some() {
                return Ok(None);
            }
            let Some(ether) = sliced.ether_payload() else {
                return Ok(None);
            };
            match ether.ether_type.0 {
                ETHERTYPE_PPPOE_SESSION => {
                    enter(depth)?;
                    pppoe(ether.payload).map(Some)
                }
                ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST => mpls(ether.payload, depth).map(Some),
                ETHERTYPE_CISCO_METADATA => {
                    enter(depth)?;
                    cisco_metadata(ether.payload).map(Some)
                }
                _ => Ok(None),
            }
        }
    }
}

/// Slice the layer a tunnel carries.
fn slice_inner(inner: Inner<'_>) -> Result<LaxSlicedPacket<'_>, DropReason> {
    match inner {
        Inner::Ethernet(frame) => {
            LaxSlicedPacket::from_ethernet(frame).map_err(|_| DropReason::EncapMalformed)
        }
        Inner::EtherType(ether_type, payload) => Ok(LaxSlicedPacket::from_ether_type(
            EtherType(ether_type),
            payload,
        )),
        Inner::Ip(version, packet) => inner_ip(version, packet),
        // `decapsulate` takes an A-MSDU apart before; one found here is not sliced.
        Inner::Wlan(frame) => match ieee80211(frame, false)? {
            Wlan::Msdu(msdu) => slice_inner(msdu),
            Wlan::Amsdu(_) => Err(DropReason::NotIp),
        },
    }
}

/// An IP packet inside a tunnel or NFLOG, of `version` when given.
fn inner_ip(version: Option<u8>, packet: &[u8]) -> Result<LaxSlicedPacket<'_>, DropReason> {
    match (packet.first(), version) {
        (None, _) => Err(DropReason::IpMalformed),
        (Some(b), Some(v)) if b >> 4 != v => Err(DropReason::IpMalformed),
        _ => LaxSlicedPacket::from_ip(packet).map_err(|_| DropReason::IpMalformed),
    }
}

/// VXLAN or GTP-U in a UDP datagram, or `None` for a plain UDP flow.
#[inline]
fn udp_tunnel<'a>(udp: &UdpSlice<'a>, depth: &mut u32) -> Result<Option<Inner<'a>>, DropReason> {
    let (src, dst) = (udp.source_port(), udp.destination_port());
    // A tunnel's port as the destination, or as the source when it is the lower port (a reply
    // from the tunnel's port to an ephemeral one): Wireshark tries the lower port's dissector
    // first, so a DNS query from port 4789 to 53 stays DNS.
    let on = |port: u16| dst == port || (src == port && dst > port);
    if on(VXLAN_PORT) {
        if let Some(frame) = vxlan(udp.payload()) {
            enter(depth)?;
            return Ok(Some(Inner::Ethernet(frame)));
        }
    }
    if on(VXLAN_GPE_PORT) {
        if let Some(inner) = vxlan_gpe(udp.payload()) {
            enter(depth)?;
            return Ok(Some(inner));
        }
    }
    if on(GENEVE_PORT) {
        if let Some(inner) = geneve(udp.payload()) {
            enter(depth)?;
            return Ok(Some(inner));
        }
    }
    if on(GRE_UDP_PORT) {
        // RFC 8086: a GRE header right after the UDP header; not GRE, a plain UDP flow.
        if let Ok(inner) = gre(udp.payload()) {
            enter(depth)?;
            return Ok(Some(inner));
        }
    }
    if src == GTPU_PORT || dst == GTPU_PORT {
        return gtp_u(udp.payload(), depth);
    }
    if src == AYIYA_PORT || dst == AYIYA_PORT {
        if let Some(inner) = ayiya(udp.payload()) {
            enter(depth)?;
            return Ok(Some(inner));
        }
    }
    if on(LISP_DATA_PORT) || on(LISP_CONTROL_PORT) {
        if let Some(inner) = lisp(
            dst == LISP_CONTROL_PORT || src == LISP_CONTROL_PORT,
            udp.payload(),
        ) {
            enter(depth)?;
            return Ok(Some(inner));
        }
    }
    Ok(None)
}

/// The IP packet LISP carries: on the data plane (RFC 9300 §5.3) after the 8-byte LISP header; on
/// the control plane (`control`) in an Encapsulated Control Message (type 8, RFC 9301 §5.8)
/// after its 4-byte header, the inner packet being a control message to port 4342 between the
/// ends it names. `None` (a plain UDP flow) for other control messages or no IP inside.
fn lisp(control: bool, payload: &[u8]) -> Option<Inner<'_>> {
    const LISP_ECM: u8 = 8;
    let inner = if control {
        (payload.first()? >> 4 == LISP_ECM).then(|| payload.get(4..))??
    } else {
        payload.get(8..)?
    };
    matches!(inner.first()? >> 4, 4 | 6).then_some(Inner::Ip(None, inner))
}

/// The IP packet of an AYIYA "forward" message (Anything In Anything, the SixXS tunnel
/// protocol; draft-massar-v6ops-ayiya-02 §5): identity length (log2, 4 bits) and type (4),
/// signature length (in 4-byte words, 4) and hash method (4), authentication method (4) and
/// opcode (4, forward = 1), next header (IP protocol 4 or 41), epoch time (4 bytes), then the
/// identity and the signature. Any other message stays a plain UDP flow.
fn ayiya(payload: &[u8]) -> Option<Inner<'_>> {
    let [id, sig, op, next, _, _, _, _, rest @ ..] = payload else {
        return None;
    };
    if op & 0x0f != 1 {
        return None;
    }
    let version = match *next {
        4 => 4,
        41 => 6,
        _ => return None,
    };
    let skip = (1usize << (id >> 4)) + usize::from(sig >> 4) * 4;
    let packet = rest.get(skip..)?;
    // Not an IP packet of that version where it should start: not AYIYA, a plain UDP flow.
    (packet.first()? >> 4 == version).then_some(Inner::Ip(Some(version), packet))
}

/// What a valid Geneve header carries (RFC 8926 §3.4: version 0 (2 bits), options length in
/// 4-byte words (6), O and C flags and 6 reserved bits, Protocol Type (16), VNI (24), 8 reserved
/// bits, then the options): an Ethernet frame (Protocol Type 0x6558, at least a whole Ethernet
/// header) or a payload of that EtherType; `None` (a plain UDP flow) otherwise.
fn geneve(payload: &[u8]) -> Option<Inner<'_>> {
    let [first, _, p0, p1, _, _, _, _, rest @ ..] = payload else {
        return None;
    };
    if first >> 6 != 0 {
        return None;
    }
    let inner = rest.get(usize::from(first & 0x3f) * 4..)?;
    match u16::from_be_bytes([*p0, *p1]) {
        ETHERTYPE_TRANSPARENT_BRIDGING if inner.len() >= 14 => Some(Inner::Ethernet(inner)),
        ETHERTYPE_TRANSPARENT_BRIDGING => None,
        ether_type => Some(Inner::EtherType(ether_type, inner)),
    }
}

/// What a VXLAN-GPE header (draft-ietf-nvo3-vxlan-gpe-12 §3.3: flags with P (0x04, next
/// protocol present), 16 reserved bits, next protocol, 24-bit VNI, 8 reserved bits) says follows:
/// IPv4 (1), IPv6 (2) or Ethernet (3, a whole header); anything else stays a plain UDP flow.
/// Wireshark reads the next protocol whether P is set or not; without P an IP packet is taken
/// only when its version nibble agrees (and Ethernet not at all), so other traffic to port 4790
/// stays a UDP flow.
fn vxlan_gpe(payload: &[u8]) -> Option<Inner<'_>> {
    let [flags, _, _, next, _, _, _, _, inner @ ..] = payload else {
        return None;
    };
    let stated = flags & 0x04 != 0;
    let version = inner.first().map(|b| b >> 4);
    match next {
        1 if stated || version == Some(4) => Some(Inner::Ip(Some(4), inner)),
        2 if stated || version == Some(6) => Some(Inner::Ip(Some(6), inner)),
        3 if stated && inner.len() >= 14 => Some(Inner::Ethernet(inner)),
        _ => None,
    }
}

/// The Ethernet frame of a valid VXLAN header (RFC 7348 §5: flags with I (0x08) set, 24 reserved
/// bits, 24-bit VNI, 8 reserved bits) followed by at least a whole Ethernet header.
fn vxlan(payload: &[u8]) -> Option<&[u8]> {
    match payload {
        [flags, _, _, _, _, _, _, _, frame @ ..] if flags & 0x08 != 0 && frame.len() >= 14 => {
            Some(frame)
        }
        _ => None,
    }
}

/// The IP packet of a GTP-U G-PDU (3GPP TS 29.281 §5.1, §5.2): flags (version 1, PT 1, E, S, PN),
/// message type, length (of what follows the first 8 bytes), TEID; when E, S or PN is set, the
/// sequence number, N-PDU number and next extension header type; with E, the extension headers
/// (length in 4-byte units, contents, next type) until type 0. `None` when the datagram is not
/// a GTPv1 G-PDU: it stays a plain UDP flow, as Wireshark counts it.
fn gtp_u<'a>(payload: &'a [u8], depth: &mut u32) -> Result<Option<Inner<'a>>, DropReason> {
    let [flags, kind, l0, l1, _, _, _, _, rest @ ..] = payload else {
        return Ok(None);
    };
    if flags >> 5 != 1 || flags & 0x10 == 0 || *kind != GTP_G_PDU {
        return Ok(None);
    }
    enter(depth)?;
    let len = usize::from(u16::from_be_bytes([*l0, *l1]));
    // A length past the captured bytes: the snaplen cut the packet; read what is there.
    let mut body = rest.get(..len).unwrap_or(rest);
    if flags & 0x07 != 0 {
        let [_, _, _, next, tail @ ..] = body else {
            return Err(DropReason::EncapMalformed);
        };
        body = tail;
        // The next-type field is only meaningful with E set (§5.1).
        let mut next = if flags & 0x04 != 0 { *next } else { 0 };
        while next != 0 {
            let units = usize::from(*body.first().ok_or(DropReason::EncapMalformed)?);
            if units == 0 {
                return Err(DropReason::EncapMalformed);
            }
            let header = body.get(..units * 4).ok_or(DropReason::EncapMalformed)?;
            next = header[units * 4 - 1];
            body = &body[units * 4..];
        }
    }
    match body.first().map(|b| b >> 4) {
        Some(4 | 6) => Ok(Some(Inner::Ip(None, body))),
        Some(_) => Err(DropReason::NotIp),
        None => Err(DropReason::EncapMalformed),
    }
}

/// What a GRE packet carries (RFC 2784 §2, RFC 2890 §2; enhanced GRE of PPTP, RFC 2637 §4.1).
/// Version 0: C (checksum and reserved, 4 bytes), K (key, 4), S (sequence number, 4); R (RFC 1701
/// source routing) is not decoded. Version 1: K set (payload length and call id), S and A
/// (acknowledgment number) optional, protocol PPP, the payload length bounding the PPP frame; one
/// without payload (an acknowledgment) is not IP.
fn gre(packet: &[u8]) -> Result<Inner<'_>, DropReason> {
    let [f0, f1, p0, p1, rest @ ..] = packet else {
        return Err(DropReason::EncapMalformed);
    };
    let protocol = u16::from_be_bytes([*p0, *p1]);
    let mut at = 0usize;
    let mut ppp_len = None;
    match f1 & 0x07 {
        0 => {
            if f0 & 0x40 != 0 {
                return Err(DropReason::EncapMalformed);
            }
            for bit in [0x80, 0x20, 0x10] {
                if f0 & bit != 0 {
                    at += 4;
                }
            }
        }
        1 => {
            if f0 & 0xc0 != 0 || f0 & 0x20 == 0 || protocol != ETHERTYPE_PPP {
                return Err(DropReason::EncapMalformed);
            }
            let key = rest.get(..4).ok_or(DropReason::EncapMalformed)?;
            ppp_len = Some(usize::from(u16::from_be_bytes([key[0], key[1]])));
            at = 4;
            if f0 & 0x10 != 0 {
                at += 4;
            }
            if f1 & 0x80 != 0 {
                at += 4;
            }
        }
        _ => return Err(DropReason::EncapMalformed),
    }
    let payload = rest.get(at..).ok_or(DropReason::EncapMalformed)?;
    match protocol {
        ETHERTYPE_TRANSPARENT_BRIDGING => Ok(Inner::Ethernet(payload)),
        GRE_ARUBA_FIRST..=GRE_ARUBA_LAST if protocol & 0x0f == 0 => Ok(Inner::Wlan(payload)),
        // ERSPAN, as Wireshark reads it: type I has no header of its own and no GRE sequence
        // number; type II has both, an 8-byte header of version 1 (VLAN, COS, session, index).
        GRE_ERSPAN_II if f0 & 0x10 == 0 => Ok(Inner::Ethernet(payload)),
        GRE_ERSPAN_II => match payload {
            [v, _, _, _, _, _, _, _, frame @ ..] if v >> 4 == 1 => Ok(Inner::Ethernet(frame)),
            _ => Err(DropReason::EncapMalformed),
        },
        // Type III: a 12-byte header of version 2, and 8 bytes of platform-specific subheader
        // when its last bit (O) is set.
        GRE_ERSPAN_III => match payload {
            [v, _, _, _, _, _, _, _, _, _, _, o, rest @ ..] if v >> 4 == 2 => {
                let skip = if o & 1 != 0 { 8 } else { 0 };
                rest.get(skip..)
                    .map(Inner::Ethernet)
                    .ok_or(DropReason::EncapMalformed)
            }
            _ => Err(DropReason::EncapMalformed),
        },
        ETHERTYPE_PPP => {
            let payload = match ppp_len {
                Some(0) => return Err(DropReason::NotIp),
                Some(len) => payload.get(..len).unwrap_or(payload),
                None => payload,
            };
            ppp(payload)
        }
        other => Ok(Inner::EtherType(other, payload)),
    }
}

/// The IP packet of a PPP frame (RFC 1661 §2): an HDLC address and control field (0xff 0x03,
/// RFC 1662 §3.1) skipped when present, a protocol field of one byte when compressed (RFC 1661
/// §6.5: an odd first byte). Protocols other than IPv4 and IPv6 (LCP, IPCP, CCP ...) are not IP.
fn ppp(frame: &[u8]) -> Result<Inner<'_>, DropReason> {
    let frame = match frame {
        [0xff, 0x03, rest @ ..] => rest,
        // A Cisco HDLC frame where PPP was declared (unicast or broadcast address, control 0, an
        // EtherType), as Wireshark's PPP dissector hands it over to Cisco HDLC.
        [0x0f | 0x8f, 0x00, hi, lo, rest @ ..] => {
            return Ok(Inner::EtherType(u16::from_be_bytes([*hi, *lo]), rest))
        }
        _ => frame,
    };
    let (protocol, packet) = match frame {
        [p, rest @ ..] if p & 1 == 1 => (u16::from(*p), rest),
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return Err(DropReason::EncapMalformed),
    };
    match protocol {
        PPP_IPV4 => Ok(Inner::Ip(Some(4), packet)),
        PPP_IPV6 => Ok(Inner::Ip(Some(6), packet)),
        _ => Err(DropReason::NotIp),
    }
}

/// What a Cisco MetaData header tags (Cisco TrustSec inline tagging, as Wireshark's `cmd`
/// dissector reads it): version, length, options and the Security Group Tag (6 bytes), then the
/// EtherType of the payload.
fn cisco_metadata(frame: &[u8]) -> Result<Inner<'_>, DropReason> {
    let (header, payload) = frame
        .split_first_chunk::<8>()
        .ok_or(DropReason::EncapMalformed)?;
    Ok(Inner::EtherType(
        u16::from_be_bytes([header[6], header[7]]),
        payload,
    ))
}

/// The PPP frame of a PPPoE session frame (RFC 2516 §4: version and type 0x11, code 0, session
/// id, length of the payload), bounded by its length (Ethernet padding cut off; a length past the
/// captured bytes, cut by the snaplen, reads what is there).
fn pppoe(frame: &[u8]) -> Result<Inner<'_>, DropReason> {
    let [0x11, 0, _, _, l0, l1, rest @ ..] = frame else {
        return Err(DropReason::EncapMalformed);
    };
    let len = usize::from(u16::from_be_bytes([*l0, *l1]));
    ppp(rest.get(..len).unwrap_or(rest))
}

/// What an MPLS label stack carries (RFC 3032 §2.1: label 20 bits, traffic class 3, bottom of
/// stack 1, TTL 8; each label one encapsulation layer): after the bottom of the stack, IPv4 or
/// IPv6 by the first nibble, or a pseudowire control word (first nibble 0, RFC 4385 §3) followed
/// by an Ethernet frame (RFC 4448); anything else is not IP.
fn mpls<'a>(mut stack: &'a [u8], depth: &mut u32) -> Result<Inner<'a>, DropReason> {
    loop {
        enter(depth)?;
        let [_, _, bottom, _, rest @ ..] = stack else {
            return Err(DropReason::EncapMalformed);
        };
        stack = rest;
        if bottom & 1 != 0 {
            break;
        }
    }
    match stack.first().map(|b| b >> 4) {
        Some(4) => Ok(Inner::Ip(Some(4), stack)),
        Some(6) => Ok(Inner::Ip(Some(6), stack)),
        Some(0) => Ok(Inner::Ethernet(
            stack.get(4..).ok_or(DropReason::EncapMalformed)?,
        )),
        Some(_) => Err(DropReason::NotIp),
        None => Err(DropReason::EncapMalformed),
    }
}

/// The IP version (4 or 6) and IP packet of an NFLOG frame ([`LinkType::Nflog`]; libpcap's
/// LINKTYPE_NFLOG description, linux/netfilter/nfnetlink_log.h). TLV lengths count their 4-byte
/// header, not the padding to 4 bytes; types carry two flag bits (nested, network byte order).
fn nflog(frame: &[u8]) -> Result<(u8, &[u8]), DropReason> {
    let [family, version, _, _, tlvs @ ..] = frame else {
        return Err(DropReason::LinkTruncated);
    };
    if *version != 0 {
        return Err(DropReason::EncapMalformed);
    }
    let ip_version = match family {
        2 => 4,
        10 => 6,
        _ => return Err(DropReason::NotIp),
    };
    // Host byte order: little-endian on the hosts that capture, unless the first TLV's length
    // only makes sense read big-endian (a big-endian capturing host).
    let fits = |len: u16| (4..=tlvs.len()).contains(&usize::from(len));
    let little = match tlvs {
        [a, b, ..] => fits(u16::from_le_bytes([*a, *b])) || !fits(u16::from_be_bytes([*a, *b])),
        _ => true,
    };
    let read = |a: u8, b: u8| {
        if little {
            u16::from_le_bytes([a, b])
        } else {
            u16::from_be_bytes([a, b])
        }
    };
    let mut rest = tlvs;
    loop {
        let [l0, l1, t0, t1, ..] = rest else {
            // No payload TLV (or the frame ends inside a TLV header).
            return Err(DropReason::EncapMalformed);
        };
        let len = usize::from(read(*l0, *l1));
        if len < 4 {
            return Err(DropReason::EncapMalformed);
        }
        if read(*t0, *t1) & 0x3fff == NFULA_PAYLOAD {
            // A payload past the captured bytes: the snaplen cut it; read what is there.
            let value = rest.get(4..len).unwrap_or(&rest[4..]);
            return Ok((ip_version, value));
        }
        rest = rest
            .get((len + 3) & !3..)
            .ok_or(DropReason::EncapMalformed)?;
    }
}

fn from_sliced<'a>(sliced: &LaxSlicedPacket<'a>, depth: u32) -> Result<Parsed<'a>, DropReason> {
    let (src, dst, ip_len, data_len, fragment, payload) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let header = v4.header();
            let src = IpAddr::V4(Ipv4Addr::from(header.source()));
            let dst = IpAddr::V4(Ipv4Addr::from(header.destination()));
            let fragment = header.is_fragmenting_payload().then(|| {
                (
                    FragmentId {
                        src,
                        dst,
                        protocol: header.protocol().0,
                        id: u32::from(header.identification()),
                    },
                    header.fragments_offset().value(),
                    header.more_fragments(),
                )
            });
            let payload = v4.payload();
            let header_len = header.slice().len() as u32;
            // Total Length 0 (TSO/LSO, BIG TCP on the sending host) or below the header: the IP
            // bytes are what was captured, as Wireshark counts them.
            let ip_len = if payload.len_source == LenSource::Slice && !payload.incomplete {
                header_len + payload.payload.len() as u32
            } else {
                u32::from(header.total_len())
            };
            (
                src,
                dst,
                ip_len,
                ip_len.saturating_sub(header_len),
                fragment,
                payload,
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let header = v6.header();
            let src = IpAddr::V6(Ipv6Addr::from(header.source()));
            let dst = IpAddr::V6(Ipv6Addr::from(header.destination()));
            let fragment = ipv6_fragment(v6.extensions().first_header(), v6.extensions().slice())
                .map(|(id, offset, more)| {
                    let protocol = v6.payload().ip_number.0;
                    (
                        FragmentId {
                            src,
                            dst,
                            protocol,
                            id,
                        },
                        offset,
                        more,
                    )
                });
            let payload = v6.payload();
            let ext_len = v6.extensions().slice().len() as u32;
            // Payload Length 0 without a parsed jumbo option (etherparse takes the rest of the
            // frame): the IP bytes are what was captured.
            let ip_len = if payload.len_source == LenSource::Slice && !payload.incomplete {
                40 + ext_len + payload.payload.len() as u32
            } else {
                40 + u32::from(header.payload_length())
            };
            (
                src,
                dst,
                ip_len,
                ip_len.saturating_sub(40 + ext_len),
                fragment,
                payload,
            )
        }
        Some(LaxNetSlice::Arp(_)) | None => {
            return Err(if sliced.stop_err.is_some() && sliced.net.is_none() {
                match sliced.stop_err.as_ref().map(|(_, layer)| *layer) {
                    Some(etherparse::err::Layer::Ipv4Header)
                    | Some(etherparse::err::Layer::Ipv6Header) => DropReason::IpMalformed,
                    _ => DropReason::NotIp,
                }
            } else {
                DropReason::NotIp
            })
        }
    };

    if let Some((id, offset, more)) = fragment {
        // Fragments of a TCP/UDP datagram, or of a tunnel datagram (GRE, IP in IP) that is
        // decapsulated once whole ([`reassembled`]). Fragments of a compressed datagram are not
        // reassembled (RFC 3173 §3.2 has the sender compress before it fragments; IPsec stacks
        // avoid it): counted as other protocols.
        return match payload.ip_number {
            IpNumber::TCP | IpNumber::UDP | IpNumber::GRE | IpNumber::IPV4 | IpNumber::IPV6 => {
                Ok(Parsed::Fragment(Fragment {
                    id,
                    ip_len,
                    offset: u32::from(offset) * 8,
                    len: data_len,
                    more,
                    data: payload.payload,
                }))
            }
            _ => Err(DropReason::OtherProtocol),
        };
    }

    let transport = match payload.ip_number {
        IpNumber::TCP => Transport::Tcp,
        IpNumber::UDP => Transport::Udp,
        IPCOMP => {
            let mut depth = depth;
            enter(&mut depth)?;
            let data = payload
                .payload
                .get(IPCOMP_HEADER_LEN..)
                .filter(|_| !payload.incomplete)
                .ok_or(DropReason::EncapMalformed)?;
            return Ok(Parsed::Compressed(Compressed {
                src,
                dst,
                ip_len,
                next_header: payload.payload[0],
                depth,
                data,
            }));
        }
        _ => return Err(DropReason::OtherProtocol),
    };

    match (&sliced.transport, transport) {
        (Some(TransportSlice::Tcp(tcp)), _) => Ok(Parsed::Packet(tcp_view(tcp, src, dst, ip_len))),
        (Some(TransportSlice::Udp(udp)), _) => {
            // A UDP length below the header's 8 bytes is bogus (Linux drops the datagram,
            // Wireshark gives it no stream) except 0 in a super-packet whose IP header states
            // no length either (UDP GSO / BIG TCP tunnels on the sending host, an IPv6
            // jumbogram): those count by the captured bytes like any super-packet.
            if udp.length() < 8 && !(udp.length() == 0 && ip_length_unstated(sliced)) {
                return Err(DropReason::TransportMalformed);
            }
            Ok(Parsed::Packet(udp_view(udp, src, dst, ip_len)))
        }
        (_, transport) => {
            transport_view(transport, src, dst, payload.payload, ip_len, 1).map(Parsed::Packet)
        }
    }
}

/// Whether the IP header directly around the transport header states no length (IPv4 Total
/// Length 0, IPv6 Payload Length 0): a TSO/GSO super-packet or a jumbogram.
fn ip_length_unstated(sliced: &LaxSlicedPacket<'_>) -> bool {
    match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => v4.header().total_len() == 0,
        Some(LaxNetSlice::Ipv6(v6)) => v6.header().payload_length() == 0,
        _ => false,
    }
}

/// The packet a reassembled datagram makes: its transport header and payload read from `bytes`
/// (the datagram's payload), counting `ip_len` IP bytes in `packets` IP packets. A tunnel
/// datagram's inner packet counts its own IP length (see [`reassembled`]).
pub fn datagram<'a>(
    id: &FragmentId,
    bytes: &'a [u8],
    ip_len: u32,
    packets: u32,
) -> Result<PacketView<'a>, DropReason> {
    reassembled(id, bytes, ip_len, packets, ip_len)
}

/// [`datagram`], for a datagram that `completing_ip_len`'s fragment made whole. A tunnel
/// datagram (GRE, IP in IP, a UDP tunnel: VXLAN, Geneve, GTP-U, GRE in UDP, AYIYA, LISP; a
/// 1500-byte user packet in GTP-U over a 1500-byte path fragments its outer datagram) is the
/// flow of its inner packet, counted as Wireshark counts it: each fragment before the
/// completing one by its own IP length, the completing one by the inner packet's, `packets` in
/// all. A UDP datagram that carries no whole inner TCP/UDP packet is the tunnel endpoints' UDP
/// flow, as for a tunnel packet that came whole.
pub fn reassembled<'a>(
    id: &FragmentId,
    bytes: &'a [u8],
    ip_len: u32,
    packets: u32,
    completing_ip_len: u32,
) -> Result<PacketView<'a>, DropReason> {
    let inner = match IpNumber(id.protocol) {
        IpNumber::TCP => {
            return transport_view(Transport::Tcp, id.src, id.dst, bytes, ip_len, packets)
        }
        IpNumber::UDP => reassembled_udp_tunnel(bytes),
        IpNumber::GRE => gre(bytes).ok(),
        IpNumber::IPV4 => Some(Inner::Ip(Some(4), bytes)),
        IpNumber::IPV6 => Some(Inner::Ip(Some(6), bytes)),
        _ => return Err(DropReason::OtherProtocol),
    };
    match inner.map(|inner| decapsulate(inner, 1)) {
        Some(Ok(Parsed::Packet(view))) => Ok(PacketView {
            packets,
            ip_len: ip_len
                .saturating_sub(completing_ip_len)
                .saturating_add(view.ip_len),
            ..view
        }),
        _ if id.protocol == IpNumber::UDP.0 => {
            transport_view(Transport::Udp, id.src, id.dst, bytes, ip_len, packets)
        }
        Some(Err(drop)) => Err(drop),
        _ => Err(DropReason::EncapMalformed),
    }
}

/// What a reassembled UDP datagram tunnels, if it is a tunnel.
#[cold]
fn reassembled_udp_tunnel(bytes: &[u8]) -> Option<Inner<'_>> {
    let udp = UdpSlice::from_slice_lax(bytes).ok()?;
    let mut depth = 0;
    udp_tunnel(&udp, &mut depth).ok()?
}

fn transport_view(
    transport: Transport,
    src: IpAddr,
    dst: IpAddr,
    bytes: &[u8],
    ip_len: u32,
    packets: u32,
) -> Result<PacketView<'_>, DropReason> {
    let view = match transport {
        Transport::Tcp => match TcpSlice::from_slice(bytes) {
            Ok(tcp) => tcp_view(&tcp, src, dst, ip_len),
            Err(_) => bogus_tcp_view(bytes, src, dst, ip_len)?,
        },
        Transport::Udp => {
            let udp =
                UdpSlice::from_slice_lax(bytes).map_err(|_| DropReason::TransportMalformed)?;
            udp_view(&udp, src, dst, ip_len)
        }
    };
    Ok(PacketView { packets, ..view })
}

/// The (identification, offset in 8-byte units, more fragments) of the fragment header among an
/// IPv6 packet's extension headers, when it fragments the payload (the last such header wins).
///
/// The chain is walked here with bounds checks instead of etherparse's `Ipv6ExtensionSliceIter`:
/// that iterator (etherparse 0.21) trusts the whole chain to have been validated, but after a lax
/// parse that stopped at a bad header (a hop-by-hop header not first, a truncated header) it walks
/// on past the end of the slice with unchecked reads (out-of-bounds read; found by fuzzing).
fn ipv6_fragment(first: Option<IpNumber>, chain: &[u8]) -> Option<(u32, u16, bool)> {
    use etherparse::ip_number::{AUTH, IPV6_DEST_OPTIONS, IPV6_FRAG, IPV6_HOP_BY_HOP, IPV6_ROUTE};
    let mut next = first?;
    let mut rest = chain;
    let mut found = None;
    loop {
        let len = match next {
            IPV6_HOP_BY_HOP | IPV6_ROUTE | IPV6_DEST_OPTIONS => {
                (usize::from(*rest.get(1)?) + 1) * 8
            }
            IPV6_FRAG => 8,
            AUTH => (usize::from(*rest.get(1)?) + 2) * 4,
            _ => return found,
        };
        let Some(header) = rest.get(..len) else {
            return found;
        };
        if next == IPV6_FRAG {
            let offset = u16::from_be_bytes([header[2], header[3]]) >> 3;
            let more = header[3] & 1 != 0;
            if offset != 0 || more {
                let id = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
                found = Some((id, offset, more));
            }
        }
        next = IpNumber(header[0]);
        rest = &rest[len..];
    }
}

fn tcp_view<'a>(tcp: &TcpSlice<'a>, src: IpAddr, dst: IpAddr, ip_len: u32) -> PacketView<'a> {
    let header = tcp.header_slice();
    PacketView {
        src,
        dst,
        transport: Transport::Tcp,
        src_port: tcp.source_port(),
        dst_port: tcp.destination_port(),
        // Byte 13 of the TCP header holds CWR ECE URG ACK PSH RST SYN FIN (RFC 9293 §3.1).
        tcp_flags: header.get(13).copied().unwrap_or(0),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        ip_len,
        payload: tcp.payload(),
        packets: 1,
    }
}

/// A TCP header whose data offset is bogus (below 5 words, or past the bytes there: garbage, or
/// options cut by the snaplen) still has its ports: the packet counts toward that flow, as
/// Wireshark counts it, with no flags, sequence number or payload read from it (no state change,
/// nothing inspected). Fewer than 4 bytes is [`DropReason::TransportMalformed`].
fn bogus_tcp_view(
    bytes: &[u8],
    src: IpAddr,
    dst: IpAddr,
    ip_len: u32,
) -> Result<PacketView<'_>, DropReason> {
    let [s0, s1, d0, d1, ..] = bytes else {
        return Err(DropReason::TransportMalformed);
    };
    Ok(PacketView {
        src,
        dst,
        transport: Transport::Tcp,
        src_port: u16::from_be_bytes([*s0, *s1]),
        dst_port: u16::from_be_bytes([*d0, *d1]),
        tcp_flags: 0,
        seq: 0,
        ack: 0,
        ip_len,
        payload: &[],
        packets: 1,
    })
}

fn udp_view<'a>(udp: &UdpSlice<'a>, src: IpAddr, dst: IpAddr, ip_len: u32) -> PacketView<'a> {
    PacketView {
        src,
        dst,
        transport: Transport::Udp,
        src_port: udp.source_port(),
        dst_port: udp.destination_port(),
        tcp_flags: 0,
        seq: 0,
        ack: 0,
        ip_len,
        payload: udp.payload(),
        packets: 1,
    }
}

// The testkit's hand-written packet and encapsulation builders (std only), included here: linking
// the testkit into the library's own unit tests would link the library (its C symbols) twice.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../testkit/src/encap.rs"]
mod test_encap;
#[cfg(test)]
#[allow(dead_code)]
#[path = "../testkit/src/raw.rs"]
mod test_raw;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An Ethernet frame (with a VLAN tag when `vlan`) around a raw IP packet.
    fn ethernet(vlan: bool, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        if vlan {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        }
        f.extend_from_slice(if ip[0] >> 4 == 4 {
            &[0x08, 0x00]
        } else {
            &[0x86, 0xdd]
        });
        f.extend_from_slice(ip);
        f
    }

    #[test]
    fn a_bogus_udp_length_is_malformed_except_in_a_super_packet() {
        for v6 in [false, true] {
            let (src, dst): (IpAddr, IpAddr) = if v6 {
                (
                    "2001:db8::1".parse().unwrap(),
                    "2001:db8::2".parse().unwrap(),
                )
            } else {
                ("10.0.0.1".parse().unwrap(), "192.0.2.7".parse().unwrap())
            };
            let length_at = if v6 { 44 } else { 24 };
            for (port, payload) in [(53u16, vec![7u8; 30]), (4789, vec![0x08; 40])] {
                let good = test_raw::ip(false, (src, 50000), (dst, port), 0, 0, &payload);
                for bogus in [0u16, 1, 7] {
                    let mut frame = good.clone();
                    frame[length_at..length_at + 2].copy_from_slice(&bogus.to_be_bytes());
                    assert_eq!(
                        parse(LinkType::Raw, &frame),
                        Err(DropReason::TransportMalformed),
                        "UDP length {bogus}, v6 {v6}, port {port}"
                    );
                    let eth = ethernet(false, &frame);
                    assert_eq!(
                        parse(LinkType::Ethernet, &eth),
                        Err(DropReason::TransportMalformed)
                    );
                }
                // UDP length 0 in a super-packet (the IP header states no length either): the
                // captured bytes.
                let mut frame = good.clone();
                frame[length_at..length_at + 2].copy_from_slice(&[0, 0]);
                let ip_length_at = if v6 { 4 } else { 2 };
                frame[ip_length_at..ip_length_at + 2].copy_from_slice(&[0, 0]);
                match parse(LinkType::Raw, &frame) {
                    Ok(Parsed::Packet(view)) => {
                        assert_eq!(view.ip_len, frame.len() as u32);
                        assert_eq!(view.dst_port, port);
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        /// The fast path takes the common frame and, for any frame, answers as etherparse's lax
        /// slicing does: whole frames, then the same frames with bytes overwritten (mostly in the
        /// headers), cut short, or padded.
        #[test]
        fn the_fast_path_reads_frames_as_etherparse_does(
            v6 in any::<bool>(),
            tcp in any::<bool>(),
            vlan in any::<bool>(),
            ports in (prop::sample::select(vec![443u16, 53, 4789, 4790, 6081, 4754, 2152, 5072, 50000]),
                      prop::sample::select(vec![443u16, 53, 4789, 4790, 6081, 4754, 2152, 5072, 50000])),
            flags in any::<u8>(),
            seq in any::<u32>(),
            payload in prop::collection::vec(any::<u8>(), 0..64),
            edits in prop::collection::vec((0usize..100, any::<u8>()), 0..4),
            cut in prop::option::of(0usize..140),
            pad in 0usize..8,
        ) {
            let (src, dst): (IpAddr, IpAddr) = if v6 {
                ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap())
            } else {
                ("10.0.0.1".parse().unwrap(), "192.0.2.7".parse().unwrap())
            };
            let ip = test_raw::ip(tcp, (src, ports.0), (dst, ports.1), flags, seq, &payload);
            let whole = ethernet(vlan, &ip);
            let tunnel_port = !tcp
                && [4789, 4790, 6081, 4754, 2152, 5072]
                    .iter()
                    .any(|p| *p == ports.0 || *p == ports.1);
            prop_assert_eq!(fast_ethernet(&whole).is_some(), !tunnel_port);
            prop_assert_eq!(
                parse(LinkType::Ethernet, &whole),
                parse_sliced(LinkType::Ethernet, &whole)
            );
            let mut frame = whole;
            for (at, byte) in edits {
                if let Some(b) = frame.get_mut(at) {
                    *b = byte;
                }
            }
            frame.extend(std::iter::repeat_n(0u8, pad));
            if let Some(cut) = cut {
                frame.truncate(cut);
            }
            prop_assert_eq!(
                parse(LinkType::Ethernet, &frame),
                parse_sliced(LinkType::Ethernet, &frame)
            );
        }
    }

    /// An IPv6 packet (raw, LINKTYPE_RAW) with `next` as the first next-header value and `chain`
    /// (extension headers, then whatever follows) as its payload.
    fn ipv6(next: u8, chain: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(chain.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(chain);
        p
    }

    /// Regression (fuzz/artifacts/capi/crash-1a52fe49...): a hop-by-hop header followed by a
    /// second hop-by-hop header. etherparse's lax parse stops at the second one (not at the start)
    /// but its extension iterator walked on past the validated bytes: an out-of-bounds read
    /// ("slice::get_unchecked requires that the index is within the slice" with debug assertions).
    #[test]
    fn a_bad_extension_chain_is_walked_within_bounds() {
        let chains: [(u8, &[u8]); 6] = [
            // hop-by-hop -> hop-by-hop (not at start), nothing after.
            (0, &[0, 0, 0, 0, 0, 0, 0, 0]),
            // hop-by-hop -> destination options announcing 16 bytes, 8 present.
            (0, &[60, 0, 0, 0, 0, 0, 0, 0, 17, 1, 0, 0, 0, 0, 0, 0]),
            // routing -> fragment, cut short.
            (43, &[44, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0]),
            // authentication header -> authentication header, cut short.
            (51, &[51, 0, 0, 0, 0, 0, 0, 0, 51]),
            // hop-by-hop claiming 2048 bytes.
            (0, &[17, 255, 0, 0, 0, 0, 0, 0]),
            // fragment -> hop-by-hop.
            (44, &[0, 0, 0, 1, 0, 0, 0, 7]),
        ];
        for (next, chain) in chains {
            let frame = ipv6(next, chain);
            for len in 0..=frame.len() {
                let _ = parse(LinkType::Raw, &frame[..len]);
            }
        }
    }

    #[test]
    fn a_tcp_header_with_a_bogus_data_offset_counts_by_its_ports() {
        // 10.0.0.1:4660 -> 10.0.0.2:80, data offset 4 (below the minimum of 5), SYN|RST set.
        let mut tcp = vec![
            0x12, 0x34, 0, 80, 0, 0, 0, 9, 0, 0, 0, 0, 0x40, 0x06, 0xff, 0xff,
        ];
        tcp.extend_from_slice(&[0; 4]);
        tcp.extend_from_slice(b"payload");
        let mut packet = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        packet.extend_from_slice(&tcp);
        let total = packet.len() as u16;
        packet[2..4].copy_from_slice(&total.to_be_bytes());
        let view = match parse(LinkType::Raw, &packet) {
            Ok(Parsed::Packet(view)) => view,
            other => panic!("{other:?}"),
        };
        assert_eq!((view.src_port, view.dst_port), (0x1234, 80));
        assert_eq!((view.tcp_flags, view.seq, view.payload), (0, 0, &[][..]));
        assert_eq!(view.ip_len, u32::from(total));
        // A data offset of 15 words past the segment's 27 bytes (options cut short).
        packet[20 + 12] = 0xf0;
        assert!(matches!(parse(LinkType::Raw, &packet), Ok(Parsed::Packet(v)) if v.dst_port == 80));
        // Fewer than the 4 bytes of the ports.
        let mut cut = packet[..23].to_vec();
        cut[2..4].copy_from_slice(&23u16.to_be_bytes());
        assert_eq!(
            parse(LinkType::Raw, &cut),
            Err(DropReason::TransportMalformed)
        );
    }

    #[test]
    fn ipv6_fragments_are_found_after_other_extension_headers() {
        // hop-by-hop (8 bytes) -> fragment (first fragment: offset 0, more) -> UDP.
        let mut chain = vec![44, 0, 1, 4, 0, 0, 0, 0];
        chain.extend_from_slice(&[17, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe]);
        chain.extend_from_slice(&[0x13, 0x88, 0x00, 0x35, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        match parse(LinkType::Raw, &ipv6(0, &chain)) {
            Ok(Parsed::Fragment(f)) => {
                assert_eq!((f.id.id, f.id.protocol), (0xcafe_babe, 17));
                assert_eq!((f.offset, f.more, f.len), (0, true, 16));
                let view = datagram(&f.id, f.data, f.ip_len, 1).expect("UDP header");
                assert_eq!((view.src_port, view.dst_port), (5000, 53));
            }
            other => panic!("{other:?}"),
        }
        // A later fragment (offset 2, no more) of the same datagram.
        let later = [17, 0, 0, 16, 0xca, 0xfe, 0xba, 0xbe, 9, 9, 9, 9];
        match parse(LinkType::Raw, &ipv6(44, &later)) {
            Ok(Parsed::Fragment(f)) => {
                assert_eq!((f.id.id, f.more, f.ip_len), (0xcafe_babe, false, 40 + 12));
                assert_eq!((f.offset, f.len, f.data), (16, 4, &[9u8, 9, 9, 9][..]));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ipv6_fragment(Some(IpNumber(44)), &later[..7]),
            None,
            "cut short"
        );
        assert_eq!(ipv6_fragment(None, &later), None);
        // An atomic fragment (offset 0, no more) does not fragment the payload.
        assert_eq!(
            ipv6_fragment(Some(IpNumber(44)), &[17, 0, 0, 0, 0, 0, 0, 1]),
            None
        );
    }

    // Encapsulations: each built by the testkit around a raw IP packet of the inner flow.
    mod encap {
        use super::super::test_encap::{self as e, ether_type_of, ethernet};
        use super::super::test_raw::{fragment, ip, ip_packet};
        use super::super::*;

        const PSH_ACK: u8 = 0x18;

        const V4: (&str, &str) = ("10.0.0.5", "198.51.100.7");
        const V6: (&str, &str) = ("2001:db8::5", "2001:db8::7");
        const OUTER4: (&str, &str) = ("192.0.2.1", "192.0.2.2");
        const OUTER6: (&str, &str) = ("2001:db8:ffff::1", "2001:db8:ffff::2");

        fn addr(a: &str) -> IpAddr {
            a.parse().unwrap()
        }

        /// The inner packet: TCP 40000 -> 443 with 100 bytes of payload.
        fn inner(v6: bool) -> Vec<u8> {
            let (c, s) = if v6 { V6 } else { V4 };
            ip(
                true,
                (addr(c), 40000),
                (addr(s), 443),
                PSH_ACK,
                7,
                &[0x16; 100],
            )
        }

        /// An outer IP packet between the tunnel endpoints carrying `payload` as `protocol`.
        fn outer(v6: bool, protocol: u8, payload: &[u8]) -> Vec<u8> {
            let (a, b) = if v6 { OUTER6 } else { OUTER4 };
            ip_packet(addr(a), addr(b), protocol, payload)
        }

        /// An outer UDP datagram between the tunnel endpoints.
        fn outer_udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
            let (a, b) = OUTER4;
            ip(false, (addr(a), sport), (addr(b), dport), 0, 0, payload)
        }

        /// `frame` parses as the inner packet: its addresses, ports and inner IP length.
        fn assert_inner(link: LinkType, frame: &[u8], v6: bool) {
            let packet = inner(v6);
            let (c, s) = if v6 { V6 } else { V4 };
            match parse(link, frame) {
                Ok(Parsed::Packet(view)) => {
                    assert_eq!((view.src, view.dst), (addr(c), addr(s)));
                    assert_eq!((view.src_port, view.dst_port), (40000, 443));
                    assert_eq!(view.transport, Transport::Tcp);
                    assert_eq!(view.ip_len, packet.len() as u32);
                    assert_eq!(view.payload, &[0x16; 100][..]);
                }
                other => panic!("{other:?}"),
            }
        }

        /// Every cut of `frame` parses or drops without a panic; and the cuts inside the
        /// encapsulation headers (before `inner_at`) are `drop`.
        fn assert_cuts(
            link: LinkType,
            frame: &[u8],
            from: usize,
            inner_at: usize,
            drop: DropReason,
        ) {
            for len in 0..=frame.len() {
                let got = parse(link, &frame[..len]);
                if (from..inner_at).contains(&len) {
                    assert_eq!(got, Err(drop), "cut at {len}");
                }
            }
        }

        #[test]
        fn pppoe_session_over_qinq_and_plain() {
            for v6 in [false, true] {
                let packet = inner(v6);
                let protocol = if v6 { e::PPP_IPV6 } else { e::PPP_IPV4 };
                let session = e::pppoe_session(protocol, &packet);
                let tags = [(e::ETHERTYPE_QINQ, 100), (e::ETHERTYPE_VLAN, 200)];
                let frame = ethernet(&tags, e::ETHERTYPE_PPPOE_SESSION, &session);
                assert_inner(LinkType::Ethernet, &frame, v6);
                let plain = ethernet(&[], e::ETHERTYPE_PPPOE_SESSION, &session);
                assert_inner(LinkType::Ethernet, &plain, v6);
                // Ethernet padding after the PPPoE payload is cut off by its length.
                let mut padded = plain.clone();
                padded.extend_from_slice(&[0; 20]);
                assert_inner(LinkType::Ethernet, &padded, v6);
                // Cut inside the PPPoE header or the PPP protocol: malformed.
                assert_cuts(
                    LinkType::Ethernet,
                    &frame,
                    22,
                    22 + 8,
                    DropReason::EncapMalformed,
                );
            }
            // Address/control and a compressed protocol field (RFC 1661 §6.5).
            let packet = inner(false);
            let mut session = vec![0x11, 0, 0, 1];
            session.extend_from_slice(&((3 + packet.len()) as u16).to_be_bytes());
            session.extend_from_slice(&[0xff, 0x03, 0x21]);
            session.extend_from_slice(&packet);
            let frame = ethernet(&[], e::ETHERTYPE_PPPOE_SESSION, &session);
            assert_inner(LinkType::Ethernet, &frame, false);
            // Under Linux cooked captures: SLL (protocol at 14) and SLL2 (protocol at 0).
            let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 2, 2, 2, 2, 2, 0, 0, 0x88, 0x64];
            sll.extend_from_slice(&session);
            assert_inner(LinkType::LinuxSll, &sll, false);
            let mut sll2 = vec![
                0x88, 0x64, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 2, 2, 2, 2, 2, 0, 0,
            ];
            sll2.extend_from_slice(&session);
            assert_inner(LinkType::LinuxSll2, &sll2, false);
        }

        #[test]
        fn pppoe_discovery_and_ppp_control_are_not_ip_and_bad_headers_are_malformed() {
            // PADI: version/type, code 0x09, session 0, length 4, a Service-Name tag.
            let padi = ethernet(
                &[],
                e::ETHERTYPE_PPPOE_DISCOVERY,
                &[0x11, 0x09, 0, 0, 0, 4, 1, 1, 0, 0],
            );
            assert_eq!(parse(LinkType::Ethernet, &padi), Err(DropReason::NotIp));
            let lcp = ethernet(
                &[],
                e::ETHERTYPE_PPPOE_SESSION,
                &e::pppoe_session(e::PPP_LCP, &[1, 1, 0, 4]),
            );
            assert_eq!(parse(LinkType::Ethernet, &lcp), Err(DropReason::NotIp));
            let mut session = e::pppoe_session(e::PPP_IPV4, &inner(false));
            session[0] = 0x21; // version 2
            let frame = ethernet(&[], e::ETHERTYPE_PPPOE_SESSION, &session);
            assert_eq!(
                parse(LinkType::Ethernet, &frame),
                Err(DropReason::EncapMalformed)
            );
            session[0] = 0x11;
            session[1] = 0x07; // a discovery code in a session frame
            let frame = ethernet(&[], e::ETHERTYPE_PPPOE_SESSION, &session);
            assert_eq!(
                parse(LinkType::Ethernet, &frame),
                Err(DropReason::EncapMalformed)
            );
            // PPP IPv4 carrying an IPv6 packet.
            let frame = ethernet(
                &[],
                e::ETHERTYPE_PPPOE_SESSION,
                &e::pppoe_session(e::PPP_IPV4, &inner(true)),
            );
            assert_eq!(
                parse(LinkType::Ethernet, &frame),
                Err(DropReason::IpMalformed)
            );
        }

        #[test]
        fn nflog_payload_tlv_little_and_big_endian() {
            for v6 in [false, true] {
                let family = if v6 { 10 } else { 2 };
                let frame = e::nflog(family, &inner(v6));
                assert_inner(LinkType::Nflog, &frame, v6);
                let tlvs: [(u16, &[u8]); 2] = [(10, b"x"), (9, &inner(v6))];
                let big = e::nflog_tlvs(family, &tlvs, true);
                assert_inner(LinkType::Nflog, &big, v6);
                // The payload TLV with the network-byte-order flag bit (0x4000) in its type.
                let flagged = e::nflog_tlvs(family, &[(0x4009, &inner(v6))], false);
                assert_inner(LinkType::Nflog, &flagged, v6);
            }
            // Cut by the snaplen inside the payload: the inner IP header's length counts.
            let frame = e::nflog(2, &inner(false));
            match parse(LinkType::Nflog, &frame[..frame.len() - 60]) {
                Ok(Parsed::Packet(view)) => assert_eq!(view.ip_len, inner(false).len() as u32),
                other => panic!("{other:?}"),
            }
        }

        #[test]
        fn link_layers_cut_short_or_not_ip() {
            let packet = inner(false);
            // Cuts inside each link-layer header are the link layer's.
            // (link type, frame, first cut checked, header length)
            let framed = [
                (LinkType::Fddi, e::fddi(&packet), 0, 21),
                (LinkType::CiscoHdlc, e::cisco_hdlc(0x0800, &packet), 0, 4),
                (LinkType::ArcnetLinux, e::arcnet(true, false, &packet), 0, 8),
                (LinkType::ArcnetBsd, e::arcnet(false, true, &packet), 0, 3),
                // [0xff] alone reads as a compressed protocol field: not IP.
                (LinkType::Ppp, e::ppp(e::PPP_IPV4, &packet), 2, 4),
                (
                    LinkType::Ppi,
                    e::ppi(1, &ethernet(&[], 0x0800, &packet)),
                    0,
                    12,
                ),
            ];
            for (link, frame, from, header) in &framed {
                assert_inner(*link, frame, false);
                assert_cuts(*link, frame, *from, *header, DropReason::LinkTruncated);
            }
            // LLC without SNAP (spanning tree), an ARCNET ARP, a PPI of PPI or of an unknown link
            // type, a Cisco HDLC keepalive: not IP.
            let mut stp = e::fddi(&packet);
            stp[13..16].copy_from_slice(&[0x42, 0x42, 0x03]);
            assert_eq!(parse(LinkType::Fddi, &stp), Err(DropReason::NotIp));
            let mut arp = e::arcnet(true, true, &packet);
            arp[4] = 0xf1;
            assert_eq!(parse(LinkType::ArcnetLinux, &arp), Err(DropReason::NotIp));
            let nested = e::ppi(192, &e::ppi(1, &ethernet(&[], 0x0800, &packet)));
            assert_eq!(parse(LinkType::Ppi, &nested), Err(DropReason::NotIp));
            let unknown = e::ppi(147, &packet);
            assert_eq!(parse(LinkType::Ppi, &unknown), Err(DropReason::NotIp));
            let slarp = e::cisco_hdlc(0x8035, &[0; 18]);
            assert_eq!(parse(LinkType::CiscoHdlc, &slarp), Err(DropReason::NotIp));
            // PPI wrapping raw IP and Linux cooked captures too.
            assert_inner(LinkType::Ppi, &e::ppi(101, &packet), false);
            // A BSD ARCNET exception packet (split flag 0xFF): four more header bytes.
            let mut exception = vec![0xbe, 0x50, 0xd4, 0xff, 0xff, 0xff, 0xd4, 0, 0x12, 0x34];
            exception.extend_from_slice(&packet);
            assert_inner(LinkType::ArcnetBsd, &exception, false);
        }

        #[test]
        fn ayiya_forward_only_else_a_plain_udp_flow() {
            for v6 in [false, true] {
                for log2 in [0, 4, 8, 15] {
                    let ayiya = e::ayiya(log2, &inner(v6));
                    assert_inner(LinkType::Raw, &outer_udp(40000, 5072, &ayiya), v6);
                }
            }
            // An identity longer than the datagram: not AYIYA.
            let mut long = e::ayiya(4, &inner(false));
            long[0] = 0xf1;
            assert_udp(&outer_udp(40000, 5072, &long), 5072);
            let mut echo = e::ayiya(4, &inner(false));
            echo[2] = 0x10; // opcode 0: no operation
            assert_udp(&outer_udp(40000, 5072, &echo), 5072);
            let mut wrong = e::ayiya(4, &inner(false));
            wrong[3] = 41; // says IPv6, carries IPv4
            assert_udp(&outer_udp(40000, 5072, &wrong), 5072);
        }

        #[test]
        fn cisco_metadata_security_group_tags() {
            for v6 in [false, true] {
                let packet = inner(v6);
                // Version 1, length 1, options 0x0001 (an SGT), SGT 2, then the EtherType.
                let mut cmd = vec![1, 1, 0, 1, 0, 2];
                cmd.extend_from_slice(&ether_type_of(&packet).to_be_bytes());
                cmd.extend_from_slice(&packet);
                assert_inner(LinkType::Ethernet, &ethernet(&[], 0x8909, &cmd), v6);
                // Under a VLAN tag.
                let tagged = ethernet(&[(e::ETHERTYPE_VLAN, 10)], 0x8909, &cmd);
                assert_inner(LinkType::Ethernet, &tagged, v6);
            }
            assert_eq!(
                parse(
                    LinkType::Ethernet,
                    &ethernet(&[], 0x8909, &[1, 1, 0, 1, 0, 2, 8])
                ),
                Err(DropReason::EncapMalformed)
            );
        }

        #[test]
        fn lisp_data_and_encapsulated_control_messages() {
            for v6 in [false, true] {
                // Data plane: flags, nonce/map-version, instance ID / locator status bits.
                let mut data = vec![0x80, 0, 0, 1, 0, 0, 0, 1];
                data.extend_from_slice(&inner(v6));
                assert_inner(LinkType::Raw, &outer_udp(61000, 4341, &data), v6);
                // A reply from the data port to an ephemeral one.
                assert_inner(LinkType::Raw, &outer_udp(4341, 61000, &data), v6);
                // Control plane: an Encapsulated Control Message (type 8).
                let mut ecm = vec![0x80, 0, 0, 0];
                ecm.extend_from_slice(&inner(v6));
                assert_inner(LinkType::Raw, &outer_udp(4342, 4342, &ecm), v6);
            }
            // Other control messages (a Map-Request, type 1) and no IP inside: plain UDP flows.
            let mut request = vec![0x10, 0, 0, 1];
            request.extend_from_slice(&inner(false));
            assert_udp(&outer_udp(4342, 4342, &request), 4342);
            assert_udp(
                &outer_udp(61000, 4341, &[0x80, 0, 0, 1, 0, 0, 0, 1, 0x12]),
                4341,
            );
            assert_udp(&outer_udp(61000, 4341, &[0x80, 0, 0]), 4341);
        }

        /// `frame` is a plain UDP packet of the outer endpoints to `port`.
        fn assert_udp(frame: &[u8], port: u16) {
            match parse(LinkType::Raw, frame) {
                Ok(Parsed::Packet(view)) => {
                    assert_eq!(view.transport, Transport::Udp);
                    assert_eq!(view.dst_port, port);
                    assert_eq!(view.dst, addr(OUTER4.1));
                }
                other => panic!("{other:?}"),
            }
        }

        #[test]
        fn nflog_bad_headers_and_tlvs_are_counted_drops() {
            let packet = inner(false);
            let frame = e::nflog(2, &packet);
            // Header cut short: the link layer; then TLVs before the payload cut: malformed
            // (header 4, packet-hdr TLV 8, prefix TLV 12, payload TLV header 4).
            assert_cuts(LinkType::Nflog, &frame, 0, 4, DropReason::LinkTruncated);
            assert_cuts(
                LinkType::Nflog,
                &frame,
                4,
                4 + 8 + 12 + 4,
                DropReason::EncapMalformed,
            );
            let mut bad = frame.clone();
            bad[1] = 1; // version 1
            assert_eq!(
                parse(LinkType::Nflog, &bad),
                Err(DropReason::EncapMalformed)
            );
            let mut bad = frame.clone();
            bad[0] = 7; // AF_BRIDGE
            assert_eq!(parse(LinkType::Nflog, &bad), Err(DropReason::NotIp));
            // A TLV length below its own header.
            let mut bad = frame.clone();
            bad[4..6].copy_from_slice(&3u16.to_le_bytes());
            assert_eq!(
                parse(LinkType::Nflog, &bad),
                Err(DropReason::EncapMalformed)
            );
            // A TLV length past the frame.
            let mut bad = frame.clone();
            bad[4..6].copy_from_slice(&4000u16.to_le_bytes());
            assert_eq!(
                parse(LinkType::Nflog, &bad),
                Err(DropReason::EncapMalformed)
            );
            // No payload TLV.
            let none = e::nflog_tlvs(2, &[(1, &[8, 0, 3, 0]), (10, b"x")], false);
            assert_eq!(
                parse(LinkType::Nflog, &none),
                Err(DropReason::EncapMalformed)
            );
            // AF_INET with an IPv6 payload.
            let mixed = e::nflog(2, &inner(true));
            assert_eq!(parse(LinkType::Nflog, &mixed), Err(DropReason::IpMalformed));
            assert_eq!(LinkType::from_linktype(239), Some(LinkType::Nflog));
        }

        #[test]
        fn null_headers_read_as_wireshark_reads_them() {
            for v6 in [false, true] {
                let packet = inner(v6);
                let family: u32 = if v6 { 30 } else { 2 };
                let ether_type = ether_type_of(&packet);
                let mut headers = vec![
                    family.to_le_bytes(),
                    family.to_be_bytes(),
                    // An EtherType in the last two bytes (the frame of PcapPlusPlus's
                    // NullLoopback.pcap: 0f 00 08 00).
                    [0x0f, 0, (ether_type >> 8) as u8, ether_type as u8],
                    [0, 0, (ether_type >> 8) as u8, ether_type as u8],
                ];
                if !v6 {
                    // IRIX, UNICOS/mp: the family (below 6) in the upper half.
                    headers.push((family << 16).to_le_bytes());
                }
                for header in headers {
                    let mut frame = header.to_vec();
                    frame.extend_from_slice(&packet);
                    assert_inner(LinkType::Null, &frame, v6);
                }
                // PPP in HDLC framing instead of a header.
                let ppp = e::ppp(if v6 { e::PPP_IPV6 } else { e::PPP_IPV4 }, &packet);
                assert_eq!(&ppp[..2], &[0xff, 0x03]);
                assert_inner(LinkType::Null, &ppp, v6);
            }
            // A family that is no IP one, and an 802.3 length: not IP.
            let mut frame = 7u32.to_le_bytes().to_vec();
            frame.extend_from_slice(&inner(false));
            assert_eq!(parse(LinkType::Null, &frame), Err(DropReason::NotIp));
            frame[..4].copy_from_slice(&[0, 0, 0x05, 0xdc]);
            assert_eq!(parse(LinkType::Null, &frame), Err(DropReason::NotIp));
        }

        #[test]
        fn gre_with_optional_fields_ethernet_and_pptp_ppp() {
            for v6 in [false, true] {
                let packet = inner(v6);
                let et = ether_type_of(&packet);
                for (c, k, s) in [
                    (false, None, None),
                    (true, Some(7), Some(9)),
                    (false, Some(7), None),
                ] {
                    let frame = outer(v6, 47, &e::gre(c, k, s, et, &packet));
                    assert_inner(LinkType::Raw, &frame, v6);
                }
                let bridged = e::gre(
                    false,
                    Some(1),
                    None,
                    e::ETHERTYPE_TEB,
                    &ethernet(&[(e::ETHERTYPE_VLAN, 5)], et, &packet),
                );
                assert_inner(LinkType::Raw, &outer(false, 47, &bridged), v6);
                let protocol = if v6 { e::PPP_IPV6 } else { e::PPP_IPV4 };
                for (seq, ack) in [(Some(3), Some(2)), (Some(3), None), (None, Some(2))] {
                    let pptp = e::pptp_gre(0x55, seq, ack, &e::ppp(protocol, &packet));
                    assert_inner(LinkType::Raw, &outer(false, 47, &pptp), v6);
                }
            }
        }

        /// ERSPAN (draft-foschiano-erspan): a mirrored Ethernet frame, as Wireshark reads it.
        #[test]
        fn erspan_types_one_two_and_three_carry_ethernet() {
            for v6 in [false, true] {
                let packet = inner(v6);
                let frame = ethernet(&[(e::ETHERTYPE_VLAN, 5)], ether_type_of(&packet), &packet);
                // Type I: no sequence number, no ERSPAN header.
                let one = e::gre(false, None, None, 0x88be, &frame);
                assert_inner(LinkType::Raw, &outer(false, 47, &one), v6);
                // Type II: sequence number, 8-byte header of version 1.
                let mut two = vec![0x10, 0x05, 0x00, 0x2a, 0, 0, 0, 3];
                two.extend_from_slice(&frame);
                let two = e::gre(false, None, Some(9), 0x88be, &two);
                assert_inner(LinkType::Raw, &outer(true, 47, &two), v6);
                // Type III: 12-byte header of version 2, with and without its 8-byte subheader.
                for o in [false, true] {
                    let mut three = vec![0x20, 0x05, 0x00, 0x2a, 1, 2, 3, 4, 0, 0, 0, u8::from(o)];
                    if o {
                        three.extend_from_slice(&[7; 8]);
                    }
                    three.extend_from_slice(&frame);
                    let three = e::gre(false, None, Some(9), 0x22eb, &three);
                    assert_inner(LinkType::Raw, &outer(false, 47, &three), v6);
                }
            }
            // Cut inside the ERSPAN headers, or a type III header of another version.
            let short = e::gre(false, None, Some(9), 0x88be, &[0x10, 0, 0]);
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 47, &short)),
                Err(DropReason::EncapMalformed)
            );
            let mut three = vec![0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 7, 7];
            let cut = e::gre(false, None, Some(9), 0x22eb, &three);
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 47, &cut)),
                Err(DropReason::EncapMalformed)
            );
            three[0] = 0x10;
            three[11] = 0;
            let v1 = e::gre(false, None, Some(9), 0x22eb, &three);
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 47, &v1)),
                Err(DropReason::EncapMalformed)
            );
        }

        #[test]
        fn gre_bad_headers_are_counted_drops() {
            let packet = inner(false);
            let gre = e::gre(true, Some(7), Some(9), 0x0800, &packet);
            let frame = outer(false, 47, &gre);
            assert_cuts(
                LinkType::Raw,
                &frame,
                20,
                20 + 16,
                DropReason::EncapMalformed,
            );
            let mut routed = gre.clone();
            routed[0] |= 0x40; // RFC 1701 routing present
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 47, &routed)),
                Err(DropReason::EncapMalformed)
            );
            let mut v2 = gre.clone();
            v2[1] = 2;
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 47, &v2)),
                Err(DropReason::EncapMalformed)
            );
            // Version 1 without its key, or not carrying PPP.
            let mut v1 = e::pptp_gre(1, Some(1), None, &e::ppp(e::PPP_IPV4, &packet));
            v1[0] &= !0x20;
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 47, &v1)),
                Err(DropReason::EncapMalformed)
            );
            let mut v1 = e::pptp_gre(1, Some(1), None, &e::ppp(e::PPP_IPV4, &packet));
            v1[2..4].copy_from_slice(&0x0800u16.to_be_bytes());
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 47, &v1)),
                Err(DropReason::EncapMalformed)
            );
            // A PPTP acknowledgment carries nothing; PPP LCP is not IP; nor is an unknown EtherType.
            let ack = e::pptp_gre(1, None, Some(5), &[]);
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 47, &ack)),
                Err(DropReason::NotIp)
            );
            let lcp = e::pptp_gre(1, Some(1), None, &e::ppp(e::PPP_LCP, &[1, 1, 0, 4]));
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 47, &lcp)),
                Err(DropReason::NotIp)
            );
            // ERSPAN type II whose header is not version 1.
            let erspan = e::gre(false, None, Some(1), 0x88be, &[0; 40]);
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 47, &erspan)),
                Err(DropReason::EncapMalformed)
            );
            // GRE carrying Ethernet cut inside the Ethernet header.
            let teb = e::gre(false, None, None, e::ETHERTYPE_TEB, &[4; 10]);
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 47, &teb)),
                Err(DropReason::EncapMalformed)
            );
        }

        #[test]
        fn vxlan_only_with_a_valid_header() {
            for v6 in [false, true] {
                let packet = inner(v6);
                let frame = ethernet(&[], ether_type_of(&packet), &packet);
                let udp = outer_udp(51000, 4789, &e::vxlan(42, &frame));
                assert_inner(LinkType::Raw, &udp, v6);
            }
            let packet = inner(false);
            let frame = ethernet(&[], ether_type_of(&packet), &packet);
            // I flag clear, or no whole inner Ethernet header: a plain UDP flow to port 4789.
            let mut bad = e::vxlan(42, &frame);
            bad[0] = 0;
            let short = e::vxlan(42, &frame[..13]);
            for payload in [bad, short, vec![0x08, 0, 0]] {
                let udp = outer_udp(51000, 4789, &payload);
                match parse(LinkType::Raw, &udp) {
                    Ok(Parsed::Packet(view)) => {
                        assert_eq!((view.src_port, view.dst_port), (51000, 4789));
                        assert_eq!(view.ip_len, udp.len() as u32);
                    }
                    other => panic!("{other:?}"),
                }
            }
            // From port 4789 to a higher port (the tunnel end's reply): VXLAN, as Wireshark tries
            // the lower port first; to a lower port (a DNS query from port 4789): plain UDP.
            for v6 in [false, true] {
                let packet = inner(v6);
                let frame = ethernet(&[], ether_type_of(&packet), &packet);
                assert_inner(
                    LinkType::Raw,
                    &outer_udp(4789, 51000, &e::vxlan(42, &frame)),
                    v6,
                );
            }
            let udp = outer_udp(4789, 53, &e::vxlan(42, &frame));
            assert!(
                matches!(parse(LinkType::Raw, &udp), Ok(Parsed::Packet(v)) if v.src_port == 4789)
            );
        }

        /// A VXLAN-GPE header with next protocol `next` around `payload`.
        fn vxlan_gpe_header(next: u8, payload: &[u8]) -> Vec<u8> {
            let mut h = vec![0x0c, 0, 0, next, 0, 0, 42, 0];
            h.extend_from_slice(payload);
            h
        }

        #[test]
        fn vxlan_gpe_carrying_ip_or_ethernet_either_way() {
            for v6 in [false, true] {
                let packet = inner(v6);
                let frame = ethernet(&[], ether_type_of(&packet), &packet);
                let next = if v6 { 2 } else { 1 };
                for (src, dst) in [(51000, 4790), (4790, 51000)] {
                    let ip = vxlan_gpe_header(next, &packet);
                    assert_inner(LinkType::Raw, &outer_udp(src, dst, &ip), v6);
                    let eth = vxlan_gpe_header(3, &frame);
                    assert_inner(LinkType::Raw, &outer_udp(src, dst, &eth), v6);
                }
            }
            // No P flag (what Wireshark also reads): IP whose version agrees with the next
            // protocol, as arkime's synthetic capture has it.
            for v6 in [false, true] {
                let packet = inner(v6);
                let mut no_p = vxlan_gpe_header(if v6 { 2 } else { 1 }, &packet);
                no_p[0] = 0x08;
                assert_inner(LinkType::Raw, &outer_udp(51000, 4790, &no_p), v6);
            }
            // No P flag with a version that disagrees or with Ethernet, NSH (4), or Ethernet
            // cut short: the tunnel endpoints' UDP flow.
            let packet = inner(false);
            let frame = ethernet(&[], ether_type_of(&packet), &packet);
            let mut no_p_v6 = vxlan_gpe_header(2, &packet);
            no_p_v6[0] = 0x08;
            let mut no_p_eth = vxlan_gpe_header(3, &frame);
            no_p_eth[0] = 0x08;
            for payload in [
                no_p_v6,
                no_p_eth,
                vxlan_gpe_header(4, &packet),
                vxlan_gpe_header(3, &[0; 13]),
            ] {
                let udp = outer_udp(51000, 4790, &payload);
                assert!(matches!(
                    parse(LinkType::Raw, &udp),
                    Ok(Parsed::Packet(v)) if (v.src_port, v.dst_port) == (51000, 4790)
                ));
            }
        }

        /// A Geneve header (RFC 8926 §3.4) with `options` 4-byte words of options.
        fn geneve_header(options: u8, protocol: u16, payload: &[u8]) -> Vec<u8> {
            let mut h = vec![options & 0x3f, 0];
            h.extend_from_slice(&protocol.to_be_bytes());
            h.extend_from_slice(&[0, 0, 42, 0]);
            h.extend(std::iter::repeat_n(0xab, usize::from(options) * 4));
            h.extend_from_slice(payload);
            h
        }

        #[test]
        fn geneve_with_options_ethernet_or_ip_and_gre_in_udp() {
            for v6 in [false, true] {
                let packet = inner(v6);
                let frame = ethernet(&[], ether_type_of(&packet), &packet);
                for options in [0, 2] {
                    let g = geneve_header(options, 0x6558, &frame);
                    assert_inner(LinkType::Raw, &outer_udp(51000, 6081, &g), v6);
                    // The reply, from the tunnel's port.
                    assert_inner(LinkType::Raw, &outer_udp(6081, 51000, &g), v6);
                    let g = geneve_header(options, ether_type_of(&packet), &packet);
                    assert_inner(LinkType::Raw, &outer_udp(51000, 6081, &g), v6);
                }
                let gre = e::gre(false, None, None, ether_type_of(&packet), &packet);
                assert_inner(LinkType::Raw, &outer_udp(51000, 4754, &gre), v6);
            }
            // Version 1, options longer than the datagram, a cut Ethernet header: plain UDP.
            let packet = inner(false);
            let frame = ethernet(&[], ether_type_of(&packet), &packet);
            let mut version1 = geneve_header(0, 0x6558, &frame);
            version1[0] |= 0x40;
            let long_options = {
                let mut g = geneve_header(0, 0x6558, &[]);
                g[0] = 0x3f;
                g
            };
            let short = geneve_header(0, 0x6558, &frame[..13]);
            for payload in [version1, long_options, short, vec![0; 7]] {
                let udp = outer_udp(51000, 6081, &payload);
                match parse(LinkType::Raw, &udp) {
                    Ok(Parsed::Packet(view)) => {
                        assert_eq!((view.src_port, view.dst_port), (51000, 6081));
                        assert_eq!(view.ip_len, udp.len() as u32);
                    }
                    other => panic!("{other:?}"),
                }
            }
        }

        #[test]
        fn udp_tunnels_without_an_inner_transport_count_in_the_outer_udp_flow() {
            // ICMP (protocol 1) and ARP inside VXLAN, Geneve and GTP-U: no inner TCP/UDP header,
            // so the outer UDP datagram is the flow, with its own IP length.
            let icmp = ip_packet(addr(V4.0), addr(V4.1), 1, &[8, 0, 0, 0, 0, 1, 0, 1]);
            let arp = ethernet(&[], 0x0806, &[0; 28]);
            let icmp_frame = ethernet(&[], ether_type_of(&icmp), &icmp);
            let mut gtp = vec![0x30, 0xff];
            gtp.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
            gtp.extend_from_slice(&[0, 0, 0, 1]);
            gtp.extend_from_slice(&icmp);
            for (port, payload) in [
                (4789, e::vxlan(7, &icmp_frame)),
                (4789, e::vxlan(7, &arp)),
                (6081, geneve_header(0, 0x6558, &icmp_frame)),
                (6081, geneve_header(1, ether_type_of(&icmp), &icmp)),
                (2152, gtp),
            ] {
                let udp = outer_udp(51000, port, &payload);
                match parse(LinkType::Raw, &udp) {
                    Ok(Parsed::Packet(view)) => {
                        assert_eq!((view.src_port, view.dst_port), (51000, port));
                        assert_eq!(view.transport, Transport::Udp);
                        assert_eq!(view.ip_len, udp.len() as u32);
                    }
                    other => panic!("{port}: {other:?}"),
                }
            }
            // Not over UDP: ICMP inside GRE has no transport header at all and stays dropped.
            let gre = e::gre(false, None, None, ether_type_of(&icmp), &icmp);
            assert!(parse(LinkType::Raw, &outer(false, 47, &gre)).is_err());
        }

        #[test]
        fn ip_in_ip_all_four_ways() {
            for (outer_v6, inner_v6) in [(false, false), (false, true), (true, false), (true, true)]
            {
                let packet = inner(inner_v6);
                let protocol = if inner_v6 { 41 } else { 4 };
                let frame = outer(outer_v6, protocol, &packet);
                assert_inner(LinkType::Raw, &frame, inner_v6);
                let eth = ethernet(&[], ether_type_of(&frame), &frame);
                assert_inner(LinkType::Ethernet, &eth, inner_v6);
                // The inner version must match the protocol.
                let wrong = outer(outer_v6, if inner_v6 { 4 } else { 41 }, &packet);
                assert_eq!(parse(LinkType::Raw, &wrong), Err(DropReason::IpMalformed));
            }
            assert_eq!(
                parse(LinkType::Raw, &outer(false, 4, &[])),
                Err(DropReason::IpMalformed)
            );
        }

        #[test]
        fn mpls_stacks_to_ip_and_ethernet_pseudowire() {
            for v6 in [false, true] {
                let packet = inner(v6);
                let frame = ethernet(&[], e::ETHERTYPE_MPLS, &e::mpls(&[16, 17], &packet));
                assert_inner(LinkType::Ethernet, &frame, v6);
                let one = ethernet(&[(e::ETHERTYPE_VLAN, 3)], 0x8848, &e::mpls(&[3], &packet));
                assert_inner(LinkType::Ethernet, &one, v6);
                // Control word then an Ethernet frame (RFC 4448).
                let mut pw = vec![0, 0, 0, 1];
                pw.extend_from_slice(&ethernet(&[], ether_type_of(&packet), &packet));
                let frame = ethernet(&[], e::ETHERTYPE_MPLS, &e::mpls(&[100, 200], &pw));
                assert_inner(LinkType::Ethernet, &frame, v6);
            }
            let packet = inner(false);
            let frame = ethernet(&[], e::ETHERTYPE_MPLS, &e::mpls(&[16, 17], &packet));
            assert_cuts(
                LinkType::Ethernet,
                &frame,
                14,
                14 + 8 + 1,
                DropReason::EncapMalformed,
            );
            // A payload that is neither IP nor a control word.
            let other = ethernet(&[], e::ETHERTYPE_MPLS, &e::mpls(&[16], &[0x55; 30]));
            assert_eq!(parse(LinkType::Ethernet, &other), Err(DropReason::NotIp));
        }

        #[test]
        fn gtp_u_with_sequence_and_extension_headers() {
            for v6 in [false, true] {
                let packet = inner(v6);
                let plain = e::gtp_u(0x1234, None, &[], &packet);
                assert_inner(LinkType::Raw, &outer_udp(2152, 2152, &plain), v6);
                let seq = e::gtp_u(0x1234, Some(9), &[], &packet);
                assert_inner(LinkType::Raw, &outer_udp(40000, 2152, &seq), v6);
                // PDU session container (0x85) then a 6-byte one.
                let exts: [(u8, &[u8]); 2] = [(0x85, &[0x00, 0x09]), (0x40, &[1, 2, 3, 4, 5, 6])];
                let ext = e::gtp_u(0x1234, Some(9), &exts, &packet);
                assert_inner(LinkType::Raw, &outer_udp(2152, 40000, &ext), v6);
            }
            let packet = inner(false);
            let exts: [(u8, &[u8]); 1] = [(0x85, &[0x00, 0x09])];
            let ext = e::gtp_u(1, None, &exts, &packet);
            // GTP header 8 + optional 4 + extension 4.
            let frame = outer_udp(2152, 2152, &ext);
            assert_cuts(
                LinkType::Raw,
                &frame,
                28 + 8,
                28 + 16 + 1,
                DropReason::EncapMalformed,
            );
            let mut zero = ext.clone();
            zero[12] = 0; // an extension header of length 0
            assert_eq!(
                parse(LinkType::Raw, &outer_udp(2152, 2152, &zero)),
                Err(DropReason::EncapMalformed)
            );
            let mut long = ext.clone();
            long[12] = 200; // past the end
            assert_eq!(
                parse(LinkType::Raw, &outer_udp(2152, 2152, &long)),
                Err(DropReason::EncapMalformed)
            );
            // A G-PDU that is not IP.
            let ether = e::gtp_u(1, None, &[], &[0x02; 40]);
            assert_eq!(
                parse(LinkType::Raw, &outer_udp(2152, 2152, &ether)),
                Err(DropReason::NotIp)
            );
            // An echo request, GTPv2-C, GTP' (PT 0): plain UDP flows of the tunnel endpoints.
            let mut echo = e::gtp_u(0, Some(1), &[], &[]);
            echo[1] = 1;
            let mut v2 = plain_gtp(&packet);
            v2[0] = 0x48;
            let mut prime = plain_gtp(&packet);
            prime[0] = 0x20;
            for payload in [echo, v2, prime, vec![0x30, 255, 0]] {
                let udp = outer_udp(2152, 2152, &payload);
                match parse(LinkType::Raw, &udp) {
                    Ok(Parsed::Packet(view)) => assert_eq!(view.ip_len, udp.len() as u32),
                    other => panic!("{other:?}"),
                }
            }
        }

        fn plain_gtp(packet: &[u8]) -> Vec<u8> {
            e::gtp_u(1, None, &[], packet)
        }

        #[test]
        fn nesting_is_bounded() {
            let packet = inner(false);
            let mut frame = packet.clone();
            for layer in 1..=MAX_ENCAP_DEPTH + 1 {
                frame = outer(false, 4, &frame);
                let got = parse(LinkType::Raw, &frame);
                if layer <= MAX_ENCAP_DEPTH {
                    assert!(
                        matches!(got, Ok(Parsed::Packet(v)) if v.ip_len == packet.len() as u32),
                        "{layer}: {got:?}"
                    );
                } else {
                    assert_eq!(got, Err(DropReason::EncapTooDeep));
                }
            }
            // Each MPLS label is a layer.
            let labels: Vec<u32> = (0..MAX_ENCAP_DEPTH).collect();
            let ok = ethernet(&[], e::ETHERTYPE_MPLS, &e::mpls(&labels, &packet));
            assert_inner(LinkType::Ethernet, &ok, false);
            let labels: Vec<u32> = (0..=MAX_ENCAP_DEPTH).collect();
            let deep = ethernet(&[], e::ETHERTYPE_MPLS, &e::mpls(&labels, &packet));
            assert_eq!(
                parse(LinkType::Ethernet, &deep),
                Err(DropReason::EncapTooDeep)
            );
            // Mixed: GTP-U in VXLAN in GRE in PPPoE: 4 layers.
            let gtp = ip(
                false,
                (addr("10.9.0.1"), 2152),
                (addr("10.9.0.2"), 2152),
                0,
                0,
                &e::gtp_u(1, None, &[], &packet),
            );
            let vx = outer_udp(1, 4789, &e::vxlan(1, &ethernet(&[], 0x0800, &gtp)));
            let gre = outer(false, 47, &e::gre(false, None, None, 0x0800, &vx));
            let frame = ethernet(
                &[],
                e::ETHERTYPE_PPPOE_SESSION,
                &e::pppoe_session(e::PPP_IPV4, &gre),
            );
            assert_inner(LinkType::Ethernet, &frame, false);
        }

        /// Every byte of each tunnel frame set to each of a few values, and every cut of it:
        /// parsed or dropped, never a panic.
        #[test]
        fn mutated_tunnel_frames_never_panic() {
            let packet = inner(true);
            let ether = ethernet(&[], ether_type_of(&packet), &packet);
            let exts: [(u8, &[u8]); 1] = [(0x85, &[0, 9])];
            let frames: [(LinkType, Vec<u8>); 8] = [
                (
                    LinkType::Ethernet,
                    ethernet(
                        &[(e::ETHERTYPE_QINQ, 1)],
                        e::ETHERTYPE_PPPOE_SESSION,
                        &e::pppoe_session(e::PPP_IPV6, &packet),
                    ),
                ),
                (LinkType::Nflog, e::nflog(10, &packet)),
                (
                    LinkType::Raw,
                    outer(false, 47, &e::gre(true, Some(1), Some(2), 0x86dd, &packet)),
                ),
                (
                    LinkType::Raw,
                    outer(
                        true,
                        47,
                        &e::pptp_gre(1, Some(1), Some(1), &e::ppp(e::PPP_IPV6, &packet)),
                    ),
                ),
                (LinkType::Raw, outer_udp(1, 4789, &e::vxlan(1, &ether))),
                (LinkType::Raw, outer(true, 41, &packet)),
                (
                    LinkType::Ethernet,
                    ethernet(&[], e::ETHERTYPE_MPLS, &e::mpls(&[1, 2], &packet)),
                ),
                (
                    LinkType::Raw,
                    outer_udp(2152, 2152, &e::gtp_u(1, Some(1), &exts, &packet)),
                ),
            ];
            for (link, frame) in frames {
                assert!(
                    matches!(parse(link, &frame), Ok(Parsed::Packet(_))),
                    "{link:?}"
                );
                for at in 0..frame.len().min(120) {
                    for value in [
                        0x00, 0x01, 0x04, 0x08, 0x11, 0x30, 0x45, 0x60, 0x7f, 0x80, 0xff,
                    ] {
                        let mut m = frame.clone();
                        m[at] = value;
                        let _ = parse(link, &m);
                        let _ = parse(link, &m[..at + 1]);
                    }
                }
            }
        }

        #[test]
        fn inner_fragments_are_fragments_of_the_inner_datagram() {
            let packet = inner(false);
            let pieces = fragment(&packet, 64, 0x77);
            let frame = outer(false, 47, &e::gre(false, None, None, 0x0800, &pieces[1]));
            match parse(LinkType::Raw, &frame) {
                Ok(Parsed::Fragment(f)) => {
                    assert_eq!(
                        (f.id.src, f.id.dst, f.id.id),
                        (addr(V4.0), addr(V4.1), 0x77)
                    );
                    assert_eq!((f.offset, f.ip_len), (64, pieces[1].len() as u32));
                }
                other => panic!("{other:?}"),
            }
            // A fragmented outer packet is a fragment of the outer datagram, decapsulated once
            // reassembled.
            let gre = outer(false, 47, &e::gre(false, None, None, 0x0800, &packet));
            let pieces = fragment(&gre, 64, 9);
            let Ok(Parsed::Fragment(f)) = parse(LinkType::Raw, &pieces[0]) else {
                panic!("{:?}", parse(LinkType::Raw, &pieces[0]));
            };
            assert_eq!((f.id.protocol, f.id.id, f.offset), (47, 9, 0));
            let whole = &gre[20..];
            let total: u32 = pieces.iter().map(|p| p.len() as u32).sum();
            let last = pieces.last().unwrap().len() as u32;
            let view = reassembled(&f.id, whole, total, pieces.len() as u32, last).unwrap();
            assert_eq!((view.src, view.dst), (addr(V4.0), addr(V4.1)));
            assert_eq!(view.packets, pieces.len() as u32);
            assert_eq!(view.ip_len, total - last + packet.len() as u32);
        }
    }

    mod wifi {
        use super::super::test_encap::{self as e, ethernet};
        use super::super::test_raw::{ip, ip_packet};
        use super::super::*;

        const PSH_ACK: u8 = 0x18;
        const ARUBA: u16 = e::GRE_ARUBA_WLAN;

        fn addr(a: &str) -> IpAddr {
            a.parse().unwrap()
        }

        /// A TCP packet `client`:40000 -> `server`:443 with `len` bytes of payload.
        fn tcp(client: &str, server: &str, len: usize) -> Vec<u8> {
            ip(
                true,
                (addr(client), 40000),
                (addr(server), 443),
                PSH_ACK,
                7,
                &vec![0x16; len],
            )
        }

        /// The flow packet of `frame`: (source, destination, IP length, payload length).
        fn packet(link: LinkType, frame: &[u8]) -> (IpAddr, IpAddr, u32, usize) {
            match parse(link, frame) {
                Ok(Parsed::Packet(v)) => {
                    assert_eq!((v.src_port, v.dst_port, v.packets), (40000, 443, 1));
                    (v.src, v.dst, v.ip_len, v.payload.len())
                }
                other => panic!("{other:?}"),
            }
        }

        /// Every item of an A-MSDU frame: (source, IP length, packets) of each packet, or the drop.
        fn aggregate(link: LinkType, frame: &[u8]) -> Vec<Result<(IpAddr, u32, u32), DropReason>> {
            match parse(link, frame) {
                Ok(Parsed::Aggregate(msdus)) => msdus
                    .map(|m| match m {
                        Ok(Parsed::Packet(v)) => Ok((v.src, v.ip_len, v.packets)),
                        Ok(other) => panic!("{other:?}"),
                        Err(drop) => Err(drop),
                    })
                    .collect(),
                other => panic!("{other:?}"),
            }
        }

        /// Aruba's GRE around `wlan` in an outer IPv4 packet on Ethernet.
        fn aruba(protocol: u16, wlan: &[u8]) -> Vec<u8> {
            let gre = e::gre(false, None, None, protocol, wlan);
            let outer = ip_packet(addr("10.226.22.9"), addr("10.102.16.187"), 47, &gre);
            ethernet(&[], 0x0800, &outer)
        }

        /// Every cut of `frame` parses without panicking, A-MSDUs taken apart to the end; cuts
        /// in `from..header` are `drop`.
        fn assert_cuts(link: LinkType, frame: &[u8], from: usize, header: usize, drop: DropReason) {
            for len in 0..=frame.len() {
                let mut got = parse(link, &frame[..len]);
                if let Ok(Parsed::Aggregate(msdus)) = got {
                    // As the engine counts it: a packet, or the first subframe's drop.
                    let items: Vec<_> = msdus.collect();
                    if !items.iter().any(Result::is_ok) {
                        got = Err(items.first().map_or(DropReason::NotIp, |i| i.unwrap_err()));
                    }
                }
                if (from..header).contains(&len) {
                    assert_eq!(got, Err(drop), "cut at {len}");
                }
            }
        }

        #[test]
        fn data_frames_bare_and_under_radiotap_prism_avs_ppi() {
            for (c, s) in [("10.0.0.5", "198.51.100.7"), ("2001:db8::5", "2001:db8::7")] {
                let p = tcp(c, s, 100);
                let body = e::wlan_msdu(&p);
                // Data and QoS data, to and from the AP, 4 addresses (a mesh or WDS link), with
                // the HT Control of +HTC; the order bit without QoS adds nothing.
                let frames = [
                    e::wlan_data(e::WLAN_TO_DS, None, &body),
                    e::wlan_data(e::WLAN_FROM_DS, Some(0), &body),
                    e::wlan_data(e::WLAN_TO_DS | e::WLAN_FROM_DS, None, &body),
                    e::wlan_data(e::WLAN_TO_DS | e::WLAN_FROM_DS, Some(0), &body),
                    e::wlan_data(e::WLAN_FROM_DS | e::WLAN_ORDER, Some(0), &body),
                    e::wlan_data(
                        e::WLAN_TO_DS | e::WLAN_FROM_DS | e::WLAN_ORDER,
                        Some(0),
                        &body,
                    ),
                    e::wlan_data(e::WLAN_TO_DS | e::WLAN_ORDER, None, &body),
                ];
                let want = (addr(c), addr(s), p.len() as u32, 100);
                for wlan in &frames {
                    assert_eq!(packet(LinkType::Ieee80211, wlan), want);
                    for extended in [false, true] {
                        for fcs in [false, true] {
                            let r = e::radiotap(extended, fcs, wlan);
                            assert_eq!(packet(LinkType::Ieee80211Radiotap, &r), want);
                        }
                    }
                    assert_eq!(packet(LinkType::Ieee80211Prism, &e::prism(wlan)), want);
                    assert_eq!(packet(LinkType::Ieee80211Avs, &e::avs(wlan)), want);
                    // An AVS header under the Prism link type, as some drivers write it.
                    assert_eq!(packet(LinkType::Ieee80211Prism, &e::avs(wlan)), want);
                    assert_eq!(packet(LinkType::Ppi, &e::ppi(105, wlan)), want);
                    assert_eq!(
                        packet(LinkType::Ppi, &e::ppi(127, &e::radiotap(false, true, wlan))),
                        want
                    );
                }
            }
        }

        #[test]
        fn radiotap_fcs_is_cut_off_and_data_pad_skipped() {
            // IPv4 with Total Length 0 (TSO): the captured bytes count, without the FCS.
            let mut p = tcp("10.0.0.5", "198.51.100.7", 100);
            p[2..4].copy_from_slice(&[0, 0]);
            let wlan = e::wlan_data(e::WLAN_TO_DS, Some(0), &e::wlan_msdu(&p));
            let r = e::radiotap(false, true, &wlan);
            assert_eq!(packet(LinkType::Ieee80211Radiotap, &r).2, p.len() as u32);
            // Without the FCS flag the same 4 bytes would have been IP bytes.
            let mut no_flag = r.clone();
            no_flag[16] = 0;
            assert_eq!(
                packet(LinkType::Ieee80211Radiotap, &no_flag).2,
                p.len() as u32 + 4
            );
            // Data pad: the 26-byte QoS header padded to 28 bytes before the LLC.
            let mut padded = wlan[..26].to_vec();
            padded.extend_from_slice(&[0, 0]);
            padded.extend_from_slice(&wlan[26..]);
            let mut r = e::radiotap(false, false, &padded);
            r[16] = 0x20;
            assert_eq!(packet(LinkType::Ieee80211Radiotap, &r).2, p.len() as u32);
            // A radiotap length past the frame, an FCS flag on fewer than 4 bytes: cut short.
            let mut long = e::radiotap(false, false, &wlan);
            long[2..4].copy_from_slice(&u16::MAX.to_le_bytes());
            assert_eq!(
                parse(LinkType::Ieee80211Radiotap, &long),
                Err(DropReason::LinkTruncated)
            );
            let header = e::radiotap(false, true, &[]);
            assert_eq!(
                parse(LinkType::Ieee80211Radiotap, &header[..header.len() - 2]),
                Err(DropReason::LinkTruncated)
            );
        }

        #[test]
        fn amsdu_subframes_are_packets_of_their_own_flows() {
            let a = tcp("10.0.0.5", "198.51.100.7", 100);
            let b = tcp("2001:db8::5", "2001:db8::7", 30);
            let (va, vb) = (addr("10.0.0.5"), addr("2001:db8::5"));
            let (la, lb) = (a.len() as u32, b.len() as u32);
            let wlan = |packets: &[&[u8]]| {
                e::wlan_data(e::WLAN_FROM_DS, Some(e::WLAN_QOS_AMSDU), &e::amsdu(packets))
            };
            // Two flows: a packet each.
            let two = wlan(&[&a, &b]);
            assert_eq!(
                aggregate(LinkType::Ieee80211, &two),
                [Ok((va, la, 1)), Ok((vb, lb, 1))]
            );
            // One flow twice: the frame counts once, with the last subframe's length; a flow
            // coming back after another counts again.
            let small = tcp("10.0.0.5", "198.51.100.7", 3);
            let same = wlan(&[&a, &small]);
            assert_eq!(
                aggregate(LinkType::Ieee80211, &same),
                [Ok((va, 0, 0)), Ok((va, small.len() as u32, 1))]
            );
            let aba = wlan(&[&a, &b, &a]);
            assert_eq!(
                aggregate(LinkType::Ieee80211, &aba),
                [Ok((va, la, 1)), Ok((vb, lb, 1)), Ok((va, la, 1))]
            );
            // The same under radiotap, with an FCS, and in Aruba's GRE.
            let r = e::radiotap(true, true, &two);
            assert_eq!(
                aggregate(LinkType::Ieee80211Radiotap, &r),
                [Ok((va, la, 1)), Ok((vb, lb, 1))]
            );
            assert_eq!(
                aggregate(LinkType::Ethernet, &aruba(0x8240, &two)),
                [Ok((va, la, 1)), Ok((vb, lb, 1))]
            );
            // Padding after the last subframe; a subframe that is not IP beside one that is.
            let mut padded = two.clone();
            padded.extend_from_slice(&[0; 3]);
            assert_eq!(aggregate(LinkType::Ieee80211, &padded).len(), 2);
            let mut arp = e::amsdu(&[&a, &b]);
            let second = (14 + 8 + a.len()).next_multiple_of(4);
            arp[second + 14 + 6..second + 14 + 8].copy_from_slice(&[0x08, 0x06]);
            let arp = e::wlan_data(e::WLAN_FROM_DS, Some(e::WLAN_QOS_AMSDU), &arp);
            assert_eq!(
                aggregate(LinkType::Ieee80211, &arp),
                [Ok((va, la, 1)), Err(DropReason::NotIp)]
            );
            // An A-MSDU without a subframe is cut short.
            let empty = wlan(&[]);
            assert_eq!(
                parse(LinkType::Ieee80211, &empty),
                Err(DropReason::LinkTruncated)
            );
            // A subframe length past the frame (the snaplen): what is there is read.
            let cut = &two[..two.len() - 10];
            assert_eq!(
                aggregate(LinkType::Ieee80211, cut),
                [Ok((va, la, 1)), Ok((vb, lb, 1))]
            );
        }

        #[test]
        fn aruba_gre_carries_80211() {
            let p = tcp("10.0.0.5", "198.51.100.7", 100);
            let want = (addr("10.0.0.5"), addr("198.51.100.7"), p.len() as u32, 100);
            let wlan = e::wlan_data(e::WLAN_FROM_DS, Some(0), &e::wlan_msdu(&p));
            for protocol in [0x8200, 0x8210, 0x8240, 0x8370] {
                assert_eq!(packet(LinkType::Ethernet, &aruba(protocol, &wlan)), want);
            }
            // Not Aruba's 802.11 types: not decoded as 802.11.
            for protocol in [0x8201, 0x8380, 0x9000] {
                assert_eq!(
                    parse(LinkType::Ethernet, &aruba(protocol, &wlan)),
                    Err(DropReason::NotIp)
                );
            }
            // Cut inside the 802.11 header or the LLC: the tunnel's malformed header.
            let frame = aruba(ARUBA, &wlan);
            let at = frame.len() - wlan.len();
            for len in at..at + 26 + 8 {
                let mut cut = frame[..len].to_vec();
                // The outer IP and GRE lengths as if the frame ended there.
                let total = (len - 14) as u16;
                cut[14 + 2..14 + 4].copy_from_slice(&total.to_be_bytes());
                assert_eq!(
                    parse(LinkType::Ethernet, &cut),
                    Err(DropReason::EncapMalformed),
                    "{len}"
                );
            }
            // A protected frame inside: not IP.
            let protected = e::wlan_data(
                e::WLAN_FROM_DS | e::WLAN_PROTECTED,
                Some(0),
                &e::wlan_msdu(&p),
            );
            assert_eq!(
                parse(LinkType::Ethernet, &aruba(ARUBA, &protected)),
                Err(DropReason::NotIp)
            );
        }

        #[test]
        fn frames_without_an_ip_msdu_are_not_ip() {
            let p = tcp("10.0.0.5", "198.51.100.7", 100);
            let body = e::wlan_msdu(&p);
            let data = e::wlan_data(e::WLAN_TO_DS, Some(0), &body);
            let with = |f: fn(&mut Vec<u8>)| {
                let mut frame = data.clone();
                f(&mut frame);
                parse(LinkType::Ieee80211, &frame).map(|p| matches!(p, Parsed::Packet(_)))
            };
            // Protected (encrypted), Null, QoS Null, management (beacon), control (ACK),
            // protocol version 1, a later fragment, LLC without SNAP, an EAPOL MSDU.
            let cases: [fn(&mut Vec<u8>); 9] = [
                |f| f[1] |= e::WLAN_PROTECTED,
                |f| f[0] = 0x48,
                |f| f[0] = 0xc8,
                |f| f[0] = 0x80,
                |f| f[0] = 0xd4,
                |f| f[0] |= 1,
                |f| f[22] |= 1,
                |f| f[26..29].copy_from_slice(&[0x42, 0x42, 0x03]),
                |f| f[32..34].copy_from_slice(&[0x88, 0x8e]),
            ];
            for (i, case) in cases.iter().enumerate() {
                assert_eq!(with(*case), Err(DropReason::NotIp), "case {i}");
            }
            // The first fragment of a fragmented MSDU is read as far as it goes.
            assert_eq!(with(|f| f[1] |= e::WLAN_MORE_FRAGMENTS), Ok(true));
        }

        #[test]
        fn cut_short_at_every_length() {
            let p = tcp("10.0.0.5", "198.51.100.7", 100);
            let q = tcp("2001:db8::5", "2001:db8::7", 30);
            let body = e::wlan_msdu(&p);
            let four = e::WLAN_TO_DS | e::WLAN_FROM_DS;
            // (link type, frame, link-layer header length with the LLC/SNAP header)
            let frames = [
                (
                    LinkType::Ieee80211,
                    e::wlan_data(e::WLAN_TO_DS, None, &body),
                    24 + 8,
                ),
                (
                    LinkType::Ieee80211,
                    e::wlan_data(four | e::WLAN_ORDER, Some(0), &body),
                    36 + 8,
                ),
                (
                    LinkType::Ieee80211Radiotap,
                    e::radiotap(true, false, &e::wlan_data(0, Some(0), &body)),
                    26 + 26 + 8,
                ),
                (
                    LinkType::Ieee80211Prism,
                    e::prism(&e::wlan_data(0, None, &body)),
                    144 + 24 + 8,
                ),
                (
                    LinkType::Ieee80211Avs,
                    e::avs(&e::wlan_data(0, None, &body)),
                    64 + 24 + 8,
                ),
                (
                    LinkType::Ieee80211,
                    e::wlan_data(0, Some(e::WLAN_QOS_AMSDU), &e::amsdu(&[&p, &q])),
                    26 + 14 + 8,
                ),
            ];
            for (link, frame, header) in &frames {
                assert_cuts(*link, frame, 0, *header, DropReason::LinkTruncated);
            }
            // With the FCS flag, the last 4 bytes are the FCS whatever the cut: cuts never panic.
            let r = e::radiotap(
                false,
                true,
                &e::wlan_data(0, Some(e::WLAN_QOS_AMSDU), &e::amsdu(&[&p, &q])),
            );
            assert_cuts(
                LinkType::Ieee80211Radiotap,
                &r,
                0,
                18,
                DropReason::LinkTruncated,
            );
            let gre = aruba(
                ARUBA,
                &e::wlan_data(0, Some(e::WLAN_QOS_AMSDU), &e::amsdu(&[&p, &q])),
            );
            assert_cuts(LinkType::Ethernet, &gre, 0, 0, DropReason::LinkTruncated);
        }
    }
}
