//! TLS ClientHello inspection: TCP reassembly of the client's first flight, a borrowing
//! ClientHello parser (SNI, ALPN, versions, ECH) and the JA4 client fingerprint.
//!
//! The parser and JA4 never allocate and never panic on any input; the reassembler holds at
//! most [`HelloReassembler::MAX_BYTES`] of payload and gives up (never grows) past that.

use sha2::{Digest, Sha256};

/// TLS record content type `handshake` (RFC 8446 §5.1).
const CONTENT_HANDSHAKE: u8 = 22;
/// Handshake message type `client_hello` (RFC 8446 §4).
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// Largest TLSPlaintext fragment a peer may send: 2^14 (RFC 8446 §5.1).
const MAX_RECORD_FRAGMENT: usize = 1 << 14;
/// Record header: type(1) + legacy_record_version(2) + length(2) (RFC 8446 §5.1).
const RECORD_HEADER_LEN: usize = 5;
/// Handshake header: msg_type(1) + uint24 length (RFC 8446 §4).
const HANDSHAKE_HEADER_LEN: usize = 4;

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
const EXT_ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
/// server_name NameType `host_name` (RFC 6066 §3).
const NAME_TYPE_HOST_NAME: u8 = 0;

/// Why a ClientHello could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsError {
    /// The bytes are not a TLS handshake carrying a ClientHello (other message type, SSLv2).
    NotTls,
    /// The message is cut short: more bytes are needed.
    Truncated,
    /// A length or field breaks the RFC structure; the text names the field.
    Malformed(&'static str),
    /// The declared message is larger than this module will ever buffer
    /// ([`HelloReassembler::MAX_BYTES`]), so waiting for more bytes is pointless.
    TooLarge,
}

impl core::fmt::Display for TlsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TlsError::NotTls => f.write_str("not a TLS ClientHello"),
            TlsError::Truncated => f.write_str("truncated ClientHello"),
            TlsError::Malformed(field) => write!(f, "malformed ClientHello field: {field}"),
            TlsError::TooLarge => f.write_str("ClientHello larger than the inspection bound"),
        }
    }
}

impl std::error::Error for TlsError {}

/// Bounds-checked cursor over a byte slice; every read either succeeds or returns `None`.
#[derive(Clone)]
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }

    /// `opaque x<0..2^8-1>`: one length byte, then that many bytes.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// `opaque x<0..2^16-1>`: two length bytes, then that many bytes.
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// GREASE values (RFC 8701 §2): 0x0a0a, 0x1a1a, ... 0xfafa, for every u16 registry.
fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// Big-endian u16 values of a raw list body; a trailing odd byte is ignored.
fn u16_values(raw: &[u8]) -> impl Iterator<Item = u16> + Clone + '_ {
    raw.chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
}

/// The ALPN `ProtocolNameList` body of a ClientHello (RFC 7301 §3.1), borrowed raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Alpn<'a> {
    raw: &'a [u8],
}

impl<'a> Alpn<'a> {
    /// Wraps a raw `ProtocolNameList` body (the bytes after its 2-byte length).
    pub fn new(raw: &'a [u8]) -> Self {
        Alpn { raw }
    }

    /// The raw list body as sent.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// True when no ALPN extension was sent (or its list is empty).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The protocol names in the order offered; stops at the first malformed entry.
    pub fn iter(&self) -> AlpnIter<'a> {
        AlpnIter {
            reader: Reader::new(self.raw),
        }
    }
}

impl<'a> IntoIterator for Alpn<'a> {
    type Item = &'a [u8];
    type IntoIter = AlpnIter<'a>;
    fn into_iter(self) -> AlpnIter<'a> {
        self.iter()
    }
}

/// Iterator over ALPN protocol names (`opaque ProtocolName<1..2^8-1>`, RFC 7301 §3.1).
#[derive(Clone)]
pub struct AlpnIter<'a> {
    reader: Reader<'a>,
}

impl<'a> Iterator for AlpnIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let name = self.reader.vec8();
        if name.is_none() {
            self.reader.rest = &[];
        }
        name
    }
}

/// Parsed view of a ClientHello; borrows the handshake bytes, never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// `legacy_version` (0x0303 for TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
    /// First `host_name` entry of the server_name extension (RFC 6066 §3), exactly as sent;
    /// `None` if the extension is absent, has no host_name entry, or the name is empty.
    /// With [`ClientHello::ech`] this is the outer (public) name.
    pub sni: Option<&'a [u8]>,
    /// ALPN protocol names offered (RFC 7301 §3.1); empty if absent.
    pub alpn: Alpn<'a>,
    /// supported_versions list body (RFC 8446 §4.2.1), pairs of bytes; empty if absent.
    pub supported_versions: &'a [u8],
    /// The encrypted_client_hello extension 0xfe0d is present (RFC 9849).
    pub ech: bool,
    /// `cipher_suites` list body, pairs of bytes, GREASE included.
    pub cipher_suites: &'a [u8],
    /// The whole extensions block body (without its 2-byte length); empty if absent.
    pub extensions: &'a [u8],
    /// signature_algorithms list body (RFC 8446 §4.2.3), pairs of bytes; empty if absent.
    pub signature_algorithms: &'a [u8],
}

impl<'a> ClientHello<'a> {
    /// `(extension_type, extension_data)` pairs in the order sent, GREASE included.
    pub fn extension_iter(&self) -> ExtensionIter<'a> {
        ExtensionIter {
            reader: Reader::new(self.extensions),
        }
    }
}

/// Iterator over an extensions block; stops at the first malformed entry.
#[derive(Clone)]
pub struct ExtensionIter<'a> {
    reader: Reader<'a>,
}

impl<'a> Iterator for ExtensionIter<'a> {
    type Item = (u16, &'a [u8]);

    // struct {
    //     ExtensionType extension_type;
    //     opaque extension_data<0..2^16-1>;
    // } Extension;                                   (RFC 8446 §4.2)
    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let item = read_extension(&mut self.reader);
        if item.is_none() {
            self.reader.rest = &[];
        }
        item
    }
}

// struct {
//     HandshakeType msg_type;    /* handshake type */
//     uint24 length;             /* remaining bytes in message */
//     select (Handshake.msg_type) {
//         case client_hello:          ClientHello;
//         ...
//     };
// } Handshake;                                       (RFC 8446 §4)
//
// struct {
//     ProtocolVersion legacy_version = 0x0303;    /* TLS v1.2 */
//     Random random;                              /* opaque Random[32] */
//     opaque legacy_session_id<0..32>;
//     CipherSuite cipher_suites<2..2^16-2>;
//     opaque legacy_compression_methods<1..2^8-1>;
//     Extension extensions<8..2^16-1>;
// } ClientHello;                                     (RFC 8446 §4.1.2)
//
// TLS 1.2 and older may omit the extensions block entirely (RFC 5246 §7.4.1.2).
fn read_extension<'a>(r: &mut Reader<'a>) -> Option<(u16, &'a [u8])> {
    Some((r.u16()?, r.vec16()?))
}

