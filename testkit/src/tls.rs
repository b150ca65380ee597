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

/// A Chromium-like TLS 1.3 ClientHello record naming `sni`: GREASE cipher, extensions and group
/// (RFC 8701), the extensions Chrome sends (SNI early, ALPN h2/http1.1, GREASE ECH-like 0xfe0d
/// omitted), a key_share with an X25519MLKEM768 share (1216 bytes) and an x25519 share, so the
/// record is about 1.8 KB. `padding` adds a padding extension (21) of that many bytes at the end.
pub fn chromium_hello(sni: &str, padding: usize) -> Vec<u8> {
    record(&chromium_handshake(sni, padding))
}

/// The handshake message (type 1, uint24 length, body) of [`chromium_hello`].
pub fn chromium_handshake(sni: &str, padding: usize) -> Vec<u8> {
    fn push_ext(ext: &mut Vec<u8>, kind: u16, body: &[u8]) {
        ext.extend_from_slice(&kind.to_be_bytes());
        ext.extend_from_slice(&(body.len() as u16).to_be_bytes());
        ext.extend_from_slice(body);
    }
    let mut ext = Vec::new();
    push_ext(&mut ext, 0x0a0a, &[]); // GREASE
    let mut sn = Vec::new();
    sn.extend_from_slice(&((sni.len() + 3) as u16).to_be_bytes());
    sn.push(0);
    sn.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    sn.extend_from_slice(sni.as_bytes());
    push_ext(&mut ext, 0, &sn);
    push_ext(&mut ext, 23, &[]); // extended_master_secret
    push_ext(&mut ext, 0xff01, &[0]); // renegotiation_info
    push_ext(
        &mut ext,
        10,
        &[0, 10, 0x4a, 0x4a, 0x11, 0xec, 0, 0x1d, 0, 0x17, 0, 0x18],
    );
    push_ext(&mut ext, 11, &[1, 0]); // ec_point_formats
    push_ext(&mut ext, 35, &[]); // session_ticket
    push_ext(
        &mut ext,
        16,
        &[
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ],
    );
    push_ext(&mut ext, 5, &[1, 0, 0, 0, 0]); // status_request
    push_ext(
        &mut ext,
        13,
        &[0, 16, 4, 3, 8, 4, 4, 1, 5, 3, 8, 5, 5, 1, 8, 6, 6, 1],
    );
    push_ext(&mut ext, 18, &[]); // signed_certificate_timestamp
    let mut ks = Vec::new();
    ks.extend_from_slice(&[0x4a, 0x4a, 0, 1, 0]); // GREASE share
    ks.extend_from_slice(&[0x11, 0xec]);
    ks.extend_from_slice(&1216u16.to_be_bytes());
    ks.extend((0..1216u32).map(|i| (i * 31 + 7) as u8));
    ks.extend_from_slice(&[0, 0x1d, 0, 32]);
    ks.extend((0..32u8).map(|i| i.wrapping_mul(13)));
    let mut body = (ks.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(&ks);
    push_ext(&mut ext, 51, &body);
    push_ext(&mut ext, 45, &[1, 1]); // psk_key_exchange_modes
    push_ext(&mut ext, 43, &[6, 0x6a, 0x6a, 3, 4, 3, 3]);
    push_ext(&mut ext, 27, &[2, 0, 2]); // compress_certificate
    push_ext(&mut ext, 17513, &[0, 3, 2, b'h', b'2']); // application_settings
    push_ext(&mut ext, 0x1a1a, &[0]); // GREASE
    if padding > 0 {
        push_ext(&mut ext, 21, &vec![0; padding]);
    }

    let mut body = vec![3, 3];
    body.extend((0..32u8).map(|i| i.wrapping_mul(11)));
    body.push(32);
    body.extend((0..32u8).map(|i| i ^ 0x5a));
    let suites: [u16; 16] = [
        0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
        0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    hs
}

/// A handshake message framed in handshake records of the given fragment sizes (the last size
/// repeats; records never exceed 2^14 bytes).
pub fn records(handshake: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = handshake;
    let mut i = 0;
    while !rest.is_empty() {
        let size = sizes.get(i).or(sizes.last()).copied().unwrap_or(16_384);
        let n = size.clamp(1, 16_384).min(rest.len());
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    out
}

/// One handshake record (or more when over 2^14 bytes).
fn record(handshake: &[u8]) -> Vec<u8> {
    records(handshake, &[16_384])
}
