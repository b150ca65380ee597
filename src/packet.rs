//! Link layer and IP/TCP/UDP slicing: one captured frame in, one borrowed [`PacketView`] out.
//!
//! Parsing never allocates and never panics; every frame that cannot become a flow packet comes back
//! as a [`DropReason`] the engine counts. Link types are pcap LINKTYPE numbers (tcpdump.org
//! link-layer header types); IP and transport slicing is etherparse's lax mode, so a frame truncated
//! by the capture's snaplen still counts with the length its IP header states.

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
    /// LINKTYPE_RAW (101): raw IPv4 or IPv6, chosen by the version nibble.
    Raw = 101,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, 4-byte address family in network byte order.
    Loop = 108,
    /// LINKTYPE_LINUX_SLL (113): Linux cooked capture v1, 16-byte header.
    LinuxSll = 113,
    /// LINKTYPE_IPV4 (228): raw IPv4.
    Ipv4 = 228,
    /// LINKTYPE_IPV6 (229): raw IPv6.
    Ipv6 = 229,
    /// LINKTYPE_LINUX_SLL2 (276): Linux cooked capture v2, 20-byte header.
    LinuxSll2 = 276,
}

impl LinkType {
    /// The link type for a pcap LINKTYPE number, or `None` for one this library does not decode.
    pub fn from_linktype(value: u32) -> Option<LinkType> {
        Some(match value {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
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
    /// IP length as the header states it: IPv4 total length, IPv6 40 + payload length; the
    /// captured IP bytes when the header states 0 (a TSO/LSO or BIG TCP super-packet captured on
    /// the sending host); for a reassembled datagram, the sum of its fragments' IP lengths.
    pub ip_len: u32,
    /// Transport payload as captured (may be shorter than on the wire when the snaplen cut it).
    pub payload: &'a [u8],
    /// IP packets this view stands for: 1, or the number of fragments of a reassembled datagram.
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
}

/// Why a frame is not a flow packet. Each reason has its own counter in the engine's stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The link-layer header is cut short.
    LinkTruncated,
    /// Not IPv4 or IPv6 (ARP, LLDP, unknown address family ...).
    NotIp,
    /// The IP header is malformed or cut short.
    IpMalformed,
    /// An IP protocol other than TCP and UDP (ICMP, IGMP, ESP ...).
    OtherProtocol,
    /// The TCP or UDP header is malformed or cut short.
    TransportMalformed,
}

// Linux cooked capture v1 (LINKTYPE_LINUX_SLL): packet type(2) ARPHRD(2) addr len(2) addr(8)
// protocol(2); the protocol field is an EtherType for the frames we care about.
const SLL_HEADER_LEN: usize = 16;
// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2): protocol(2) reserved(2) if index(4) ARPHRD(2)
// packet type(1) addr len(1) addr(8). etherparse 0.21 has no SLL2, so it is decoded here.
const SLL2_HEADER_LEN: usize = 20;

/// Parse one frame of the given link type.
pub fn parse(link: LinkType, frame: &[u8]) -> Result<Parsed<'_>, DropReason> {
    let sliced = match link {
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
        LinkType::Null | LinkType::Loop => {
            let family = frame.get(..4).ok_or(DropReason::LinkTruncated)?;
            let family = [family[0], family[1], family[2], family[3]];
            let family = if link == LinkType::Loop {
                u32::from_be_bytes(family)
            } else {
                // DLT_NULL stores the family in the capturing host's byte order: take whichever
                // reading is a small number.
                let le = u32::from_le_bytes(family);
                if le <= 0xffff {
                    le
                } else {
                    u32::from_be_bytes(family)
                }
            };
            // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (BSDs), 28 (FreeBSD), 30 (macOS).
            match family {
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
    };
    from_sliced(&sliced)
}

fn ip(frame: &[u8]) -> Result<LaxSlicedPacket<'_>, DropReason> {
    if frame.is_empty() {
        return Err(DropReason::LinkTruncated);
    }
    LaxSlicedPacket::from_ip(frame).map_err(|_| DropReason::IpMalformed)
}

fn from_sliced<'a>(sliced: &LaxSlicedPacket<'a>) -> Result<Parsed<'a>, DropReason> {
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

    let transport = match payload.ip_number {
        IpNumber::TCP => Transport::Tcp,
        IpNumber::UDP => Transport::Udp,
        _ => return Err(DropReason::OtherProtocol),
    };

    if let Some((id, offset, more)) = fragment {
        return Ok(Parsed::Fragment(Fragment {
            id,
            ip_len,
            offset: u32::from(offset) * 8,
            len: data_len,
            more,
            data: payload.payload,
        }));
    }

    match (&sliced.transport, transport) {
        (Some(TransportSlice::Tcp(tcp)), _) => Ok(Parsed::Packet(tcp_view(tcp, src, dst, ip_len))),
        (Some(TransportSlice::Udp(udp)), _) => Ok(Parsed::Packet(udp_view(udp, src, dst, ip_len))),
        (_, transport) => {
            transport_view(transport, src, dst, payload.payload, ip_len, 1).map(Parsed::Packet)
        }
    }
}

/// The packet a reassembled datagram makes: its transport header and payload read from `bytes`
/// (the datagram's payload), counting `ip_len` IP bytes in `packets` IP packets.
pub fn datagram<'a>(
    id: &FragmentId,
    bytes: &'a [u8],
    ip_len: u32,
    packets: u32,
) -> Result<PacketView<'a>, DropReason> {
    let transport = match IpNumber(id.protocol) {
        IpNumber::TCP => Transport::Tcp,
        IpNumber::UDP => Transport::Udp,
        _ => return Err(DropReason::OtherProtocol),
    };
    transport_view(transport, id.src, id.dst, bytes, ip_len, packets)
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
        Transport::Tcp => {
            let tcp = TcpSlice::from_slice(bytes).map_err(|_| DropReason::TransportMalformed)?;
            tcp_view(&tcp, src, dst, ip_len)
        }
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
        ip_len,
        payload: tcp.payload(),
        packets: 1,
    }
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
        ip_len,
        payload: udp.payload(),
        packets: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