/// Parse one handshake message starting with msg_type (1 = client_hello) and the 24-bit
/// length (RFC 8446 §4). Bytes after the message are ignored.
pub fn parse_client_hello(handshake: &[u8]) -> Result<ClientHello<'_>, TlsError> {
    let mut hs = Reader::new(handshake);
    match hs.u8() {
        None => return Err(TlsError::Truncated),
        Some(HANDSHAKE_CLIENT_HELLO) => {}
        Some(_) => return Err(TlsError::NotTls),
    }
    let len = hs.u24().ok_or(TlsError::Truncated)?;
    if len + HANDSHAKE_HEADER_LEN > HelloReassembler::MAX_BYTES {
        return Err(TlsError::TooLarge);
    }
    let body = hs.take(len).ok_or(TlsError::Truncated)?;

    let mut r = Reader::new(body);
    let legacy_version = r.u16().ok_or(TlsError::Malformed("legacy_version"))?;
    r.take(32).ok_or(TlsError::Malformed("random"))?;
    let session_id = r.vec8().ok_or(TlsError::Malformed("legacy_session_id"))?;
    if session_id.len() > 32 {
        return Err(TlsError::Malformed("legacy_session_id"));
    }
    let cipher_suites = r.vec16().ok_or(TlsError::Malformed("cipher_suites"))?;
    if cipher_suites.is_empty() || cipher_suites.len() % 2 != 0 {
        return Err(TlsError::Malformed("cipher_suites"));
    }
    let compression = r
        .vec8()
        .ok_or(TlsError::Malformed("legacy_compression_methods"))?;
    if compression.is_empty() {
        return Err(TlsError::Malformed("legacy_compression_methods"));
    }
    let extensions = if r.is_empty() {
        &[][..]
    } else {
        r.vec16().ok_or(TlsError::Malformed("extensions"))?
    };

    let mut hello = ClientHello {
        legacy_version,
        sni: None,
        alpn: Alpn::default(),
        supported_versions: &[],
        ech: false,
        cipher_suites,
        extensions,
        signature_algorithms: &[],
    };
    parse_extensions(extensions, &mut hello)?;
    Ok(hello)
}

/// Walks `Extension extensions<8..2^16-1>` (RFC 8446 §4.2), filling the fields we read.
/// Unknown and GREASE (RFC 8701) extensions are skipped; for a repeated type the first wins.
fn parse_extensions<'a>(block: &'a [u8], hello: &mut ClientHello<'a>) -> Result<(), TlsError> {
    let mut r = Reader::new(block);
    let (mut seen_sni, mut seen_alpn, mut seen_sv, mut seen_sig) = (false, false, false, false);
    while !r.is_empty() {
        let ext_type = r.u16().ok_or(TlsError::Malformed("extension_type"))?;
        let data = r.vec16().ok_or(TlsError::Malformed("extension_data"))?;
        match ext_type {
            EXT_SERVER_NAME if !seen_sni => {
                seen_sni = true;
                hello.sni = parse_server_name(data)?;
            }
            EXT_ALPN if !seen_alpn => {
                seen_alpn = true;
                hello.alpn = parse_alpn(data)?;
            }
            EXT_SUPPORTED_VERSIONS if !seen_sv => {
                seen_sv = true;
                hello.supported_versions = parse_supported_versions(data)?;
            }
            EXT_SIGNATURE_ALGORITHMS if !seen_sig => {
                seen_sig = true;
                hello.signature_algorithms = parse_signature_algorithms(data)?;
            }
            EXT_ENCRYPTED_CLIENT_HELLO => hello.ech = true,
            _ => {}
        }
    }
    Ok(())
}

// struct {
//     NameType name_type;
//     select (name_type) {
//         case host_name: HostName;
//     } name;
// } ServerName;
//
// enum { host_name(0), (255) } NameType;
// opaque HostName<1..2^16-1>;
// struct {
//     ServerName server_name_list<1..2^16-1>
// } ServerNameList;                                  (RFC 6066 §3)
//
// Unknown name types are skipped assuming the same 2-byte length prefix, as every
// deployed implementation does. An empty extension_data (a server's echo) is tolerated.
fn parse_server_name(data: &[u8]) -> Result<Option<&[u8]>, TlsError> {
    if data.is_empty() {
        return Ok(None);
    }
    let mut ext = Reader::new(data);
    let list = ext.vec16().ok_or(TlsError::Malformed("server_name_list"))?;
    let mut r = Reader::new(list);
    while !r.is_empty() {
        let name_type = r.u8().ok_or(TlsError::Malformed("server_name"))?;
        let name = r.vec16().ok_or(TlsError::Malformed("server_name"))?;
        if name_type == NAME_TYPE_HOST_NAME {
            return Ok(if name.is_empty() { None } else { Some(name) });
        }
    }
    Ok(None)
}

// opaque ProtocolName<1..2^8-1>;
// struct {
//     ProtocolName protocol_name_list<2..2^16-1>
// } ProtocolNameList;                                (RFC 7301 §3.1)
//
// The list is checked here once, so the public iterator never meets a bad length.
// Empty names are tolerated (JA4 has a rule for them).
fn parse_alpn(data: &[u8]) -> Result<Alpn<'_>, TlsError> {
    let mut ext = Reader::new(data);
    let list = ext
        .vec16()
        .ok_or(TlsError::Malformed("protocol_name_list"))?;
    let mut r = Reader::new(list);
    while !r.is_empty() {
        r.vec8().ok_or(TlsError::Malformed("protocol_name"))?;
    }
    Ok(Alpn::new(list))
}

// struct {
//     select (Handshake.msg_type) {
//         case client_hello:
//              ProtocolVersion versions<2..254>;
//         ...
//     };
// } SupportedVersions;                               (RFC 8446 §4.2.1)
fn parse_supported_versions(data: &[u8]) -> Result<&[u8], TlsError> {
    let mut r = Reader::new(data);
    let list = r.vec8().ok_or(TlsError::Malformed("supported_versions"))?;
    if list.len() < 2 || list.len() % 2 != 0 {
        return Err(TlsError::Malformed("supported_versions"));
    }
    Ok(list)
}

// struct {
//     SignatureScheme supported_signature_algorithms<2..2^16-2>;
// } SignatureSchemeList;                             (RFC 8446 §4.2.3)
fn parse_signature_algorithms(data: &[u8]) -> Result<&[u8], TlsError> {
    let mut r = Reader::new(data);
    let list = r
        .vec16()
        .ok_or(TlsError::Malformed("signature_algorithms"))?;
    if list.len() % 2 != 0 {
        return Err(TlsError::Malformed("signature_algorithms"));
    }
    Ok(list)
}

