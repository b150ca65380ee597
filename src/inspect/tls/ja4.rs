//! The JA4 TLS client fingerprint (FoxIO JA4 spec, BSD-3-Clause part only), computed from a
//! parsed [`ClientHello`] without allocating.

use sha2::{Digest, Sha256};

use super::hello::{is_grease, u16_values, ClientHello, EXT_ALPN, EXT_SERVER_NAME};

/// JA4 TLS client fingerprint (FoxIO JA4 spec, BSD-3-Clause part only), e.g.
/// "t13d1516h2_8daaf6152771_e5627efa2ab1". `transport` is b't' for TCP, b'q' for QUIC
/// (b'd' for DTLS), written as given. Writes ASCII into a fixed 36-byte array (JA4 is
/// always 36 chars), no heap allocation. GREASE values are ignored everywhere.
pub fn ja4(hello: &ClientHello<'_>, transport: u8) -> [u8; 36] {
    let mut out = [b'0'; 36];
    out[0] = transport;
    out[1..3].copy_from_slice(ja4_version(hello));

    let mut has_sni = false;
    let mut ext_count = 0usize;
    for (ext_type, _) in hello.extension_iter() {
        if !is_grease(ext_type) {
            ext_count += 1;
            has_sni |= ext_type == EXT_SERVER_NAME;
        }
    }
    let ciphers = || u16_values(hello.cipher_suites).filter(|&c| !is_grease(c));
    out[3] = if has_sni { b'd' } else { b'i' };
    out[4..6].copy_from_slice(&two_digits(ciphers().count()));
    out[6..8].copy_from_slice(&two_digits(ext_count));
    out[8..10].copy_from_slice(&ja4_alpn(hello.alpn.iter().next()));
    out[10] = b'_';
    out[23] = b'_';

    // Cipher hash: sorted 4-hex-digit codes joined by commas; 000000000000 when empty.
    if ciphers().next().is_some() {
        let mut h = Sha256::new();
        write_hex_list(&mut h, ciphers(), true);
        hex12(&h.finalize(), &mut out[11..23]);
    }

    // Extension hash: sorted extension codes without SNI and ALPN, then "_" and the
    // signature algorithms in the order sent (the "_" only if there are any).
    let exts = || {
        hello
            .extension_iter()
            .map(|(t, _)| t)
            .filter(|&t| !is_grease(t) && t != EXT_SERVER_NAME && t != EXT_ALPN)
    };
    if exts().next().is_some() {
        let mut h = Sha256::new();
        write_hex_list(&mut h, exts(), true);
        let sigs = || u16_values(hello.signature_algorithms).filter(|&s| !is_grease(s));
        if sigs().next().is_some() {
            h.update(b"_");
            write_hex_list(&mut h, sigs(), false);
        }
        hex12(&h.finalize(), &mut out[24..36]);
    }
    out
}

