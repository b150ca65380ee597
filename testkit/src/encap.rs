//! Encapsulations an endpoint meets, written around a raw IP packet or an Ethernet frame (the
//! inner packets come from [`crate::packet`]): Ethernet with 802.1Q/802.1ad tags, PPPoE and PPP,
//! Linux NFLOG, GRE (RFC 2784/2890, and PPTP's enhanced GRE), VXLAN, MPLS, GTP-U, AYIYA, IP in
//! IP (with `ip_packet` of [`crate::raw`]), IPsec AH and IPComp; the link layers PPI, FDDI, Cisco HDLC and ARCNET; IEEE
//! 802.11 data frames (A-MSDUs too) bare, under radiotap, Prism or AVS, or in Aruba's GRE. Each
//! function returns the bytes of its layer and what it wraps; checksums are zero (the engine does
//! not verify them).

/// EtherType IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType 802.1Q customer tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType 802.1ad service tag (QinQ outer tag).
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// EtherType PPPoE discovery stage.
pub const ETHERTYPE_PPPOE_DISCOVERY: u16 = 0x8863;
/// EtherType PPPoE session stage.
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// EtherType MPLS unicast.
pub const ETHERTYPE_MPLS: u16 = 0x8847;
/// EtherType of transparent Ethernet bridging (GRE carrying Ethernet).
pub const ETHERTYPE_TEB: u16 = 0x6558;
/// EtherType of PPP (GRE carrying PPP, as PPTP does).
pub const ETHERTYPE_PPP: u16 = 0x880b;
/// PPP protocol IPv4.
pub const PPP_IPV4: u16 = 0x0021;
/// PPP protocol IPv6.
pub const PPP_IPV6: u16 = 0x0057;
/// PPP Link Control Protocol.
pub const PPP_LCP: u16 = 0xc021;

/// The EtherType of a raw IP packet (by its version nibble).
pub fn ether_type_of(packet: &[u8]) -> u16 {
    if packet[0] >> 4 == 6 {
        ETHERTYPE_IPV6
    } else {
        ETHERTYPE_IPV4
    }
}