// struct {
//     ContentType type;                   /* 22 = handshake */
//     ProtocolVersion legacy_record_version;
//     uint16 length;                      /* MUST NOT exceed 2^14 */
//     opaque fragment[TLSPlaintext.length];
// } TLSPlaintext;                                    (RFC 8446 §5.1)
/// Quick content test: could these first client bytes be a TLS record carrying a
/// ClientHello? (content type 22, version 0x03xx, handshake type 1). Used to find TLS on
/// any port. Only the bytes present are checked (up to 6): a shorter prefix that matches so
/// far returns true; an empty slice returns false. SSLv2-compatible hellos return false.
pub fn looks_like_client_hello(first_bytes: &[u8]) -> bool {
    if first_bytes.is_empty() {
        return false;
    }
    record_kind_ok(first_bytes)
        && record_len_ok(first_bytes)
        && first_bytes
            .get(5)
            .is_none_or(|&t| t == HANDSHAKE_CLIENT_HELLO)
}

/// Content type and major version of the record header bytes present (up to 3).
fn record_kind_ok(header: &[u8]) -> bool {
    header.first().is_none_or(|&t| t == CONTENT_HANDSHAKE)
        && header.get(1).is_none_or(|&major| major == 3)
}

/// Record length, if present: 1..=2^14 (RFC 8446 §5.1: no zero-length handshake
/// fragments, no fragment over 2^14 bytes).
fn record_len_ok(header: &[u8]) -> bool {
    match (header.get(3), header.get(4)) {
        (Some(&hi), Some(&lo)) => {
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            (1..=MAX_RECORD_FRAGMENT).contains(&len)
        }
        _ => true,
    }
}

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

/// Outcome of [`HelloReassembler::push`] so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloProgress {
    /// The ClientHello is not complete yet; feed more client segments.
    NeedMore,
    /// The whole ClientHello is in; read it with [`HelloReassembler::hello`].
    Complete,
    /// The client's stream does not start with a TLS handshake record carrying a ClientHello.
    NotTls,
    /// Given up: over the [`HelloReassembler::MAX_BYTES`] bound, or a malformed record layer.
    Abandoned,
}

/// Most disjoint received ranges tracked at once; a segment that would need more is dropped
/// (as if lost) and is accepted when TCP retransmits it or once the holes fill.
const MAX_RANGES: usize = 32;
/// Without a known ISN, how many segments may arrive while the stream start does not look
/// like TLS, waiting for a reordered earlier segment, before the stream is called NotTls.
const UNANCHORED_GRACE_SEGMENTS: u8 = 4;

/// A received byte range `[lo, hi)` as stream offsets (both <= MAX_BYTES, which fits u16).
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    lo: u16,
    hi: u16,
}

/// Reassembles the client's TLS byte stream from TCP segments and extracts the ClientHello
/// handshake message.
///
/// The buffer grows to the highest byte received (never past [`Self::MAX_BYTES`]); received
/// ranges are tracked in a small fixed list; overlapping bytes keep the first copy received.
/// Drop the reassembler once the outcome is final to free its buffer.
#[derive(Debug, Clone)]
pub struct HelloReassembler {
    /// Sequence number of stream offset 0, once known.
    start: Option<u32>,
    /// True when `start` came from the caller's ISN or the stream start looked like TLS.
    anchored: bool,
    grace_left: u8,
    buf: Vec<u8>,
    spans: [Span; MAX_RANGES],
    span_count: usize,
    state: HelloProgress,
    scan: Scan,
}

/// Incremental record-layer walk over the contiguous prefix of the stream.
#[derive(Debug, Clone, Copy, Default)]
struct Scan {
    /// Stream offset of the next byte to examine.
    pos: usize,
    /// Fragment bytes of the current record not yet consumed.
    record_left: usize,
    /// Handshake bytes seen so far (across records).
    hs_have: usize,
    /// The handshake header (type + uint24 length), gathered across records if split.
    hs_header: [u8; HANDSHAKE_HEADER_LEN],
    /// Total handshake bytes of the ClientHello (header included), once known.
    hs_need: Option<usize>,
}

impl HelloReassembler {
    /// Hard bound on buffered client payload bytes (record headers included).
    pub const MAX_BYTES: usize = 16 * 1024;

    /// `isn_next` = the sequence number of the client's first payload byte (the client's
    /// SYN seq plus one), if known; otherwise `None` and the first data segment's seq is
    /// taken as the start. Without an ISN, a segment with a lower seq arriving within the
    /// first few segments moves the start back while the current start does not look like
    /// TLS; after 4 segments that never look like TLS the stream is `NotTls`.
    pub fn new(isn_next: Option<u32>) -> Self {
        HelloReassembler {
            start: isn_next,
            anchored: isn_next.is_some(),
            grace_left: UNANCHORED_GRACE_SEGMENTS,
            buf: Vec::new(),
            spans: [Span::default(); MAX_RANGES],
            span_count: 0,
            state: HelloProgress::NeedMore,
            scan: Scan::default(),
        }
    }

    /// Feed one client->server TCP segment (seq number of its first byte, payload). Out of
    /// order, duplicate, overlapping and retransmitted segments all work, as does sequence
    /// wrap-around; bytes outside `[start, start + MAX_BYTES)` are dropped. Once the result
    /// is `Complete`, `NotTls` or `Abandoned` it stays so and further segments are ignored.
    pub fn push(&mut self, seq: u32, payload: &[u8]) -> HelloProgress {
        if self.state != HelloProgress::NeedMore || payload.is_empty() {
            return self.state;
        }
        let start = match self.start {
            Some(s) => s,
            None => {
                self.start = Some(seq);
                seq
            }
        };
        let behind = start.wrapping_sub(seq);
        if !self.anchored && behind != 0 && behind < 1 << 31 {
            self.rebase(behind as usize);
        }
        let start = self.start.unwrap_or(seq);
        self.insert(seq.wrapping_sub(start), payload);
        self.advance();
        if self.state == HelloProgress::NeedMore && !self.anchored {
            self.grace_left = self.grace_left.saturating_sub(1);
            if self.grace_left == 0 {
                self.state = HelloProgress::NotTls;
            }
        }
        if matches!(self.state, HelloProgress::NotTls | HelloProgress::Abandoned) {
            self.buf = Vec::new();
            self.span_count = 0;
        }
        self.state
    }

    /// After [`HelloProgress::Complete`], the contiguous handshake message (type 1 + 24-bit
    /// length + body), de-framed from its TLS records, for [`parse_client_hello`].
    pub fn hello(&self) -> Option<&[u8]> {
        match self.state {
            HelloProgress::Complete => Some(&self.buf),
            _ => None,
        }
    }

    /// Bytes currently held on the heap (for a global inspection-memory bound); never more
    /// than [`Self::MAX_BYTES`].
    pub fn memory(&self) -> usize {
        self.buf.capacity()
    }

    /// Unanchored start only: an earlier segment arrived, so offset 0 moves back by `by`
    /// bytes if the buffered data still fits; otherwise the earlier bytes are ignored.
    fn rebase(&mut self, by: usize) {
        if by + self.buf.len() > Self::MAX_BYTES {
            return;
        }
        let new_len = self.buf.len() + by;
        self.reserve_to(new_len);
        self.buf.resize(new_len, 0);
        self.buf.copy_within(0..new_len - by, by);
        for span in &mut self.spans[..self.span_count] {
            span.lo += by as u16;
            span.hi += by as u16;
        }
        self.start = self.start.map(|s| s.wrapping_sub(by as u32));
        self.scan = Scan::default();
    }