/// JA4 version: the highest non-GREASE supported_versions entry if that extension was
/// sent, else legacy_version; the record-layer version is ignored.
fn ja4_version(hello: &ClientHello<'_>) -> &'static [u8; 2] {
    let version = if hello.supported_versions.is_empty() {
        hello.legacy_version
    } else {
        u16_values(hello.supported_versions)
            .filter(|&v| !is_grease(v))
            .max()
            .unwrap_or(0)
    };
    match version {
        0x0304 => b"13",
        0x0303 => b"12",
        0x0302 => b"11",
        0x0301 => b"10",
        0x0300 => b"s3",
        0x0002 => b"s2",
        0xfeff => b"d1",
        0xfefd => b"d2",
        0xfefc => b"d3",
        _ => b"00",
    }
}

fn two_digits(n: usize) -> [u8; 2] {
    let n = n.min(99) as u8;
    [b'0' + n / 10, b'0' + n % 10]
}

/// First and last character of the first ALPN name; if either is not ASCII alphanumeric,
/// the first and last hex digit of the name instead; "00" if there is no (non-empty) name.
fn ja4_alpn(first: Option<&[u8]>) -> [u8; 2] {
    match first {
        Some(name @ &[a, ..]) => {
            let z = name.last().copied().unwrap_or(a);
            if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
                [a, z]
            } else {
                [HEX[usize::from(a >> 4)], HEX[usize::from(z & 0x0f)]]
            }
        }
        _ => *b"00",
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex12(digest: &[u8], out: &mut [u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(digest) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
}

/// Feeds `values` into the hash as comma-separated 4-digit lower-case hex, sorted if asked.
fn write_hex_list<I>(h: &mut Sha256, values: I, sorted: bool)
where
    I: Iterator<Item = u16> + Clone,
{
    // The usual case (a few dozen values): sort a copy on the stack and hash the text in one
    // update. Hostile hellos with more values take the allocation-free path below.
    const FAST: usize = 256;
    let mut vals = [0u16; FAST];
    let mut n = 0;
    let mut fits = true;
    for v in values.clone() {
        if n == FAST {
            fits = false;
            break;
        }
        vals[n] = v;
        n += 1;
    }
    if fits {
        let vals = &mut vals[..n];
        if sorted {
            vals.sort_unstable();
        }
        let mut text = [0u8; FAST * 5];
        let mut len = 0;
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                text[len] = b',';
                len += 1;
            }
            let b = v.to_be_bytes();
            text[len..len + 4].copy_from_slice(&[
                HEX[usize::from(b[0] >> 4)],
                HEX[usize::from(b[0] & 0x0f)],
                HEX[usize::from(b[1] >> 4)],
                HEX[usize::from(b[1] & 0x0f)],
            ]);
            len += 4;
        }
        h.update(&text[..len]);
        return;
    }
    let mut first = true;
    let emit = |v: u16| {
        if !first {
            h.update(b",");
        }
        first = false;
        let b = v.to_be_bytes();
        h.update([
            HEX[usize::from(b[0] >> 4)],
            HEX[usize::from(b[0] & 0x0f)],
            HEX[usize::from(b[1] >> 4)],
            HEX[usize::from(b[1] & 0x0f)],
        ]);
    };
    if sorted {
        for_each_sorted(values, emit);
    } else {
        values.for_each(emit);
    }
}

/// Visits `values` in ascending order (duplicates kept) without allocating: one pass marks
/// which high bytes occur, then one counting pass per occurring high byte. Real hellos have
/// a handful of high bytes, and a hostile one costs at most 256 passes over its list.
fn for_each_sorted<I, F>(values: I, mut emit: F)
where
    I: Iterator<Item = u16> + Clone,
    F: FnMut(u16),
{
    let mut high_seen = [0u64; 4];
    for v in values.clone() {
        let hi = usize::from(v >> 8);
        high_seen[hi / 64] |= 1 << (hi % 64);
    }
    for hi in 0..256usize {
        if high_seen[hi / 64] & (1 << (hi % 64)) == 0 {
            continue;
        }
        let mut counts = [0u32; 256];
        for v in values.clone().filter(|v| usize::from(v >> 8) == hi) {
            counts[usize::from(v & 0xff)] += 1;
        }
        for (lo, &n) in counts.iter().enumerate() {
            for _ in 0..n {
                emit(((hi as u16) << 8) | lo as u16);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::inspect::tls::{parse_client_hello, HelloReassembler};

    #[test]
    fn ja4_spec_example() {
        let msg = build_hello(SPEC_CIPHERS, &spec_example_exts());
        let h = parse_client_hello(&msg).unwrap();
        assert_eq!(ja4_str(&h, b't'), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn grease_is_ignored_everywhere() {
        let plain = build_hello(SPEC_CIPHERS, &spec_example_exts());
        let mut ciphers = vec![0x2a2a];
        ciphers.extend_from_slice(SPEC_CIPHERS);
        let mut exts = vec![(0x0a0a, Vec::new())];
        for (t, data) in spec_example_exts() {
            exts.push(match t {
                0x002b => versions_ext(&[0x7a7a, 0x0304, 0x0303]),
                _ => (t, data),
            });
        }
        exts.push((0xfafa, vec![0]));
        let greased = build_hello(&ciphers, &exts);
        let (p, g) = (
            parse_client_hello(&plain).unwrap(),
            parse_client_hello(&greased).unwrap(),
        );
        assert_eq!(g.sni, Some(&b"example.com"[..]));
        assert_eq!(g.supported_versions, &[0x7a, 0x7a, 3, 4, 3, 3]);
        assert_eq!(ja4(&g, b't'), ja4(&p, b't'));
        // A hello offering only a GREASE version reports version "00".
        let only_grease = build_hello(&[0x1301], &[versions_ext(&[0x1a1a])]);
        let h = parse_client_hello(&only_grease).unwrap();
        assert_eq!(&ja4_str(&h, b't')[..10], "t00i010100");
    }

    #[test]
    fn alpn_first_value_rules() {
        let cases: [(&[&[u8]], &str); 5] = [
            (&[b"http/1.1", b"h2"], "h1"),
            (&[b"x"], "xx"),
            (&[&[0xab, 0xcd]], "ad"),
            (&[&[0x30, 0xab]], "3b"),
            (&[b"", b"h2"], "00"),
        ];
        for (names, want) in cases {
            let msg = build_hello(&[0x1301], &[alpn_ext(names)]);
            let h = parse_client_hello(&msg).unwrap();
            assert_eq!(&ja4_str(&h, b't')[8..10], want);
        }
    }

    #[test]
    fn thousands_of_extensions() {
        let exts: Vec<(u16, Vec<u8>)> = (0..3000u16).map(|i| (0x1000 + i, Vec::new())).collect();
        let mut ciphers: Vec<u16> = (0..2000u16).rev().collect();
        ciphers.push(0x0a0a);
        let msg = build_hello(&ciphers, &exts);
        assert!(msg.len() < HelloReassembler::MAX_BYTES);
        let stream = into_records(&msg, &[]);
        let h_msg = reassemble(&stream);
        let h = parse_client_hello(&h_msg).unwrap();
        assert_eq!(&ja4_str(&h, b't')[..10], "t12i999900");
    }
}