/// An Ethernet II frame from 02:02:02:02:02:02 to 04:04:04:04:04:04 with the VLAN `tags`
/// (TPID, VLAN id), outermost first, then `ether_type` and `payload`.
pub fn ethernet(tags: &[(u16, u16)], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 4 * tags.len() + payload.len());
    f.extend_from_slice(&[4; 6]);
    f.extend_from_slice(&[2; 6]);
    for (tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A PPPoE session-stage payload (RFC 2516 §4: version/type 0x11, code 0, session id 0x1234,
/// length) carrying a PPP frame of `protocol` (two bytes, no address/control) and `payload`.
pub fn pppoe_session(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x11, 0x00, 0x12, 0x34];
    f.extend_from_slice(&((2 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&protocol.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A PPP frame in HDLC-like framing (RFC 1662: address 0xff, control 0x03) of `protocol`.
pub fn ppp(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff, 0x03];
    f.extend_from_slice(&protocol.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A LINKTYPE_NFLOG frame as a little-endian Linux host writes it: header (`family`, version
/// 0, resource id 0 big-endian), an NFULA_PACKET_HDR TLV (type 1: hardware protocol, hook), an
/// NFULA_PREFIX TLV (type 10) of 5 bytes padded to 8, then NFULA_PAYLOAD (type 9) with `packet`
/// (padded to 4 bytes).
pub fn nflog(family: u8, packet: &[u8]) -> Vec<u8> {
    nflog_tlvs(
        family,
        &[(1, &[0x08, 0x00, 3, 0]), (10, b"drop\0"), (9, packet)],
        false,
    )
}

/// A LINKTYPE_NFLOG frame with these (type, value) TLVs, lengths and types little-endian unless
/// `big_endian`, each value padded to 4 bytes.
pub fn nflog_tlvs(family: u8, tlvs: &[(u16, &[u8])], big_endian: bool) -> Vec<u8> {
    let mut f = vec![family, 0, 0, 0];
    for (kind, value) in tlvs {
        let len = (4 + value.len()) as u16;
        if big_endian {
            f.extend_from_slice(&len.to_be_bytes());
            f.extend_from_slice(&kind.to_be_bytes());
        } else {
            f.extend_from_slice(&len.to_le_bytes());
            f.extend_from_slice(&kind.to_le_bytes());
        }
        f.extend_from_slice(value);
        f.resize(f.len().next_multiple_of(4), 0);
    }
    f
}

/// A GRE packet (RFC 2784, RFC 2890; version 0) with the checksum field when `checksum`, the
/// key and sequence number when given, carrying `payload` of EtherType `protocol`.
pub fn gre(
    checksum: bool,
    key: Option<u32>,
    seq: Option<u32>,
    protocol: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut flags = 0u8;
    if checksum {
        flags |= 0x80;
    }
    if key.is_some() {
        flags |= 0x20;
    }
    if seq.is_some() {
        flags |= 0x10;
    }
    let mut g = vec![flags, 0];
    g.extend_from_slice(&protocol.to_be_bytes());
    if checksum {
        g.extend_from_slice(&[0, 0, 0, 0]);
    }
    for field in [key, seq].into_iter().flatten() {
        g.extend_from_slice(&field.to_be_bytes());
    }
    g.extend_from_slice(payload);
    g
}

/// An enhanced GRE packet of PPTP (RFC 2637 §4.1: version 1, key present, protocol PPP) for
/// `call_id`, with the sequence and acknowledgment numbers when given, carrying the PPP frame
/// `ppp` (empty: an acknowledgment only).
pub fn pptp_gre(call_id: u16, seq: Option<u32>, ack: Option<u32>, ppp: &[u8]) -> Vec<u8> {
    let mut g = vec![
        0x20 | if seq.is_some() { 0x10 } else { 0 },
        0x01 | if ack.is_some() { 0x80 } else { 0 },
    ];
    g.extend_from_slice(&ETHERTYPE_PPP.to_be_bytes());
    g.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
    g.extend_from_slice(&call_id.to_be_bytes());
    for field in [seq, ack].into_iter().flatten() {
        g.extend_from_slice(&field.to_be_bytes());
    }
    g.extend_from_slice(ppp);
    g
}

/// A VXLAN header (RFC 7348 §5: flags 0x08, VNI `vni`) and the Ethernet `frame` it carries (the
/// payload of a UDP datagram to port 4789).
pub fn vxlan(vni: u32, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![0x08, 0, 0, 0];
    v.extend_from_slice(&(vni << 8).to_be_bytes());
    v.extend_from_slice(frame);
    v
}

/// An MPLS label stack (RFC 3032: TC 0, TTL 64, bottom of stack on the last label) over
/// `payload`.
pub fn mpls(labels: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(4 * labels.len() + payload.len());
    for (i, label) in labels.iter().enumerate() {
        let bottom = u32::from(i + 1 == labels.len());
        m.extend_from_slice(&((label << 12) | (bottom << 8) | 64).to_be_bytes());
    }
    m.extend_from_slice(payload);
    m
}

/// A GTP-U G-PDU (3GPP TS 29.281 §5.1: version 1, PT 1, message type 255, TEID `teid`) carrying
/// `packet`; with a sequence number when given, and the extension headers `extensions` (each its
/// type and its contents, padded so that length byte + contents + next-type byte are a multiple
/// of 4 bytes).
pub fn gtp_u(teid: u32, seq: Option<u16>, extensions: &[(u8, &[u8])], packet: &[u8]) -> Vec<u8> {
    let mut optional = Vec::new();
    let mut flags = 0x30u8;
    if seq.is_some() || !extensions.is_empty() {
        flags |= if seq.is_some() { 0x02 } else { 0 };
        flags |= if extensions.is_empty() { 0 } else { 0x04 };
        optional.extend_from_slice(&seq.unwrap_or(0).to_be_bytes());
        optional.push(0);
        optional.push(extensions.first().map_or(0, |e| e.0));
        for (i, (_, contents)) in extensions.iter().enumerate() {
            let units = (contents.len() + 2).div_ceil(4);
            optional.push(units as u8);
            optional.extend_from_slice(contents);
            optional.resize(optional.len() + units * 4 - 2 - contents.len(), 0);
            optional.push(extensions.get(i + 1).map_or(0, |e| e.0));
        }
    }
    let mut g = vec![flags, 255];
    g.extend_from_slice(&((optional.len() + packet.len()) as u16).to_be_bytes());
    g.extend_from_slice(&teid.to_be_bytes());
    g.extend_from_slice(&optional);
    g.extend_from_slice(packet);
    g
}

/// A LINKTYPE_PPI frame: the Per-Packet Information header (version 0, flags 0, length,
/// link type of `frame`, little-endian) with one 4-byte field of an unknown type, then `frame`.
pub fn ppi(link_type: u32, frame: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0];
    f.extend_from_slice(&12u16.to_le_bytes());
    f.extend_from_slice(&link_type.to_le_bytes());
    f.extend_from_slice(&[0xee, 0xee, 0, 0]);
    f.extend_from_slice(frame);
    f
}

/// An 802.2 LLC frame with a SNAP header (RFC 1042: DSAP and SSAP 0xAA, UI, organization code
/// 00-00-00) carrying `payload` of `ether_type`.
pub fn llc_snap(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0xaa, 0xaa, 0x03, 0, 0, 0];
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A LINKTYPE_FDDI frame: frame control 0x50 (asynchronous LLC), destination and source
/// addresses, then [`llc_snap`] with the IP packet `packet`.
pub fn fddi(packet: &[u8]) -> Vec<u8> {
    let mut f = vec![0x50];
    f.extend_from_slice(&[4; 6]);
    f.extend_from_slice(&[2; 6]);
    f.extend_from_slice(&llc_snap(ether_type_of(packet), packet));
    f
}

/// A LINKTYPE_C_HDLC frame (Cisco HDLC: unicast address 0x0F, control 0) of `ether_type`.
pub fn cisco_hdlc(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x0f, 0x00];
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An ARCNET frame carrying the IP packet `packet`: source 0xbe, destination 0x50, a 2-byte
/// offset field when `linux` (LINKTYPE_ARCNET_LINUX; LINKTYPE_ARCNET_BSD has none); IPv4 as RFC
/// 1051 (protocol 0xF0) when `rfc1051`, else RFC 1201 framing (IPv4 0xD4, IPv6 0xC4, split flag 0,
/// sequence number).
pub fn arcnet(linux: bool, rfc1051: bool, packet: &[u8]) -> Vec<u8> {
    let mut f = vec![0xbe, 0x50];
    if linux {
        f.extend_from_slice(&[0xab, 0x08]);
    }
    if rfc1051 {
        f.push(0xf0);
    } else {
        f.push(if packet[0] >> 4 == 6 { 0xc4 } else { 0xd4 });
        f.extend_from_slice(&[0, 0x12, 0x34]);
    }
    f.extend_from_slice(packet);
    f
}

/// An AYIYA forward message (UDP port 5072): identity of 2^`identity_log2` bytes, a SHA-1
/// signature (5 words), next header 4 or 41 by `packet`'s version, then `packet`.
pub fn ayiya(identity_log2: u8, packet: &[u8]) -> Vec<u8> {
    let next = if packet[0] >> 4 == 6 { 41 } else { 4 };
    let mut f = vec![(identity_log2 << 4) | 1, 0x52, 0x11, next, 0, 0, 0, 0];
    f.resize(8 + (1 << identity_log2) + 20, 0x5a);
    f.extend_from_slice(packet);
    f
}

/// IP protocol number of IPsec AH (RFC 4302).
pub const IP_AH: u8 = 51;
/// IP protocol number of IPComp (RFC 3173).
pub const IP_COMP: u8 = 108;

/// An IPsec Authentication Header (RFC 4302 §2) before `payload` of protocol `next_header`: SPI
/// 0x1000, sequence number 1, a 96-bit ICV (HMAC-SHA1-96's; zeros here), 24 bytes in all.
pub fn ah(next_header: u8, payload: &[u8]) -> Vec<u8> {
    // Payload Length: the header's length in 32-bit words, minus 2.
    let mut f = vec![next_header, 24 / 4 - 2, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 1];
    f.resize(24, 0);
    f.extend_from_slice(payload);
    f
}

/// `payload` (of protocol `next_header`) as an IPComp datagram's payload (RFC 3173 §2.2): the
/// 4-byte IPComp header with Compression Parameter Index `cpi`, then the raw DEFLATE (RFC 2394)
/// of `payload` at the default level.
pub fn ipcomp(next_header: u8, cpi: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![next_header, 0];
    f.extend_from_slice(&cpi.to_be_bytes());
    f.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(payload, 6));
    f
}

/// 802.11 frame control flags (the second byte): ToDS.
pub const WLAN_TO_DS: u8 = 0x01;
/// FromDS.
pub const WLAN_FROM_DS: u8 = 0x02;
/// More fragments.
pub const WLAN_MORE_FRAGMENTS: u8 = 0x04;
/// Protected (the body is encrypted).
pub const WLAN_PROTECTED: u8 = 0x40;
/// +HTC/Order (a QoS data frame then has an HT Control field).
pub const WLAN_ORDER: u8 = 0x80;
/// QoS Control's first byte: A-MSDU present.
pub const WLAN_QOS_AMSDU: u8 = 0x80;
/// The first of Aruba's GRE protocol types carrying 802.11 frames (0x8200-0x8370, steps of 0x10).
pub const GRE_ARUBA_WLAN: u16 = 0x8200;

/// An IEEE 802.11 data frame (IEEE Std 802.11-2020 §9.3.2.1) with the frame control `flags`
/// (its second byte): subtype Data, or QoS Data with `qos` as the QoS Control's first byte (TID
/// 5) when given; duration, three addresses, sequence control (sequence number 0x123, fragment
/// 0), a fourth address when both ToDS and FromDS, the QoS Control, an HT Control when QoS and
/// [`WLAN_ORDER`], then `body`.
pub fn wlan_data(flags: u8, qos: Option<u8>, body: &[u8]) -> Vec<u8> {
    let subtype = if qos.is_some() { 0x80 } else { 0x00 };
    let mut f = vec![subtype | 0x08, flags, 0x2c, 0x00];
    f.extend_from_slice(&[0x0a; 6]);
    f.extend_from_slice(&[0x0b; 6]);
    f.extend_from_slice(&[0x0c; 6]);
    f.extend_from_slice(&(0x123u16 << 4).to_le_bytes());
    if flags & (WLAN_TO_DS | WLAN_FROM_DS) == WLAN_TO_DS | WLAN_FROM_DS {
        f.extend_from_slice(&[0x0d; 6]);
    }
    if let Some(qos) = qos {
        f.extend_from_slice(&[qos | 5, 0]);
        if flags & WLAN_ORDER != 0 {
            f.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
        }
    }
    f.extend_from_slice(body);
    f
}

/// The body of an 802.11 data frame carrying the IP packet `packet`: [`llc_snap`].
pub fn wlan_msdu(packet: &[u8]) -> Vec<u8> {
    llc_snap(ether_type_of(packet), packet)
}

/// An A-MSDU body (IEEE Std 802.11-2020 §9.3.2.2.2): a subframe per IP packet of `packets`
/// (destination, source, length, then [`wlan_msdu`]), each but the last padded to 4 bytes.
pub fn amsdu(packets: &[&[u8]]) -> Vec<u8> {
    let mut f = Vec::new();
    for (i, packet) in packets.iter().enumerate() {
        let msdu = wlan_msdu(packet);
        f.extend_from_slice(&[0x0a; 6]);
        f.extend_from_slice(&[0x0c; 6]);
        f.extend_from_slice(&(msdu.len() as u16).to_be_bytes());
        f.extend_from_slice(&msdu);
        if i + 1 < packets.len() {
            f.resize(f.len().next_multiple_of(4), 0);
        }
    }
    f
}

/// A LINKTYPE_IEEE802_11_RADIOTAP frame: a radiotap header (version 0, present TSFT, Flags and
/// Rate; with `extended`, a second, empty, present bitmap, which moves TSFT to the next 8-byte
/// boundary), then `frame`; with `fcs`, the Flags field's FCS bit set and 4 FCS bytes appended.
pub fn radiotap(extended: bool, fcs: bool, frame: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 0];
    f.extend_from_slice(&(0x7u32 | if extended { 1 << 31 } else { 0 }).to_le_bytes());
    if extended {
        f.extend_from_slice(&0u32.to_le_bytes());
    }
    f.resize(f.len().next_multiple_of(8), 0);
    f.extend_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
    f.push(if fcs { 0x10 } else { 0 });
    f.push(0x0c);
    let len = f.len() as u16;
    f[2..4].copy_from_slice(&len.to_le_bytes());
    f.extend_from_slice(frame);
    if fcs {
        f.extend_from_slice(&[0xf1, 0xf2, 0xf3, 0xf4]);
    }
    f
}

/// A LINKTYPE_IEEE802_11_PRISM frame: a 144-byte Prism header (message code 0x44, its length),
/// then `frame`.
pub fn prism(frame: &[u8]) -> Vec<u8> {
    let mut f = vec![0; 144];
    f[0..4].copy_from_slice(&0x44u32.to_le_bytes());
    f[4..8].copy_from_slice(&144u32.to_le_bytes());
    f[8..13].copy_from_slice(b"wlan0");
    f.extend_from_slice(frame);
    f
}

/// A LINKTYPE_IEEE802_11_AVS frame: an AVS header (version 2, 0x80211002, and its length, 64
/// bytes, big-endian), then `frame`.
pub fn avs(frame: &[u8]) -> Vec<u8> {
    let mut f = vec![0; 64];
    f[0..4].copy_from_slice(&0x8021_1002u32.to_be_bytes());
    f[4..8].copy_from_slice(&64u32.to_be_bytes());
    f.extend_from_slice(frame);
    f
}