    fn reserve_to(&mut self, len: usize) {
        if len > self.buf.capacity() {
            self.buf.reserve_exact(len - self.buf.len());
        }
    }

    /// Copies the part of a segment at stream offset `offset` that lies in
    /// `[0, MAX_BYTES)` into the holes it covers, and records the range.
    fn insert(&mut self, offset: u32, payload: &[u8]) {
        // Offsets in the upper half of the sequence space are before the start: trim them.
        let (lo, skip) = if offset >= 1 << 31 {
            (0usize, offset.wrapping_neg() as usize)
        } else {
            (offset as usize, 0usize)
        };
        if skip >= payload.len() || lo >= Self::MAX_BYTES {
            return;
        }
        let hi = (lo + (payload.len() - skip)).min(Self::MAX_BYTES);
        let data = &payload[skip..skip + (hi - lo)];
        let Some(slot) = self.merge_span(lo as u16, hi as u16) else {
            return;
        };
        if hi > self.buf.len() {
            self.reserve_to(hi);
            self.buf.resize(hi, 0);
        }
        // Fill only the holes between previously received spans (first copy wins).
        let mut cursor = lo;
        for span in self.spans[..self.span_count]
            .iter()
            .filter(|s| s.lo != s.hi)
        {
            let (s_lo, s_hi) = (usize::from(span.lo), usize::from(span.hi));
            if s_hi <= cursor || s_lo >= hi {
                continue;
            }
            if s_lo > cursor {
                self.buf[cursor..s_lo].copy_from_slice(&data[cursor - lo..s_lo - lo]);
            }
            cursor = cursor.max(s_hi);
        }
        if cursor < hi {
            self.buf[cursor..hi].copy_from_slice(&data[cursor - lo..]);
        }
        self.commit_span(slot);
    }

    /// Plans adding `[lo, hi)` to the sorted disjoint span list: returns the merged result,
    /// or `None` if it would need more than MAX_RANGES spans.
    fn merge_span(&self, lo: u16, hi: u16) -> Option<(usize, usize, Span)> {
        let spans = &self.spans[..self.span_count];
        // Spans touching or overlapping [lo, hi) are merged into one.
        let first = spans.iter().position(|s| s.hi >= lo).unwrap_or(spans.len());
        let last = spans
            .iter()
            .rposition(|s| s.lo <= hi)
            .map_or(first, |i| i + 1);
        let last = last.max(first);
        if first == last && self.span_count == MAX_RANGES {
            return None;
        }
        let mut merged = Span { lo, hi };
        for s in &spans[first..last] {
            merged.lo = merged.lo.min(s.lo);
            merged.hi = merged.hi.max(s.hi);
        }
        Some((first, last, merged))
    }

    fn commit_span(&mut self, (first, last, merged): (usize, usize, Span)) {
        let removed = last - first;
        if removed == 0 {
            self.spans.copy_within(first..self.span_count, first + 1);
            self.span_count += 1;
        } else {
            self.spans.copy_within(last..self.span_count, first + 1);
            self.span_count -= removed - 1;
        }
        self.spans[first] = merged;
    }

    /// Length of the received prefix starting at offset 0.
    fn contiguous(&self) -> usize {
        match self.spans[..self.span_count].first() {
            Some(s) if s.lo == 0 => usize::from(s.hi),
            _ => 0,
        }
    }

    /// Walks the record layer over newly contiguous bytes (RFC 8446 §5.1: a handshake
    /// message may be fragmented across several records), and completes when the whole
    /// ClientHello handshake message is in.
    fn advance(&mut self) {
        let avail = self.contiguous();
        let buf = &self.buf[..avail];
        let sc = &mut self.scan;
        loop {
            if sc.hs_need.is_some_and(|need| sc.hs_have >= need) {
                self.state = HelloProgress::Complete;
                break;
            }
            if sc.record_left == 0 {
                let header = buf.get(sc.pos..).unwrap_or(&[]);
                let header = &header[..header.len().min(RECORD_HEADER_LEN)];
                if !record_kind_ok(header) {
                    // A first record that is not a handshake is not TLS (without an anchor,
                    // `push` waits a little for an earlier segment); a later one that
                    // interleaves another content type breaks RFC 8446 §5.1.
                    if sc.pos != 0 {
                        self.state = HelloProgress::Abandoned;
                    } else if self.anchored {
                        self.state = HelloProgress::NotTls;
                    }
                    return;
                }
                if !record_len_ok(header) {
                    self.state = HelloProgress::Abandoned;
                    return;
                }
                if header.len() < RECORD_HEADER_LEN {
                    break;
                }
                if sc.pos == 0 {
                    self.anchored = true;
                }
                sc.record_left = usize::from(u16::from_be_bytes([header[3], header[4]]));
                sc.pos += RECORD_HEADER_LEN;
                continue;
            }
            let want = match sc.hs_need {
                Some(need) => need - sc.hs_have,
                None => HANDSHAKE_HEADER_LEN - sc.hs_have,
            };
            let n = want.min(sc.record_left).min(avail - sc.pos);
            if n == 0 {
                break;
            }
            if sc.hs_need.is_none() {
                sc.hs_header[sc.hs_have..sc.hs_have + n].copy_from_slice(&buf[sc.pos..sc.pos + n]);
            }
            sc.hs_have += n;
            sc.pos += n;
            sc.record_left -= n;
            if sc.hs_need.is_none() && sc.hs_have == HANDSHAKE_HEADER_LEN {
                let [msg_type, a, b, c] = sc.hs_header;
                if msg_type != HANDSHAKE_CLIENT_HELLO {
                    self.state = HelloProgress::NotTls;
                    return;
                }
                let len = (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c);
                sc.hs_need = Some(HANDSHAKE_HEADER_LEN + len);
            }
            // The rest of the message comes after `pos`, plus record headers: past the
            // bound it can never be buffered.
            let rest = sc.hs_need.map_or(0, |need| need - sc.hs_have);
            if sc.pos + rest > Self::MAX_BYTES {
                self.state = HelloProgress::Abandoned;
                return;
            }
        }
        // The buffer grows with the bytes received, never ahead of them: reserving the length a
        // hello announces (up to 16 KiB for 9 bytes of a record and handshake header) let a peer
        // make every flow hold 16 KiB with one small segment (found by the slow-drip flood test).
        if self.state == HelloProgress::Complete {
            self.deframe();
        }
    }

