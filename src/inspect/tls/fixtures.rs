//! Test fixtures shared by the TLS unit tests: real first flights, hello builders, and a
//! one-segment reassembly helper.

use super::{ja4, ClientHello, HelloReassembler};
use crate::inspect::Progress;

// Real first flights captured on loopback (a Python listener on 127.0.0.1 saving what
// the client sent first): OpenSSL 3.0.19 `s_client -servername files.example.com
// -alpn h2,http/1.1`, the same with `-tls1_2 -servername legacy.example.org`, curl 7.88.1
// `https://app.example.test/`, and CPython's `ssl` (ALPN http/1.1, SNI py.example.net).
pub(super) const OPENSSL_H2: &[u8] = include_bytes!("../testdata/openssl_h2.bin");
pub(super) const OPENSSL_TLS12: &[u8] = include_bytes!("../testdata/openssl_tls12.bin");
pub(super) const CURL: &[u8] = include_bytes!("../testdata/curl.bin");
pub(super) const PYTHON: &[u8] = include_bytes!("../testdata/python.bin");

pub(super) const V13_TO_10: &[u8] = &[3, 4, 3, 3, 3, 2, 3, 1];

pub(super) fn ja4_str(hello: &ClientHello<'_>, transport: u8) -> String {
    String::from_utf8(ja4(hello, transport).to_vec()).unwrap()
}

pub(super) fn alpn_list<'a>(hello: &ClientHello<'a>) -> Vec<&'a [u8]> {
    hello.alpn.iter().collect()
}

/// Reassembles a whole client stream delivered as one segment and returns the message.
pub(super) fn reassemble(stream: &[u8]) -> Vec<u8> {
    let mut r = HelloReassembler::new(Some(1000));
    assert_eq!(r.push(1000, stream), Progress::Complete);
    r.hello().unwrap().to_vec()
}

pub(super) fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

pub(super) fn with_len16(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

pub(super) fn sni_ext(name: &[u8]) -> (u16, Vec<u8>) {
    let mut entry = vec![0u8];
    entry.extend(with_len16(name));
    (0x0000, with_len16(&entry))
}

pub(super) fn alpn_ext(names: &[&[u8]]) -> (u16, Vec<u8>) {
    let mut list = Vec::new();
    for n in names {
        list.push(n.len() as u8);
        list.extend_from_slice(n);
    }
    (0x0010, with_len16(&list))
}

pub(super) fn versions_ext(versions: &[u16]) -> (u16, Vec<u8>) {
    let body = u16s(versions);
    let mut v = vec![body.len() as u8];
    v.extend(body);
    (0x002b, v)
}

pub(super) fn sigalgs_ext(algs: &[u16]) -> (u16, Vec<u8>) {
    (0x000d, with_len16(&u16s(algs)))
}

/// A ClientHello handshake message (type 1 + uint24 length + body).
pub(super) fn build_hello(ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend([0x42; 32]);
    body.push(32);
    body.extend([0x17; 32]);
    body.extend(with_len16(&u16s(ciphers)));
    body.extend([1, 0]);
    let mut block = Vec::new();
    for (t, data) in exts {
        block.extend(t.to_be_bytes());
        block.extend(with_len16(data));
    }
    body.extend(with_len16(&block));
    let mut msg = vec![1];
    msg.extend(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend(body);
    msg
}

/// Frames a handshake message into records of the given fragment sizes (the last
/// record takes the rest).
pub(super) fn into_records(msg: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = msg;
    let mut sizes = sizes.iter();
    while !rest.is_empty() {
        let n = sizes.next().map_or(rest.len(), |&n| n.min(rest.len()));
        out.extend([22, 3, 1]);
        out.extend((n as u16).to_be_bytes());
        out.extend(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

pub(super) const SPEC_CIPHERS: &[u16] = &[
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c,
    0x009d, 0x002f, 0x0035,
];
const SPEC_SIGALGS: &[u16] = &[
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
];

/// The example hello of the JA4 spec: its extensions in the order it lists them.
pub(super) fn spec_example_exts() -> Vec<(u16, Vec<u8>)> {
    let mut exts = Vec::new();
    for t in [
        0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
        0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
    ] {
        exts.push(match t {
            0x0000 => sni_ext(b"example.com"),
            0x0010 => alpn_ext(&[b"h2", b"http/1.1"]),
            0x000d => sigalgs_ext(SPEC_SIGALGS),
            0x002b => versions_ext(&[0x0304, 0x0303]),
            _ => (t, Vec::new()),
        });
    }
    exts
}

/// Valid client streams: the real captures and a multi-record hand-built hello.
pub(super) fn streams() -> Vec<Vec<u8>> {
    let multi = into_records(
        &build_hello(SPEC_CIPHERS, &spec_example_exts()),
        &[3, 40, 7],
    );
    vec![
        OPENSSL_H2.to_vec(),
        OPENSSL_TLS12.to_vec(),
        CURL.to_vec(),
        PYTHON.to_vec(),
        multi,
    ]
}
