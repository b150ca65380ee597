//! Raw IP packets and fragments written by hand, with the standard library only: the library's
//! own unit tests include this file (`#[path]`), since linking the testkit into them would link
//! the library twice. Re-exported by [`crate::packet`].

use std::net::IpAddr;

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
    ip_packet(src.0, dst.0, if tcp { 6 } else { 17 }, &l4)
}

/// A raw IP packet (IPv4 without options, identification 1, Don't Fragment, TTL 64; or IPv6
/// without extension headers, hop limit 64) from `src` to `dst` (of the same family) carrying
/// `payload` as IP protocol `protocol`; checksums zero.
pub fn ip_packet(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + payload.len());
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
            out.extend_from_slice(&[0, 1, 0x40, 0, 64, protocol, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            out.extend_from_slice(&[protocol, 64]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        _ => unreachable!("same family only"),
    }
    out.extend_from_slice(payload);
    out
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