    /// Moves the handshake fragments of the leading records together in place, dropping
    /// the record headers, and cuts the buffer to the ClientHello message.
    fn deframe(&mut self) {
        let need = self.scan.hs_need.unwrap_or(0);
        let (mut rd, mut wr) = (0usize, 0usize);
        while wr < need {
            let len = match self.buf.get(rd + 3..rd + RECORD_HEADER_LEN) {
                Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
                _ => break,
            };
            rd += RECORD_HEADER_LEN;
            let n = len.min(need - wr).min(self.buf.len() - rd);
            self.buf.copy_within(rd..rd + n, wr);
            rd += n;
            wr += n;
        }
        self.buf.truncate(wr);
        self.span_count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Real first flights captured on loopback (a Python listener on 127.0.0.1 saving what
    // the client sent first): OpenSSL 3.0.19 `s_client -servername files.example.com
    // -alpn h2,http/1.1`, the same with `-tls1_2 -servername legacy.example.org`, curl 7.88.1
    // `https://app.example.test/`, and CPython's `ssl` (ALPN http/1.1, SNI py.example.net).
    const OPENSSL_H2: &[u8] = include_bytes!("testdata/openssl_h2.bin");
    const OPENSSL_TLS12: &[u8] = include_bytes!("testdata/openssl_tls12.bin");
    const CURL: &[u8] = include_bytes!("testdata/curl.bin");
    const PYTHON: &[u8] = include_bytes!("testdata/python.bin");

    const V13_TO_10: &[u8] = &[3, 4, 3, 3, 3, 2, 3, 1];

    fn ja4_str(hello: &ClientHello<'_>, transport: u8) -> String {
        String::from_utf8(ja4(hello, transport).to_vec()).unwrap()
    }

    fn alpn_list<'a>(hello: &ClientHello<'a>) -> Vec<&'a [u8]> {
        hello.alpn.iter().collect()
    }

    /// Reassembles a whole client stream delivered as one segment and returns the message.
    fn reassemble(stream: &[u8]) -> Vec<u8> {
        let mut r = HelloReassembler::new(Some(1000));
        assert_eq!(r.push(1000, stream), HelloProgress::Complete);
        r.hello().unwrap().to_vec()
    }

    // ---- builders for hand-made hellos ----

