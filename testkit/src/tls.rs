//! TLS records.

/// A TLS 1.3 ClientHello record (RFC 8446 §4.1.2) offering `alpn`, naming `sni`.
pub fn client_hello(sni: &str, alpn: &[&str], random_seed: u8) -> Vec<u8> {
    let mut ext = Vec::new();
    let push_ext = |ext: &mut Vec<u8>, kind: u16, body: &[u8]| {
        ext.extend_from_slice(&kind.to_be_bytes());
        ext.extend_from_slice(&(body.len() as u16).to_be_bytes());
        ext.extend_from_slice(body);
    };
    // server_name (RFC 6066 §3): list of (type 0 host_name, u16 length, name).
    let mut sn = Vec::new();
    sn.extend_from_slice(&((sni.len() + 3) as u16).to_be_bytes());
    sn.push(0);
    sn.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    sn.extend_from_slice(sni.as_bytes());
    push_ext(&mut ext, 0, &sn);
    // supported_groups x25519, secp256r1; signature_algorithms; supported_versions TLS 1.3, 1.2.
    push_ext(&mut ext, 10, &[0, 4, 0, 0x1d, 0, 0x17]);
    push_ext(&mut ext, 13, &[0, 6, 4, 3, 8, 4, 4, 1]);
    if !alpn.is_empty() {
        let mut list = Vec::new();
        for p in alpn {
            list.push(p.len() as u8);
            list.extend_from_slice(p.as_bytes());
        }
        let mut body = (list.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(&list);
        push_ext(&mut ext, 16, &body);
    }
    push_ext(&mut ext, 43, &[4, 3, 4, 3, 3]);
    // key_share with a (fake, fixed) x25519 share.
    let mut ks = vec![0, 36, 0, 0x1d, 0, 32];
    ks.extend((0..32).map(|i| i ^ random_seed));
    push_ext(&mut ext, 51, &ks);

    let mut body = vec![3, 3];
    body.extend((0..32u8).map(|i| i.wrapping_mul(7) ^ random_seed));
    body.push(32);
    body.extend((0..32u8).map(|i| i ^ random_seed.rotate_left(3)));
    body.extend_from_slice(&[0, 6, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03]);
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);

    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut record = vec![22, 3, 1];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}
