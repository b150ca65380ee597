//! The zero-copy ClientHello parser: SNI, ALPN, supported versions, signature algorithms and
//! ECH (RFC 8446 §4.1.2, RFC 6066 §3, RFC 7301 §3.1), plus the record-layer test used to find TLS
//! on any port. It borrows the handshake bytes, never allocates and never panics on any input.

use super::HelloReassembler;

/// TLS record content type `handshake` (RFC 8446 §5.1).
const CONTENT_HANDSHAKE: u8 = 22;
/// Handshake message type `client_hello` (RFC 8446 §4).
pub(super) const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// Largest TLSPlaintext fragment a peer may send: 2^14 (RFC 8446 §5.1).
const MAX_RECORD_FRAGMENT: usize = 1 << 14;
/// Record header: type(1) + legacy_record_version(2) + length(2) (RFC 8446 §5.1).
pub(super) const RECORD_HEADER_LEN: usize = 5;
/// Handshake header: msg_type(1) + uint24 length (RFC 8446 §4).
pub(super) const HANDSHAKE_HEADER_LEN: usize = 4;

pub(super) const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
pub(super) const EXT_ALPN: u16 = 0x0010;
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
pub(super) fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// Big-endian u16 values of a raw list body; a trailing odd byte is ignored.
pub(super) fn u16_values(raw: &[u8]) -> impl Iterator<Item = u16> + Clone + '_ {
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
    parse_hello(handshake, false)
}

/// Parse the first bytes of a ClientHello too long to keep whole
/// ([`HelloReassembler::truncated`]): the fixed fields must be present, then the extensions are
/// read as far as they are complete (a cut last extension, and everything after it, is not
/// seen). What it returns describes a prefix only: its SNI is the hello's SNI when the
/// server_name extension lies in the prefix, but a fingerprint (JA4) of it would be wrong.
pub fn parse_client_hello_prefix(prefix: &[u8]) -> Result<ClientHello<'_>, TlsError> {
    parse_hello(prefix, true)
}

fn parse_hello(handshake: &[u8], prefix: bool) -> Result<ClientHello<'_>, TlsError> {
    let mut hs = Reader::new(handshake);
    match hs.u8() {
        None => return Err(TlsError::Truncated),
        Some(HANDSHAKE_CLIENT_HELLO) => {}
        Some(_) => return Err(TlsError::NotTls),
    }
    let len = hs.u24().ok_or(TlsError::Truncated)?;
    if !prefix && len + HANDSHAKE_HEADER_LEN > HelloReassembler::MAX_BYTES {
        return Err(TlsError::TooLarge);
    }
    let body = if prefix {
        let rest = hs.rest;
        &rest[..rest.len().min(len)]
    } else {
        hs.take(len).ok_or(TlsError::Truncated)?
    };

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
    } else if prefix {
        // The block's length, then as many whole extensions as were kept.
        r.u16().ok_or(TlsError::Malformed("extensions"))?;
        complete_extensions(r.rest)
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

/// The leading whole extensions of a cut extension block.
fn complete_extensions(block: &[u8]) -> &[u8] {
    let mut r = Reader::new(block);
    let mut whole = 0;
    while r.u16().is_some() && r.vec16().is_some() {
        whole = block.len() - r.rest.len();
    }
    &block[..whole]
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
pub(super) fn record_kind_ok(header: &[u8]) -> bool {
    header.first().is_none_or(|&t| t == CONTENT_HANDSHAKE)
        && header.get(1).is_none_or(|&major| major == 3)
}

/// Record length, if present: 1..=2^14 (RFC 8446 §5.1: no zero-length handshake
/// fragments, no fragment over 2^14 bytes).
pub(super) fn record_len_ok(header: &[u8]) -> bool {
    match (header.get(3), header.get(4)) {
        (Some(&hi), Some(&lo)) => {
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            (1..=MAX_RECORD_FRAGMENT).contains(&len)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::inspect::tls::ja4;
    use proptest::prelude::*;

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

    proptest! {
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