    fn u16s(values: &[u16]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    fn with_len16(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    fn sni_ext(name: &[u8]) -> (u16, Vec<u8>) {
        let mut entry = vec![0u8];
        entry.extend(with_len16(name));
        (0x0000, with_len16(&entry))
    }

    fn alpn_ext(names: &[&[u8]]) -> (u16, Vec<u8>) {
        let mut list = Vec::new();
        for n in names {
            list.push(n.len() as u8);
            list.extend_from_slice(n);
        }
        (0x0010, with_len16(&list))
    }

    fn versions_ext(versions: &[u16]) -> (u16, Vec<u8>) {
        let body = u16s(versions);
        let mut v = vec![body.len() as u8];
        v.extend(body);
        (0x002b, v)
    }

    fn sigalgs_ext(algs: &[u16]) -> (u16, Vec<u8>) {
        (0x000d, with_len16(&u16s(algs)))
    }

    /// A ClientHello handshake message (type 1 + uint24 length + body).
    fn build_hello(ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
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
    fn into_records(msg: &[u8], sizes: &[usize]) -> Vec<u8> {
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

    const SPEC_CIPHERS: &[u16] = &[
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
        0x009c, 0x009d, 0x002f, 0x0035,
    ];
    const SPEC_SIGALGS: &[u16] = &[
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ];

    /// The example hello of the JA4 spec: its extensions in the order it lists them.
    fn spec_example_exts() -> Vec<(u16, Vec<u8>)> {
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

    // ---- 1. real captures ----

    // Expected JA4 values below were computed independently of this module by a ~60-line
    // Python script written from the FoxIO JA4.md text (hashlib.sha256 over the sorted,
    // comma-joined hex lists), run on the same .bin files. The same script gives
    // t13d1516h2_8daaf6152771_02713d6af862 for the Chrome 125 hello in the corpus, the
    // published Chrome JA4, which cross-checks the script.
    #[test]
    fn openssl_tls13_with_alpn() {
        let msg = reassemble(OPENSSL_H2);
        assert_eq!(msg.len(), OPENSSL_H2.len() - 5);
        let h = parse_client_hello(&msg).unwrap();
        assert_eq!(h.legacy_version, 0x0303);
        assert_eq!(h.sni, Some(&b"files.example.com"[..]));
        assert_eq!(alpn_list(&h), vec![&b"h2"[..], b"http/1.1"]);
        assert_eq!(h.supported_versions, V13_TO_10);
        assert!(!h.ech);
        assert_eq!(h.cipher_suites.len(), 62);
        assert_eq!(h.signature_algorithms.len(), 40);
        assert_eq!(h.extension_iter().count(), 11);
        assert_eq!(ja4_str(&h, b't'), "t13d3111h2_e8f1e7e78f70_1f22a2ca17c4");
        assert_eq!(ja4_str(&h, b'q'), "q13d3111h2_e8f1e7e78f70_1f22a2ca17c4");
    }

    #[test]
    fn openssl_tls12_only() {
        let msg = reassemble(OPENSSL_TLS12);
        let h = parse_client_hello(&msg).unwrap();
        assert_eq!(h.legacy_version, 0x0303);
        assert_eq!(h.sni, Some(&b"legacy.example.org"[..]));
        assert!(h.alpn.is_empty());
        assert_eq!(h.supported_versions, b"");
        assert!(!h.ech);
        assert_eq!(ja4_str(&h, b't'), "t12d280700_d943125447b4_e7e480e5a997");
    }

    #[test]
    fn curl_hello() {
        let h_msg = reassemble(CURL);
        let h = parse_client_hello(&h_msg).unwrap();
        assert_eq!(h.sni, Some(&b"app.example.test"[..]));
        assert_eq!(alpn_list(&h), vec![&b"h2"[..], b"http/1.1"]);
        assert_eq!(h.supported_versions, V13_TO_10);
        assert!(!h.ech);
        assert_eq!(ja4_str(&h, b't'), "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6");
    }

    #[test]
    fn python_ssl_hello() {
        let msg = reassemble(PYTHON);
        let h = parse_client_hello(&msg).unwrap();
        assert_eq!(h.sni, Some(&b"py.example.net"[..]));
        assert_eq!(alpn_list(&h), vec![&b"http/1.1"[..]]);
        assert_eq!(h.supported_versions, &[3, 4, 3, 3]);
        assert!(!h.ech);
        assert_eq!(ja4_str(&h, b't'), "t13d1812h1_85036bcba153_d41ae481755e");
    }

    #[test]
    fn real_hellos_look_like_client_hellos() {
        for stream in [OPENSSL_H2, OPENSSL_TLS12, CURL, PYTHON] {
            assert!(looks_like_client_hello(stream));
            assert!(looks_like_client_hello(&stream[..3]));
        }
        assert!(!looks_like_client_hello(b""));
        assert!(!looks_like_client_hello(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_client_hello(&[0x80, 0x2e, 0x01, 0x00, 0x02])); // SSLv2
        assert!(!looks_like_client_hello(&[22, 3, 3, 0x40, 0x01, 1])); // record > 2^14
        assert!(!looks_like_client_hello(&[22, 3, 3, 0, 5, 2])); // ServerHello
    }

    // ---- 2. hand-built hellos ----

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
    fn ech_outer_hello() {
        let msg = build_hello(
            &[0x1301],
            &[
                sni_ext(b"public.example"),
                (0xfe0d, vec![0, 0, 1, 0, 1, 7, 0, 0, 0]),
                versions_ext(&[0x0304]),
            ],
        );
        let h = parse_client_hello(&msg).unwrap();
        assert!(h.ech);
        assert_eq!(h.sni, Some(&b"public.example"[..]));
        assert_eq!(&ja4_str(&h, b't')[..10], "t13d010300");
    }

    #[test]
    fn hello_split_across_records() {
        let msg = build_hello(SPEC_CIPHERS, &spec_example_exts());
        // Handshake header split over two records, then odd sizes.
        for sizes in [&[1usize, 3, 50][..], &[2, 2, 1, 1, 1000], &[msg.len() - 1]] {
            let stream = into_records(&msg, sizes);
            assert!(looks_like_client_hello(&stream));
            assert_eq!(reassemble(&stream), msg, "sizes {sizes:?}");
        }
        // A stream of one-byte records in many segments.
        let stream = into_records(&msg, &[1; 4096]);
        let mut r = HelloReassembler::new(Some(7));
        let mut last = HelloProgress::NeedMore;
        for (i, chunk) in stream.chunks(13).enumerate() {
            last = r.push(7 + 13 * i as u32, chunk);
        }
        assert_eq!(last, HelloProgress::Complete);
        assert_eq!(r.hello(), Some(&msg[..]));
    }

    #[test]
    fn hello_followed_by_more_data_in_the_same_record() {
        let mut msg = build_hello(&[0x1301], &[sni_ext(b"a.example")]);
        let hello_len = msg.len();
        msg.extend([20, 0, 0, 0]); // another handshake message right after
        let stream = into_records(&msg, &[]);
        assert_eq!(reassemble(&stream), &msg[..hello_len]);
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
    fn no_extensions_and_no_sni() {
        // TLS 1.2 allows a hello without an extensions block (RFC 5246 §7.4.1.2).
        let mut msg = build_hello(&[0x002f, 0x0035], &[]);
        msg.truncate(msg.len() - 2);
        msg[3] -= 2;
        let h = parse_client_hello(&msg).unwrap();
        assert_eq!(h.sni, None);
        assert_eq!(h.extensions, b"");
        assert_eq!(ja4_str(&h, b't'), "t12i020000_f54dd463d39b_000000000000");
        // Only SNI and ALPN: the extension hash has nothing to hash.
        let msg = build_hello(&[0x1301], &[sni_ext(b"a.b"), alpn_ext(&[b"h2"])]);
        let h = parse_client_hello(&msg).unwrap();
        assert!(ja4_str(&h, b't').starts_with("t12d0102h2_"));
        assert!(ja4_str(&h, b't').ends_with("_000000000000"));
    }

    // ---- 3. reassembly ----

    #[test]
    fn reordered_first_segment_without_isn() {
        let mut r = HelloReassembler::new(None);
        assert_eq!(r.push(5000 + 100, &CURL[100..]), HelloProgress::NeedMore);
        assert_eq!(r.push(5000, &CURL[..100]), HelloProgress::Complete);
        assert_eq!(r.hello(), Some(&CURL[5..]));
    }

    #[test]
    fn sequence_wrap_around() {
        let isn = u32::MAX - 40;
        let mut r = HelloReassembler::new(Some(isn));
        assert_eq!(
            r.push(isn.wrapping_add(200), &CURL[200..]),
            HelloProgress::NeedMore
        );
        assert_eq!(r.push(isn, &CURL[..200]), HelloProgress::Complete);
        assert_eq!(r.hello(), Some(&CURL[5..]));
    }

    #[test]
    fn retransmission_overlapping_the_start_is_trimmed() {
        let mut r = HelloReassembler::new(Some(100));
        let mut early = vec![0xee; 10];
        early.extend_from_slice(&PYTHON[..60]);
        assert_eq!(r.push(90, &early), HelloProgress::NeedMore);
        assert_eq!(r.push(130, &PYTHON[30..]), HelloProgress::Complete);
        assert_eq!(r.hello(), Some(&PYTHON[5..]));
    }

    #[test]
    fn not_tls_streams() {
        let mut r = HelloReassembler::new(Some(1));
        assert_eq!(r.push(1, b"GET / HTTP/1.1\r\n"), HelloProgress::NotTls);
        assert_eq!(r.memory(), 0);
        assert_eq!(r.push(1, CURL), HelloProgress::NotTls);
        assert_eq!(r.hello(), None);
        // SSLv2-compatible hello.
        let mut r = HelloReassembler::new(Some(1));
        assert_eq!(
            r.push(1, &[0x80, 0x2e, 0x01, 0x00, 0x02, 0, 0x15]),
            HelloProgress::NotTls
        );
        // A ServerHello is a handshake, but not a ClientHello.
        let mut server = build_hello(&[0x1301], &[]);
        server[0] = 2;
        let mut r = HelloReassembler::new(Some(1));
        assert_eq!(
            r.push(1, &into_records(&server, &[])),
            HelloProgress::NotTls
        );
        // Without an ISN, a non-TLS stream is called NotTls after a few segments.
        let mut r = HelloReassembler::new(None);
        let mut states = Vec::new();
        for i in 0..4u32 {
            states.push(r.push(10 * i, b"0123456789"));
        }
        assert_eq!(states.last(), Some(&HelloProgress::NotTls));
        assert_eq!(r.memory(), 0);
    }

    // ---- 4. hostile input ----

    #[test]
    fn hostile_lengths() {
        let good = build_hello(&[0x1301], &[sni_ext(b"x.example")]);
        assert_eq!(parse_client_hello(&[]), Err(TlsError::Truncated));
        assert_eq!(parse_client_hello(&[1, 0]), Err(TlsError::Truncated));
        assert_eq!(
            parse_client_hello(&good[..good.len() - 1]),
            Err(TlsError::Truncated)
        );
        assert_eq!(
            parse_client_hello(&[1, 0xff, 0xff, 0xff]),
            Err(TlsError::TooLarge)
        );
        assert_eq!(parse_client_hello(&[2, 0, 0, 0]), Err(TlsError::NotTls));
        // Extension length past the end of the block.
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 16] = 0xff; // the SNI extension_data length
        assert_eq!(
            parse_client_hello(&bad),
            Err(TlsError::Malformed("extension_data"))
        );
        // Session id over 32 bytes, odd cipher list, no compression method.
        let mut bad = good.clone();
        bad[4 + 34] = 33;
        assert!(matches!(
            parse_client_hello(&bad),
            Err(TlsError::Malformed(_))
        ));
        let odd = build_hello(&[], &[]);
        assert_eq!(
            parse_client_hello(&odd),
            Err(TlsError::Malformed("cipher_suites"))
        );
        // Zero-length host name: unnamed, not an error.
        let msg = build_hello(&[0x1301], &[sni_ext(b"")]);
        let h = parse_client_hello(&msg).unwrap();
        assert_eq!(h.sni, None);
        assert_eq!(ja4(&h, b't')[3], b'd');
        // Only a non-host_name entry.
        let msg = build_hello(&[0x1301], &[(0, with_len16(&[7, 0, 1, b'z']))]);
        assert_eq!(parse_client_hello(&msg).unwrap().sni, None);
        // SNI list length past the extension.
        let msg = build_hello(&[0x1301], &[(0, vec![0, 9, 0, 0, 1, b'z'])]);
        assert!(matches!(
            parse_client_hello(&msg),
            Err(TlsError::Malformed(_))
        ));
    }

    /// Regression (slow-drip flood): a record and handshake header announcing a 16 KB hello used
    /// to reserve the whole announced length at once; the buffer now holds what was received.
    #[test]
    fn an_announced_length_is_not_reserved_ahead_of_the_bytes() {
        let header = [
            0x16, 0x03, 0x01, 0x3e, 0x80, 0x01, 0x00, 0x3e, 0x7c, 0x03, 0x03,
        ];
        let mut r = HelloReassembler::new(Some(1000));
        let mut seq = 1000;
        for (i, byte) in header.iter().enumerate() {
            assert_eq!(
                r.push(seq, std::slice::from_ref(byte)),
                HelloProgress::NeedMore
            );
            seq += 1;
            assert!(
                r.memory() <= 2 * (i + 1),
                "{} bytes held for {} received",
                r.memory(),
                i + 1
            );
        }
        assert_eq!(r.push(seq, &[0x41; 1000]), HelloProgress::NeedMore);
        assert!(r.memory() <= 2 * (header.len() + 1000), "{}", r.memory());
        // A whole hello still reassembles from 1-byte segments.
        let mut r = HelloReassembler::new(Some(1));
        for (i, byte) in CURL.iter().enumerate() {
            r.push(1 + i as u32, std::slice::from_ref(byte));
        }
        assert!(r.hello().is_some());
        assert!(r.memory() <= CURL.len());
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

    #[test]
    fn records_over_the_bound_are_abandoned() {
        // Record length over 2^14.
        let mut r = HelloReassembler::new(Some(0));
        assert_eq!(
            r.push(0, &[22, 3, 1, 0x40, 0x01, 1, 0, 0x40, 0]),
            HelloProgress::Abandoned
        );
        assert_eq!(r.memory(), 0);
        // A hello declared larger than the bound.
        let mut r = HelloReassembler::new(Some(0));
        assert_eq!(
            r.push(0, &[22, 3, 1, 0x40, 0x00, 1, 0, 0x3f, 0xfc]),
            HelloProgress::Abandoned
        );
        // A hello that fits alone but not with its record headers.
        let mut r = HelloReassembler::new(Some(0));
        let mut first = vec![22, 3, 1, 0x10, 0x00, 1, 0, 0x3f, 0xf0];
        first.resize(5 + 0x1000, 0);
        let mut state = r.push(0, &first);
        let mut seq = first.len() as u32;
        let mut records = 1;
        while state == HelloProgress::NeedMore {
            records += 1;
            assert!(records < 5);
            let mut rec = vec![22, 3, 1, 0x10, 0x00];
            rec.extend(vec![0u8; 0x1000]);
            state = r.push(seq, &rec);
            seq += rec.len() as u32;
            assert!(r.memory() <= HelloReassembler::MAX_BYTES);
        }
        assert_eq!(state, HelloProgress::Abandoned);
        // Zero-length handshake record and an interleaved alert.
        let mut r = HelloReassembler::new(Some(0));
        assert_eq!(r.push(0, &[22, 3, 1, 0, 0]), HelloProgress::Abandoned);
        let msg = build_hello(&[0x1301], &[]);
        let mut stream = into_records(&msg[..10], &[]);
        stream.extend([21, 3, 3, 0, 2, 2, 40]);
        let mut r = HelloReassembler::new(Some(0));
        assert_eq!(r.push(0, &stream), HelloProgress::Abandoned);
    }

    #[test]
    fn far_away_segments_are_dropped() {
        let mut r = HelloReassembler::new(Some(1_000_000));
        let big = vec![0x16u8; 70_000];
        assert_eq!(
            r.push(1_000_000 + 20_000, &big[..100]),
            HelloProgress::NeedMore
        );
        assert_eq!(r.push(3_000_000_000, &big), HelloProgress::NeedMore);
        assert_eq!(
            r.push(1_000_000 - 80_000, &big[..1000]),
            HelloProgress::NeedMore
        );
        assert_eq!(r.memory(), 0);
        // A huge segment straddling the bound is cut at it.
        r.push(1_000_000 + 16_000, &big);
        assert!(r.memory() <= HelloReassembler::MAX_BYTES);
        assert_eq!(r.push(1_000_000, &CURL[..10]), HelloProgress::NeedMore);
        assert_eq!(r.push(1_000_000 + 10, &CURL[10..]), HelloProgress::Complete);
        assert_eq!(r.hello(), Some(&CURL[5..]));
        assert!(r.memory() <= HelloReassembler::MAX_BYTES);
    }

    #[test]
    fn too_many_holes_drops_then_recovers() {
        let mut r = HelloReassembler::new(Some(0));
        for i in 0..(MAX_RANGES as u32 + 5) {
            r.push(1 + 2 * i, &CURL[1 + 2 * i as usize..2 + 2 * i as usize]);
        }
        assert!(r.span_count <= MAX_RANGES);
        // Retransmitting the whole flight completes it.
        assert_eq!(r.push(0, CURL), HelloProgress::Complete);
        assert_eq!(r.hello(), Some(&CURL[5..]));
    }

    // ---- 5. corpus (real captures with tshark ground truth, read in place) ----

    /// Client->server TCP segments (seq, payload) of `client` ("a.b.c.d", port) in a classic
    /// little-endian Ethernet/IPv4 pcap, and the ISN if the SYN is in the capture.
    fn pcap_client_segments(
        pcap: &[u8],
        ip: [u8; 4],
        port: u16,
    ) -> (Option<u32>, Vec<(u32, Vec<u8>)>) {
        assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "classic LE pcap");
        let (mut off, mut isn, mut segs) = (24usize, None, Vec::new());
        while off + 16 <= pcap.len() {
            let incl = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
            let frame = &pcap[off + 16..off + 16 + incl];
            off += 16 + incl;
            if frame.len() < 14 + 20 || frame[12..14] != [8, 0] || frame[14 + 9] != 6 {
                continue;
            }
            let ipv4 = &frame[14..];
            let ihl = usize::from(ipv4[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ipv4[2], ipv4[3]]));
            let tcp = &ipv4[ihl..total.min(ipv4.len())];
            if ipv4[12..16] != ip || u16::from_be_bytes([tcp[0], tcp[1]]) != port {
                continue;
            }
            let seq = u32::from_be_bytes(tcp[4..8].try_into().unwrap());
            if tcp[13] & 0x02 != 0 {
                isn = Some(seq.wrapping_add(1));
            }
            let data = &tcp[usize::from(tcp[12] >> 4) * 4..];
            if !data.is_empty() {
                segs.push((seq, data.to_vec()));
            }
        }
        (isn, segs)
    }

    fn corpus_pcap(name: &str) -> Option<Vec<u8>> {
        let root = env!("CARGO_MANIFEST_DIR");
        ["../shared/corpus/pcap", "../../shared/corpus/pcap"]
            .iter()
            .find_map(|dir| std::fs::read(format!("{root}/{dir}/{name}")).ok())
    }

    // Expected SNI/ALPN/segment counts are the corpus's tshark ground truth
    // (truth/<name>.flows.jsonl); JA4 from the independent Python script above, run on the
    // hello bytes tshark reassembled (tshark 4.0 has no JA4 field). Chrome sends a GREASE
    // ECH extension (0xfe0d) in every hello, so `ech` is true for it as well.
    #[test]
    fn corpus_client_hellos() {
        type Case = (
            &'static str,
            [u8; 4],
            u16,
            &'static str,
            &'static [&'static [u8]],
            bool,
            usize,
            &'static str,
        );
        let cases: [Case; 4] = [
            (
                "sv_tls-client-hello-frag-01.pcap",
                [10, 20, 0, 14],
                38576,
                "www.google.com",
                &[b"h2", b"http/1.1"],
                false,
                3,
                "t12d8008h2_9cedc1f1428b_046e095b7c4a",
            ),
            (
                "zeek_tls_tls13-ech.pcap",
                [192, 168, 20, 65],
                51066,
                "cloudflare-ech.com",
                &[b"h2", b"http/1.1"],
                true,
                1,
                "t13d1517h2_8daaf6152771_b1ff8ab2d16f",
            ),
            (
                "sv_bug-7264-tcp-3whs-ack-data-tls-01.pcap",
                [192, 168, 0, 253],
                49584,
                "raw.githubusercontent.com",
                &[],
                false,
                1,
                "t12d620800_106a9de34958_ce8ec278e0aa",
            ),
            (
                "zeek_tls_chrome-1250-tls-x25519-kyber.pcap",
                [0, 0, 51, 217],
                13783,
                "lh3.google.com",
                &[b"h2", b"http/1.1"],
                true,
                1,
                "t13d1516h2_8daaf6152771_02713d6af862",
            ),
        ];
        for (name, ip, port, sni, alpn, ech, segments, want_ja4) in cases {
            let Some(pcap) = corpus_pcap(name) else {
                eprintln!("corpus not found, skipping {name}");
                continue;
            };
            let (isn, segs) = pcap_client_segments(&pcap, ip, port);
            let mut r = HelloReassembler::new(isn);
            let mut used = 0;
            for (seq, data) in &segs {
                used += 1;
                if r.push(*seq, data) != HelloProgress::NeedMore {
                    break;
                }
            }
            assert_eq!(used, segments, "{name}");
            let h = parse_client_hello(r.hello().expect(name)).unwrap();
            assert_eq!(h.sni, Some(sni.as_bytes()), "{name}");
            assert_eq!(alpn_list(&h), alpn.to_vec(), "{name}");
            assert_eq!(h.ech, ech, "{name}");
            assert_eq!(ja4_str(&h, b't'), want_ja4, "{name}");
        }
    }

    // ---- property tests ----

    /// Valid client streams: the real captures and a multi-record hand-built hello.
    fn streams() -> Vec<Vec<u8>> {
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

    fn isn_strategy() -> impl Strategy<Value = u32> {
        prop_oneof![any::<u32>(), (0u32..2048).prop_map(|d| u32::MAX - d)]
    }

    proptest! {
        #[test]
        fn any_segmentation_and_order_gives_the_same_hello(
            which in 0usize..5,
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
            extra in proptest::collection::vec((any::<prop::sample::Index>(), 1usize..300), 0..6),
            order in any::<prop::sample::Index>(),
            shuffle_seed in any::<u64>(),
            isn in isn_strategy(),
        ) {
            let stream = &streams()[which];
            let want = reassemble(stream);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len())).collect();
            points.extend([0, stream.len()]);
            points.sort_unstable();
            points.dedup();
            let mut segs: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
            for (at, len) in &extra {
                let lo = at.index(stream.len());
                segs.push((lo, (lo + len).min(stream.len())));
            }
            // Deterministic shuffle from the seed, then rotate by `order`.
            let mut state = shuffle_seed | 1;
            for i in (1..segs.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                segs.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let k = order.index(segs.len());
            segs.rotate_left(k);
            let mut r = HelloReassembler::new(Some(isn));
            let mut last = HelloProgress::NeedMore;
            for (lo, hi) in segs {
                last = r.push(isn.wrapping_add(lo as u32), &stream[lo..hi]);
                prop_assert!(r.memory() <= HelloReassembler::MAX_BYTES);
            }
            prop_assert_eq!(last, HelloProgress::Complete);
            prop_assert_eq!(r.hello(), Some(&want[..]));
            let h = parse_client_hello(r.hello().unwrap()).unwrap();
            let want_h = parse_client_hello(&want).unwrap();
            prop_assert!(h.sni.is_some());
            prop_assert_eq!(h.sni, want_h.sni);
        }

        #[test]
        fn in_order_prefix_without_isn(
            which in 0usize..5,
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
            isn in isn_strategy(),
        ) {
            let stream = &streams()[which];
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len())).collect();
            points.extend([0, stream.len()]);
            points.sort_unstable();
            points.dedup();
            let mut r = HelloReassembler::new(None);
            let mut last = HelloProgress::NeedMore;
            for w in points.windows(2) {
                last = r.push(isn.wrapping_add(w[0] as u32), &stream[w[0]..w[1]]);
            }
            prop_assert_eq!(last, HelloProgress::Complete);
            prop_assert_eq!(r.hello(), Some(&reassemble(stream)[..]));
        }

        #[test]
        fn random_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            segs in proptest::collection::vec((any::<u32>(), proptest::collection::vec(any::<u8>(), 0..3000)), 0..8),
            isn in proptest::option::of(any::<u32>()),
        ) {
            if let Ok(h) = parse_client_hello(&bytes) {
                let _ = ja4(&h, b't');
                let _ = h.alpn.iter().count();
            }
            let _ = looks_like_client_hello(&bytes);
            let mut r = HelloReassembler::new(isn);
            let base = isn.unwrap_or(0);
            r.push(base, &bytes);
            for (seq, data) in &segs {
                r.push(*seq, data);
                r.push(base.wrapping_add(*seq % 20_000), data);
                prop_assert!(r.memory() <= HelloReassembler::MAX_BYTES);
            }
            if let Some(m) = r.hello() {
                let _ = parse_client_hello(m);
            }
        }

        #[test]
        fn mutated_real_hellos_never_panic(
            which in 0usize..5,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut msg = reassemble(&streams()[which]);
            for (at, v) in &flips {
                let i = at.index(msg.len());
                msg[i] = *v;
            }
            if let Ok(h) = parse_client_hello(&msg) {
                let s = ja4(&h, b't');
                prop_assert!(s.is_ascii());
                let _ = h.alpn.iter().count();
            }
        }
    }
}
