//! Community ID v1 flow hash (corelight/community-id-spec), so records join with Zeek, Suricata and
//! other sensors' logs of the same connection.
//!
//! `1:` + base64(SHA-1(seed · addr · addr · proto · 0 · port · port)), endpoints ordered so the
//! smaller (address, port) comes first; seed 0 unless configured.

use std::net::IpAddr;

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// Community ID v1 of a TCP/UDP 5-tuple (protocol number 6 or 17), direction-independent.
pub fn community_id(seed: u16, protocol: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> String {
    let bytes = |ip: &IpAddr| -> ([u8; 16], usize) {
        let mut out = [0u8; 16];
        match ip {
            IpAddr::V4(v4) => {
                out[..4].copy_from_slice(&v4.octets());
                (out, 4)
            }
            IpAddr::V6(v6) => {
                out.copy_from_slice(&v6.octets());
                (out, 16)
            }
        }
    };
    let (ab, al) = bytes(&a.0);
    let (bb, bl) = bytes(&b.0);
    // The spec orders by address first, then by port when the addresses are equal.
    let a_first = (&ab[..al], a.1) <= (&bb[..bl], b.1);
    let (first, second) = if a_first {
        ((ab, al, a.1), (bb, bl, b.1))
    } else {
        ((bb, bl, b.1), (ab, al, a.1))
    };
    let mut hasher = Sha1::new();
    hasher.update(seed.to_be_bytes());
    hasher.update(&first.0[..first.1]);
    hasher.update(&second.0[..second.1]);
    hasher.update([protocol, 0]);
    hasher.update(first.2.to_be_bytes());
    hasher.update(second.2.to_be_bytes());
    let digest = hasher.finalize();
    let mut out = String::with_capacity(30);
    out.push_str("1:");
    base64::engine::general_purpose::STANDARD.encode_string(digest, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed with the reference Python implementation (`pip install communityid`,
    // `communityid.CommunityID().calc(communityid.FlowTuple.make_tcp(...))`), not with this code.
    #[test]
    fn matches_reference_implementation() {
        let a = ("128.232.110.120".parse().unwrap(), 34855);
        let b = ("66.35.250.204".parse().unwrap(), 80);
        assert_eq!(community_id(0, 6, a, b), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_eq!(community_id(0, 6, b, a), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        let v6a = ("fe80::1".parse().unwrap(), 5353);
        let v6b = ("fe80::2".parse().unwrap(), 53);
        assert_eq!(
            community_id(0, 17, v6a, v6b),
            "1:QKJ9dugjhBapst4s3+b/y+MxoCg="
        );
        // Same address on both sides: ports decide the order.
        let same = "10.0.0.1".parse().unwrap();
        assert_eq!(
            community_id(0, 17, (same, 9), (same, 8)),
            "1:CCDtH19NHn4evTjsHD7T5iPAeoM="
        );
    }
}
