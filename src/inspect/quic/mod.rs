//! QUIC client Initial decryption: recovers the TLS ClientHello carried in the CRYPTO frames of a
//! client's Initial packets (QUIC v1, v2 and drafts 27-32), reassembled across packets and datagrams.
//!
//! Every input is untrusted and nothing here panics; buffered bytes are bounded by
//! [`QuicInitial::MAX_CRYPTO`] plus one packet, and a flow is given up after
//! [`QuicInitial::MAX_PACKETS`] client Initials that do not complete the hello.
//!
//! Under `cfg(fuzzing)` the AEAD is skipped entirely: the protected payload (minus its 16-byte
//! tag) is taken as plaintext, so a fuzzer reaches the frame walker and reassembly without
//! having to forge AES-GCM tags (as smoltcp skips checksums). Header protection is still removed.

#![forbid(unsafe_code)]

mod crypto;
mod keys;

use crypto::{walk_frames, CryptoStream, HelloState};
use keys::{fallback_params, version_params, ConnKeys, VersionParams};

use super::{GiveUp, Progress};

/// QUIC version 1 (RFC 9000).
pub const VERSION_1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369 §3.1).
pub const VERSION_2: u32 = 0x6b33_43cf;
/// QUIC draft-29, the last draft deployed at scale (Chromium, older servers).
pub const VERSION_DRAFT_29: u32 = 0xff00_001d;

/// The AEAD tag length of AEAD_AES_128_GCM (RFC 9001 §5.3).
const TAG_LEN: usize = 16;
/// Header protection samples 16 bytes, taken 4 bytes after the packet number starts (RFC 9001 §5.4.2).
const SAMPLE_LEN: usize = 16;
/// RFC 9000 §17.2: a version 1 connection ID is at most 20 bytes (also true of v2 and the drafts).
const MAX_CID_LEN: usize = 20;

/// Why a datagram (or one packet in it) could not be decoded; data, not strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuicError {
    /// The datagram is empty or its first packet is not a long header (RFC 9000 §17.2, bit 0x80).
    NotLongHeader,
    /// The fixed bit (0x40) of a long header is clear (RFC 9000 §17.2).
    FixedBitClear,
    /// Version 0: a Version Negotiation packet (RFC 9000 §17.2.1), never a client Initial.
    VersionNegotiation,
    /// A version this module has no Initial salt for.
    UnsupportedVersion(u32),
    /// The first packet of the datagram is a known version but not an Initial.
    NotInitial,
    /// A header field runs past the end of the datagram.
    Truncated,
    /// A connection ID length above 20 (RFC 9000 §17.2).
    ConnectionIdTooLong,
    /// The Length field runs past the end of the datagram (RFC 9000 §17.2).
    LengthPastEnd,
    /// The packet is too short to hold the header protection sample and the AEAD tag (RFC 9001 §5.4.2).
    TooShortForSample,
    /// The packet is longer than [`QuicInitial::MAX_PACKET_LEN`].
    PacketTooLarge,
    /// AES-128-GCM authentication failed (RFC 9001 §5.3): corrupted, or not QUIC.
    DecryptFailed,
    /// A frame is cut short or has an impossible field (RFC 9000 §19).
    BadFrame,
    /// The CRYPTO stream does not start with a ClientHello (TLS handshake type 1).
    NotClientHello,
    /// The ClientHello announces more bytes than [`QuicInitial::MAX_CRYPTO`].
    HelloTooLarge,
}

/// A bounds-checked reader; every method returns `None` instead of reading past the end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// Skip a run of zero bytes (PADDING frames are one zero byte each, and fill most of an
    /// Initial: skipping them one frame at a time was the decoder's largest cost).
    fn skip_zeros(&mut self) {
        let rest = &self.buf[self.pos..];
        // Sixteen bytes at a time (a byte at a time was still a third of the decoder), then the
        // bytes of the first block that is not all zeros.
        let blocks = rest
            .chunks_exact(16)
            .take_while(|c| u128::from_ne_bytes((*c).try_into().unwrap_or([1; 16])) == 0)
            .count();
        let tail = &rest[blocks * 16..];
        self.pos += blocks * 16 + tail.iter().position(|&b| b != 0).unwrap_or(tail.len());
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// RFC 9000 §16: the two high bits of the first byte give the length (1, 2, 4 or 8 bytes).
    fn varint(&mut self) -> Option<u64> {
        let first = self.u8()?;
        let len = 1usize << (first >> 6);
        let mut v = u64::from(first & 0x3f);
        for &b in self.take(len - 1)? {
            v = (v << 8) | u64::from(b);
        }
        Some(v)
    }

    fn varint_len(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok()
    }
}

/// The kinds of long-header packet a client sends (Retry and Version Negotiation come from servers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LongKind {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

/// A parsed long header, still protected (RFC 9000 §17.2, §17.2.2).
struct LongHeader<'a> {
    version: u32,
    params: &'static VersionParams,
    kind: LongKind,
    dcid: &'a [u8],
    /// Offset of the (protected) Packet Number field within the packet.
    pn_offset: usize,
    /// Total packet length: header plus the Length field's bytes. `None` for Retry (no Length).
    packet_len: Option<usize>,
}

/// RFC 9000 §17.2 and §17.2.2:
/// ```text
/// Long Header Packet {
///   Header Form (1) = 1, Fixed Bit (1) = 1, Long Packet Type (2), Type-Specific Bits (4),
///   Version (32), Destination Connection ID Length (8), Destination Connection ID (0..160),
///   Source Connection ID Length (8), Source Connection ID (0..160),
///   [Initial: Token Length (i), Token (..)], Length (i), Packet Number (8..32), Payload (..)
/// }
/// ```
fn parse_long_header(packet: &[u8]) -> Result<LongHeader<'_>, QuicError> {
    let mut r = Reader::new(packet);
    let first = r.u8().ok_or(QuicError::NotLongHeader)?;
    if first & 0x80 == 0 {
        return Err(QuicError::NotLongHeader);
    }
    let version = r.u32().ok_or(QuicError::Truncated)?;
    if version == 0 {
        return Err(QuicError::VersionNegotiation);
    }
    if first & 0x40 == 0 {
        return Err(QuicError::FixedBitClear);
    }
    let params = version_params(version).ok_or(QuicError::UnsupportedVersion(version))?;
    let dcid_len = usize::from(r.u8().ok_or(QuicError::Truncated)?);
    if dcid_len > MAX_CID_LEN {
        return Err(QuicError::ConnectionIdTooLong);
    }
    let dcid = r.take(dcid_len).ok_or(QuicError::Truncated)?;
    let scid_len = usize::from(r.u8().ok_or(QuicError::Truncated)?);
    if scid_len > MAX_CID_LEN {
        return Err(QuicError::ConnectionIdTooLong);
    }
    r.take(scid_len).ok_or(QuicError::Truncated)?;
    let type_bits = (first >> 4) & 0x03;
    let kind = if type_bits == params.initial_type {
        LongKind::Initial
    } else if type_bits == params.zero_rtt_type {
        LongKind::ZeroRtt
    } else if type_bits == params.handshake_type {
        LongKind::Handshake
    } else {
        LongKind::Retry
    };
    if kind == LongKind::Retry {
        return Ok(LongHeader {
            version,
            params,
            kind,
            dcid,
            pn_offset: r.pos,
            packet_len: None,
        });
    }
    if kind == LongKind::Initial {
        let token_len = r.varint_len().ok_or(QuicError::Truncated)?;
        r.take(token_len).ok_or(QuicError::Truncated)?;
    }
    let length = r.varint_len().ok_or(QuicError::Truncated)?;
    if length > r.remaining() {
        return Err(QuicError::LengthPastEnd);
    }
    Ok(LongHeader {
        version,
        params,
        kind,
        dcid,
        pn_offset: r.pos,
        packet_len: Some(r.pos + length),
    })
}

/// RFC 9000 Appendix A.3: the packet number closest to the next expected one.
fn decode_packet_number(largest: Option<u64>, truncated: u64, pn_len: usize) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let win = 1u64 << (pn_len * 8);
    let half = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | truncated;
    if candidate.saturating_add(half) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(half) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// Lifecycle of a [`QuicInitial`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Active,
    Complete,
    Abandoned,
}

/// What one datagram yielded, lax in the etherparse sense: what decoded plus the first error.
#[derive(Default)]
struct DatagramOutcome {
    initials: u32,
    crypto_frames: usize,
    error: Option<QuicError>,
}

thread_local! {
    /// Each thread's decryption buffer, lent to the [`QuicInitial`] decoding a datagram.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Per-flow state while a QUIC flow is being inspected; created on the first client datagram that
/// looks like a client Initial.
pub struct QuicInitial {
    version: u32,
    keys: Option<Box<ConnKeys>>,
    crypto: CryptoStream,
    /// Decryption buffer (unprotected header, the AAD, then the payload), lent by the thread's
    /// [`SCRATCH`] for one datagram and empty otherwise.
    scratch: Vec<u8>,
    largest_pn: Option<u64>,
    packets: u32,
    decrypted_any: bool,
    phase: Phase,
}

impl Default for QuicInitial {
    fn default() -> Self {
        Self::new()
    }
}

impl QuicInitial {
    /// Hard cap on buffered CRYPTO bytes; a ClientHello announcing more is abandoned.
    pub const MAX_CRYPTO: usize = 16 * 1024;
    /// Give up after this many client Initial packets without a complete ClientHello.
    pub const MAX_PACKETS: u32 = 8;
    /// Longest Initial packet decrypted (a jumbo frame); clients send 1200-1500 bytes before
    /// path MTU discovery (RFC 9000 §14), so longer ones are dropped rather than buffered.
    pub const MAX_PACKET_LEN: usize = 9216;
    /// Upper bound of [`QuicInitial::memory`] whatever the input.
    pub const MAX_MEMORY: usize = Self::MAX_CRYPTO
        + Self::MAX_CRYPTO / 8
        + Self::MAX_PACKET_LEN
        + std::mem::size_of::<ConnKeys>();

    /// Quick check without allocation: long header with the fixed bit, a known version, the
    /// Initial packet type and a Length that fits the datagram with room for the header
    /// protection sample. Client Initials are >= 1200 bytes (RFC 9000 §14.1) but smaller ones
    /// are accepted too.
    pub fn looks_like_initial(udp_payload: &[u8]) -> bool {
        match parse_long_header(udp_payload) {
            Ok(h) => {
                h.kind == LongKind::Initial
                    && h.packet_len
                        .is_some_and(|end| h.pn_offset + 4 + SAMPLE_LEN <= end)
            }
            Err(_) => false,
        }
    }

    /// A client 0-RTT packet of a known version (RFC 9000 §17.2.3): a client may send 0-RTT
    /// datagrams that arrive (or are captured) before its Initial; the flow then waits for the
    /// Initial instead of being taken for something else.
    pub fn looks_like_zero_rtt(udp_payload: &[u8]) -> bool {
        matches!(parse_long_header(udp_payload), Ok(h) if h.kind == LongKind::ZeroRtt)
    }

    /// Empty state; allocates nothing until a datagram is pushed.
    pub fn new() -> Self {
        QuicInitial {
            version: 0,
            keys: None,
            crypto: CryptoStream::default(),
            scratch: Vec::new(),
            largest_pn: None,
            packets: 0,
            decrypted_any: false,
            phase: Phase::Active,
        }
    }

    /// Feed one client->server UDP datagram payload.
    pub fn push_datagram(&mut self, udp_payload: &[u8]) -> Progress {
        match self.phase {
            Phase::Complete => return Progress::Complete,
            Phase::Abandoned => return Progress::GaveUp(GiveUp::Abandoned),
            Phase::Active => {}
        }
        // The decryption buffer is per thread, not per flow: a flood of new flows would otherwise
        // allocate and free one (up to MAX_PACKET_LEN bytes) per flow.
        self.scratch = SCRATCH.with(|s| s.take());
        let outcome = self.decode_datagram(udp_payload);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        SCRATCH.with(|s| s.replace(scratch));
        match self.crypto.state() {
            HelloState::Complete => {
                self.phase = Phase::Complete;
                self.keys = None;
                return Progress::Complete;
            }
            HelloState::Invalid(_) => return self.abandon(),
            HelloState::Incomplete => {}
        }
        if self.packets >= Self::MAX_PACKETS {
            return self.abandon();
        }
        if self.decrypted_any || outcome.initials > 0 {
            return Progress::NeedMore;
        }
        match outcome.error {
            Some(QuicError::VersionNegotiation | QuicError::UnsupportedVersion(_)) => {
                Progress::GaveUp(GiveUp::Unsupported)
            }
            Some(QuicError::NotInitial) | None => Progress::NeedMore,
            Some(_) => Progress::NotThisProtocol,
        }
    }

    /// After [`Progress::Complete`]: the contiguous ClientHello handshake message
    /// (type 1, u24 length, body) for the TLS parser.
    pub fn hello(&self) -> Option<&[u8]> {
        match (self.phase, self.crypto.need) {
            (Phase::Complete, Some(need)) => self.crypto.data.get(..need),
            _ => None,
        }
    }

    /// The QUIC version of the first decoded Initial (0 before one was seen).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Heap bytes held, for the caller's global inspection-memory bound; at most
    /// [`QuicInitial::MAX_MEMORY`].
    pub fn memory(&self) -> usize {
        self.crypto.memory()
            + self.scratch.capacity()
            + self
                .keys
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<ConnKeys>())
    }

    fn abandon(&mut self) -> Progress {
        self.phase = Phase::Abandoned;
        self.crypto = CryptoStream::default();
        self.keys = None;
        Progress::GaveUp(GiveUp::Abandoned)
    }

    /// RFC 9000 §12.2: a datagram may coalesce several long-header packets, each delimited by its
    /// Length; a short-header packet (or trailing padding) runs to the end. Packets whose DCID
    /// differs from the first one's are ignored, as §12.2 recommends.
    fn decode_datagram(&mut self, datagram: &[u8]) -> DatagramOutcome {
        let mut out = DatagramOutcome::default();
        let mut rest = datagram;
        let mut first_dcid: Option<&[u8]> = None;
        if datagram.first().is_none_or(|b| b & 0x80 == 0) {
            out.error = Some(QuicError::NotLongHeader);
            return out;
        }
        while rest.first().is_some_and(|b| b & 0x80 != 0) {
            let header = match parse_long_header(rest) {
                Ok(h) => h,
                Err(e) => {
                    out.error.get_or_insert(e);
                    break;
                }
            };
            let Some(packet_len) = header.packet_len else {
                break; // Retry has no Length; a client never sends one.
            };
            let (packet, tail) = rest.split_at(packet_len);
            rest = tail;
            let same_connection = *first_dcid.get_or_insert(header.dcid) == header.dcid;
            if header.kind != LongKind::Initial || !same_connection {
                continue;
            }
            out.initials += 1;
            self.packets = self.packets.saturating_add(1);
            match self.decrypt_initial(packet, &header) {
                Ok(plain_range) => {
                    let plain = &self.scratch[plain_range];
                    match walk_frames(plain, header.params.crypto_frame, &mut self.crypto) {
                        Ok(n) => out.crypto_frames += n,
                        Err(e) => {
                            out.error.get_or_insert(e);
                        }
                    }
                }
                Err(e) => {
                    out.error.get_or_insert(e);
                }
            }
        }
        if out.initials == 0 && out.error.is_none() {
            out.error = Some(QuicError::NotInitial);
        }
        out
    }

    /// RFC 9001 §5.4 (remove header protection) then §5.3 (AEAD). On success the plaintext is
    /// `self.scratch[range]`.
    fn decrypt_initial(
        &mut self,
        packet: &[u8],
        header: &LongHeader<'_>,
    ) -> Result<std::ops::Range<usize>, QuicError> {
        if packet.len() > Self::MAX_PACKET_LEN {
            return Err(QuicError::PacketTooLarge);
        }
        let pn_offset = header.pn_offset;
        // §5.4.2: the sample starts 4 bytes into the Packet Number field whatever its length.
        let sample = packet
            .get(pn_offset + 4..pn_offset + 4 + SAMPLE_LEN)
            .ok_or(QuicError::TooShortForSample)?;

        // Initial keys come from the DCID of the client's first Initial (RFC 9001 §5.2) and stay
        // when the client takes the server's connection ID as its DCID for later Initials; they
        // change only after a Retry (or a new connection on the same tuple). So a packet with
        // another DCID is first tried with the keys in use, and only then with keys of its own,
        // which must prove themselves by decrypting before the old stream is dropped.
        let cached = self
            .keys
            .as_ref()
            .is_some_and(|k| k.matches(header.version, header.dcid));
        if !cached {
            if let Some(keys) = self.keys.as_deref().filter(|k| k.version == header.version) {
                if let Ok((range, pn)) = open_packet(
                    keys,
                    &mut self.scratch,
                    packet,
                    pn_offset,
                    sample,
                    self.largest_pn,
                ) {
                    self.decrypted_any = true;
                    self.largest_pn = Some(self.largest_pn.map_or(pn, |l| l.max(pn)));
                    return Ok(range);
                }
            }
        }
        let mut fresh = if cached {
            None
        } else {
            Some(Box::new(
                ConnKeys::new(header.version, header.params, header.dcid)
                    .ok_or(QuicError::ConnectionIdTooLong)?,
            ))
        };
        let largest = if fresh.is_some() {
            None
        } else {
            self.largest_pn
        };
        let opened = match fresh.as_deref().or(self.keys.as_deref()) {
            Some(keys) => open_packet(keys, &mut self.scratch, packet, pn_offset, sample, largest),
            None => Err(QuicError::DecryptFailed),
        };
        let (range, packet_number) = match (opened, fallback_params(header.version)) {
            // Keys of the version's second choice, for a fresh connection only: keys that
            // already opened this connection's packets are the client's.
            (Err(QuicError::DecryptFailed), Some(params)) if fresh.is_some() => {
                let keys = Box::new(
                    ConnKeys::new(header.version, params, header.dcid)
                        .ok_or(QuicError::ConnectionIdTooLong)?,
                );
                let opened =
                    open_packet(&keys, &mut self.scratch, packet, pn_offset, sample, None)?;
                fresh = Some(keys);
                opened
            }
            (opened, _) => opened?,
        };

        if let Some(k) = fresh {
            if self.keys.is_some() {
                // A different connection's Initial: its CRYPTO stream starts afresh.
                self.crypto = CryptoStream::default();
            }
            self.keys = Some(k);
        }
        if !self.decrypted_any {
            self.version = header.version;
        }
        self.decrypted_any = true;
        self.largest_pn = Some(
            self.largest_pn
                .map_or(packet_number, |l| l.max(packet_number)),
        );
        Ok(range)
    }
}

/// Remove header protection (RFC 9001 §5.4) and open the AEAD (§5.3) of one Initial with `keys`,
/// into `scratch`: the plaintext range and the packet number, or `DecryptFailed` (nothing of the
/// connection's state is touched, so another key can be tried).
fn open_packet(
    keys: &ConnKeys,
    scratch: &mut Vec<u8>,
    packet: &[u8],
    pn_offset: usize,
    sample: &[u8],
    largest: Option<u64>,
) -> Result<(std::ops::Range<usize>, u64), QuicError> {
    let mask = keys.mask(sample).ok_or(QuicError::TooShortForSample)?;
    // §5.4.1: long headers protect the low 4 bits of the first byte.
    let first = packet[0] ^ (mask[0] & 0x0f);
    let pn_len = usize::from(first & 0x03) + 1;
    let pn_end = pn_offset + pn_len;
    if pn_end + TAG_LEN > packet.len() {
        return Err(QuicError::TooShortForSample);
    }
    scratch.clear();
    if packet.len() > scratch.capacity() {
        scratch.reserve_exact(packet.len());
    }
    scratch.extend_from_slice(&packet[..pn_end]);
    scratch[0] = first;
    let mut truncated = 0u64;
    for (i, m) in (pn_offset..pn_end).zip(&mask[1..]) {
        scratch[i] ^= m;
        truncated = (truncated << 8) | u64::from(scratch[i]);
    }
    let packet_number = decode_packet_number(largest, truncated, pn_len);
    let body_end = packet.len() - TAG_LEN;
    scratch.extend_from_slice(&packet[pn_end..body_end]);
    let (aad, body) = scratch.split_at_mut(pn_end);
    if !keys.open(packet_number, aad, body, &packet[body_end..]) {
        return Err(QuicError::DecryptFailed);
    }
    Ok((pn_end..body_end, packet_number))
}

/// One-shot fuzz-friendly entry point: decode every client Initial of one datagram and return
/// the number of CRYPTO frames found, or the first error met; never panics.
pub fn decode_datagram_for_fuzzing(udp_payload: &[u8]) -> Result<usize, QuicError> {
    let mut state = QuicInitial::new();
    let outcome = state.decode_datagram(udp_payload);
    if let HelloState::Invalid(e) = state.crypto.state() {
        return Err(e);
    }
    match outcome.error {
        Some(e) => Err(e),
        None if outcome.initials == 0 => Err(QuicError::NotInitial),
        None => Ok(outcome.crypto_frames),
    }
}

// The vectors and captures below need the real AEAD, which `cfg(fuzzing)` removes.
#[cfg(all(test, not(fuzzing)))]
mod tests {
    use super::*;

    #[test]
    fn padding_runs_are_skipped_to_the_first_other_byte() {
        for zeros in 0..70 {
            for tail in [&[][..], &[0x06][..], &[0x01, 0, 0][..]] {
                let mut buf = vec![0u8; zeros];
                buf.extend_from_slice(tail);
                let mut r = Reader::new(&buf);
                r.skip_zeros();
                assert_eq!(r.remaining(), tail.len(), "{zeros} zeros, then {tail:?}");
            }
        }
        // From the middle of a buffer.
        let buf = [7, 0, 0, 0, 9];
        let mut r = Reader::new(&buf);
        r.u8();
        r.skip_zeros();
        assert_eq!(r.u8(), Some(9));
    }
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const RFC_DCID: &str = "8394c8f03e515708";
    // RFC 9001 §A.2 and RFC 9369 §A.2: the CRYPTO frame in the sample client Initial.
    const RFC_CRYPTO_FRAME: &str = "
        060040f1010000ed0303ebf8fa56f129 39b9584a3896472ec40bb863cfd3e868
        04fe3a47f06a2b69484c000004130113 02010000c000000010000e00000b6578
        616d706c652e636f6dff01000100000a 00080006001d00170018001000070005
        04616c706e0005000501000000000033 00260024001d00209370b2c9caa47fba
        baf4559fedba753de171fa71f50f1ce1 5d43e994ec74d748002b000302030400
        0d0010000e0403050306030203080408 050806002d00020101001c0002400100
        3900320408ffffffffffffffff050480 00ffff07048000ffff08011001048000
        75300901100f088394c8f03e51570806 048000ffff";

    const RFC9001_A2: &[u8] = include_bytes!("../testdata/rfc9001_a2_client_initial.bin");
    const RFC9369_A2: &[u8] = include_bytes!("../testdata/rfc9369_a2_client_initial.bin");
    const AIOQUIC_V1: &[u8] = include_bytes!("../testdata/aioquic_v1_0.bin");
    const AIOQUIC_V2: &[u8] = include_bytes!("../testdata/aioquic_v2_0.bin");
    const AIOQUIC_BIG_0: &[u8] = include_bytes!("../testdata/aioquic_v1_big_0.bin");
    const AIOQUIC_BIG_1: &[u8] = include_bytes!("../testdata/aioquic_v1_big_1.bin");

    fn rfc_hello() -> Vec<u8> {
        // Strip the CRYPTO frame header: type 06, offset 00, length 40f1 (241).
        hex(RFC_CRYPTO_FRAME)[4..].to_vec()
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    fn complete(datagrams: &[&[u8]]) -> QuicInitial {
        let mut q = QuicInitial::new();
        let mut last = Progress::NeedMore;
        for d in datagrams {
            last = q.push_datagram(d);
        }
        assert_eq!(last, Progress::Complete);
        q
    }

    fn write_varint(out: &mut Vec<u8>, v: u64) {
        if v < 1 << 6 {
            out.push(v as u8);
        } else if v < 1 << 14 {
            out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes());
        } else if v < 1 << 30 {
            out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes());
        } else {
            out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes());
        }
    }

    fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
        let mut f = vec![0x06];
        write_varint(&mut f, offset);
        write_varint(&mut f, data.len() as u64);
        f.extend_from_slice(data);
        f
    }

    /// Test-side packet protection (RFC 9001 §5.3, §5.4): the inverse of `decrypt_initial`.
    fn protect(version: u32, dcid: &[u8], pn: u64, pn_len: usize, frames: &[u8]) -> Vec<u8> {
        protect_keyed(version, dcid, dcid, pn, pn_len, frames)
    }

    /// As `protect`, with the keys of `key_dcid` (the client's first DCID) on a packet whose
    /// header carries `dcid` (the server's connection ID, adopted for later Initials).
    fn protect_keyed(
        version: u32,
        key_dcid: &[u8],
        dcid: &[u8],
        pn: u64,
        pn_len: usize,
        frames: &[u8],
    ) -> Vec<u8> {
        protect_full(
            version,
            version_params(version).unwrap(),
            key_dcid,
            dcid,
            pn,
            pn_len,
            frames,
        )
    }

    /// As `protect`, with the keys of `params` whatever the version.
    fn protect_with(
        version: u32,
        params: &VersionParams,
        dcid: &[u8],
        pn: u64,
        pn_len: usize,
        frames: &[u8],
    ) -> Vec<u8> {
        protect_full(version, params, dcid, dcid, pn, pn_len, frames)
    }

    fn protect_full(
        version: u32,
        params: &VersionParams,
        key_dcid: &[u8],
        dcid: &[u8],
        pn: u64,
        pn_len: usize,
        frames: &[u8],
    ) -> Vec<u8> {
        let keys = ConnKeys::new(version, params, key_dcid).unwrap();
        let mut payload = frames.to_vec();
        // Room for the header protection sample (RFC 9001 §5.4.2).
        while pn_len + payload.len() < 4 {
            payload.push(0);
        }
        let mut p = vec![0xc0 | (params.initial_type << 4) | (pn_len as u8 - 1)];
        p.extend_from_slice(&version.to_be_bytes());
        p.push(dcid.len() as u8);
        p.extend_from_slice(dcid);
        p.push(3);
        p.extend_from_slice(b"scd");
        p.push(0); // no token
        write_varint(&mut p, (pn_len + payload.len() + TAG_LEN) as u64);
        let pn_offset = p.len();
        p.extend_from_slice(&pn.to_be_bytes()[8 - pn_len..]);
        let nonce = ring::aead::Nonce::assume_unique_for_key(keys.nonce(pn));
        let tag = keys
            .aead
            .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(&p), &mut payload)
            .unwrap();
        p.extend_from_slice(&payload);
        p.extend_from_slice(tag.as_ref());
        let mask = keys
            .mask(&p[pn_offset + 4..pn_offset + 4 + SAMPLE_LEN])
            .unwrap();
        p[0] ^= mask[0] & 0x0f;
        for i in 0..pn_len {
            p[pn_offset + i] ^= mask[1 + i];
        }
        p
    }

    #[test]
    fn rfc9001_a2_client_initial_decrypts() {
        assert!(QuicInitial::looks_like_initial(RFC9001_A2));
        assert_eq!(decode_datagram_for_fuzzing(RFC9001_A2), Ok(1));
        let q = complete(&[RFC9001_A2]);
        let hello = q.hello().unwrap();
        assert_eq!(hello, &rfc_hello()[..]);
        assert_eq!(hello.len(), 241);
        assert_eq!(&hello[..6], &hex("010000ed0303")[..]);
        assert!(contains(hello, b"example.com"));
        assert_eq!(q.version(), VERSION_1);
    }

    #[test]
    fn rfc9369_a2_client_initial_decrypts() {
        assert!(QuicInitial::looks_like_initial(RFC9369_A2));
        let q = complete(&[RFC9369_A2]);
        assert_eq!(q.hello().unwrap(), &rfc_hello()[..]);
        assert_eq!(q.version(), VERSION_2);
        // A v2 Initial with the v1 type bits is a v2 Retry, not an Initial (RFC 9369 §3.2).
        let mut as_v1_type = RFC9369_A2.to_vec();
        as_v1_type[0] &= !0x30;
        assert!(!QuicInitial::looks_like_initial(&as_v1_type));
    }

    #[test]
    fn draft29_and_draft27_round_trip() {
        for version in [VERSION_DRAFT_29, 0xff00_0020, 0xff00_001b] {
            let mut frames = hex(RFC_CRYPTO_FRAME);
            frames.resize(1162, 0);
            let packet = protect(version, &hex(RFC_DCID), 2, 4, &frames);
            let q = complete(&[&packet]);
            assert_eq!(q.hello().unwrap(), &rfc_hello()[..]);
            assert_eq!(q.version(), version);
        }
    }

    #[test]
    fn reserved_versions_and_old_drafts_decode_with_their_salts() {
        // 0x?a?a?a?a reserved (greased) versions as Wireshark reads them; drafts 22-26 and
        // 29-34; mvfst's draft-22 version; Google's T050 and T051.
        for version in [
            0x1a2a_3a4a,
            0xfafa_fafa,
            0xff00_0016,
            0xff00_0017,
            0xff00_001a,
            0xff00_0022,
            0xface_b001,
            0x5430_3530,
            0x5430_3531,
        ] {
            let mut frames = hex(RFC_CRYPTO_FRAME);
            frames.resize(1162, 0);
            let google = version >> 8 == 0x54_3035;
            if google {
                // Google's T05x number the CRYPTO frame 0x08.
                frames[0] = 0x08;
            }
            let packet = protect(version, &hex(RFC_DCID), 2, 4, &frames);
            assert!(QuicInitial::looks_like_initial(&packet), "{version:#x}");
            let q = complete(&[&packet]);
            assert_eq!(q.hello().unwrap(), &rfc_hello()[..]);
            assert_eq!(q.version(), version);
            // The other numbering's CRYPTO frame is not read as one.
            frames[0] = if google { 0x06 } else { 0x08 };
            let packet = protect(version, &hex(RFC_DCID), 3, 4, &frames);
            let mut q = QuicInitial::new();
            assert_ne!(q.push_datagram(&packet), Progress::Complete, "{version:#x}");
        }
        // A reserved version's Initial under the v1 keys (what a v1-era client greasing the
        // version sends): the draft-29 keys fail, the v1 keys open it.
        let mut frames = hex(RFC_CRYPTO_FRAME);
        frames.resize(1162, 0);
        let packet = protect_with(0x5a6a_7a8a, &keys::PARAMS_V1, &hex(RFC_DCID), 2, 4, &frames);
        let q = complete(&[&packet]);
        assert_eq!(q.hello().unwrap(), &rfc_hello()[..]);
        // Not every unknown version: a vendor version we have no salt for stays unsupported.
        let packet = protect(VERSION_1, &hex(RFC_DCID), 2, 4, &[0; 64]);
        let mut other = packet.clone();
        other[1..5].copy_from_slice(&0x5130_3530u32.to_be_bytes()); // "Q050"
        assert!(!QuicInitial::looks_like_initial(&other));
    }

    #[test]
    fn a_later_initial_with_the_servers_connection_id_keeps_the_first_keys() {
        // RFC 9001 §5.2: the Initial keys come from the client's first DCID, also for later
        // Initials that carry the server's connection ID as DCID. The hello spans both.
        let hello = rfc_hello();
        let (a, b) = hello.split_at(100);
        let first_dcid = hex(RFC_DCID);
        let server_cid = b"\x11\x22\x33\x44";
        let mut f1 = crypto_frame(0, a);
        f1.resize(1100, 0);
        let mut f2 = crypto_frame(100, b);
        f2.resize(1100, 0);
        let p1 = protect(VERSION_1, &first_dcid, 0, 2, &f1);
        let p2 = protect_keyed(VERSION_1, &first_dcid, server_cid, 1, 2, &f2);
        let q = complete(&[&p1, &p2]);
        assert_eq!(q.hello().unwrap(), &hello[..]);
        // The second packet alone cannot be read: its header's DCID is not the keys' one.
        let mut alone = QuicInitial::new();
        assert_ne!(alone.push_datagram(&p2), Progress::Complete);
        assert!(alone.hello().is_none());
    }

    fn check_aioquic_hello(hello: &[u8]) {
        assert_eq!(hello[0], 1, "ClientHello handshake type");
        let len =
            (usize::from(hello[1]) << 16) | (usize::from(hello[2]) << 8) | usize::from(hello[3]);
        assert_eq!(hello.len(), 4 + len);
        assert!(contains(hello, b"drive.example.test"));
        assert!(contains(hello, b"\x02h3"));
    }

    #[test]
    fn aioquic_v1_and_v2() {
        let q = complete(&[AIOQUIC_V1]);
        check_aioquic_hello(q.hello().unwrap());
        assert_eq!(q.version(), VERSION_1);
        let q = complete(&[AIOQUIC_V2]);
        check_aioquic_hello(q.hello().unwrap());
        assert_eq!(q.version(), VERSION_2);
    }

    #[test]
    fn aioquic_hello_over_two_datagrams_in_either_order() {
        for order in [
            [AIOQUIC_BIG_0, AIOQUIC_BIG_1],
            [AIOQUIC_BIG_1, AIOQUIC_BIG_0],
        ] {
            let mut q = QuicInitial::new();
            assert_eq!(q.push_datagram(order[0]), Progress::NeedMore);
            assert!(q.hello().is_none());
            assert_eq!(q.push_datagram(order[1]), Progress::Complete);
            let hello = q.hello().unwrap();
            check_aioquic_hello(hello);
            assert!(hello.len() > 1200, "spans two packets: {}", hello.len());
            assert!(contains(hello, b"x-padding-protocol-069"));
            // Complete is sticky and cheap.
            assert_eq!(q.push_datagram(order[0]), Progress::Complete);
        }
    }

    /// A small deterministic PRNG so proptest seeds drive the split/shuffle.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn shuffle<T>(&mut self, v: &mut [T]) {
            for i in (1..v.len()).rev() {
                v.swap(i, self.below(i + 1));
            }
        }
    }

    /// Splits `hello` into pieces (with duplicates and overlaps), spreads them over shuffled
    /// Initial packets and coalesces those into datagrams (with a Handshake-type packet to skip).
    fn split_shuffle(version: u32, hello: &[u8], seed: u64) -> Vec<Vec<u8>> {
        let mut rng = XorShift(seed | 1);
        let dcid = [0x5a; 8];
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        let mut at = 0;
        while at < hello.len() {
            let len = 1 + rng.below(300);
            let end = (at + len).min(hello.len());
            pieces.push((at, end));
            // Overlap: restart a bit before the end of this piece.
            at = if rng.below(3) == 0 && end < hello.len() {
                end.saturating_sub(rng.below(20)).max(at + 1)
            } else {
                end
            };
        }
        for _ in 0..rng.below(4) {
            let dup = pieces[rng.below(pieces.len())];
            pieces.push(dup);
        }
        rng.shuffle(&mut pieces);
        let packets_n = 1 + rng.below(4);
        let mut per_packet: Vec<Vec<u8>> = vec![Vec::new(); packets_n];
        for (i, (s, e)) in pieces.iter().enumerate() {
            let target = if i < packets_n {
                i
            } else {
                rng.below(packets_n)
            };
            per_packet[target].extend(crypto_frame(*s as u64, &hello[*s..*e]));
            if rng.below(4) == 0 {
                per_packet[target].push(0x01); // PING between frames
            }
        }
        let mut packets: Vec<Vec<u8>> = per_packet
            .iter()
            .enumerate()
            .map(|(pn, frames)| protect(version, &dcid, pn as u64, 1 + rng.below(4), frames))
            .collect();
        rng.shuffle(&mut packets);
        // Coalesce: each datagram holds one or more packets, sometimes after a Handshake packet.
        let mut datagrams = Vec::new();
        let mut iter = packets.into_iter().peekable();
        while iter.peek().is_some() {
            let mut d = Vec::new();
            for _ in 0..1 + rng.below(3) {
                if let Some(p) = iter.next() {
                    d.extend(p);
                }
            }
            if rng.below(3) == 0 {
                let params = version_params(version).unwrap();
                d.push(0xc0 | (params.handshake_type << 4));
                d.extend_from_slice(&version.to_be_bytes());
                d.push(8);
                d.extend_from_slice(&dcid);
                d.push(0);
                d.extend_from_slice(&[0x40, 30]);
                d.extend_from_slice(&[0xee; 30]);
            }
            datagrams.push(d);
        }
        datagrams
    }

    fn big_hello() -> Vec<u8> {
        // A ~2 KB hello like Chromium's post-quantum one, built around the RFC hello.
        let mut h = vec![1, 0, 0, 0];
        h.extend_from_slice(&rfc_hello()[4..]);
        h.extend((0..1800u32).map(|i| (i * 7 + 3) as u8));
        let len = h.len() - 4;
        h[1..4].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
        h
    }

    #[test]
    fn split_shuffled_coalesced_hello_reassembles() {
        let hello = big_hello();
        for seed in 1..40 {
            for version in [VERSION_1, VERSION_2] {
                let datagrams = split_shuffle(version, &hello, seed);
                let mut q = QuicInitial::new();
                let mut last = Progress::NeedMore;
                for d in &datagrams {
                    last = q.push_datagram(d);
                }
                assert_eq!(last, Progress::Complete, "seed {seed}");
                assert_eq!(q.hello().unwrap(), &hello[..]);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn prop_split_shuffle(seed in any::<u64>(), v2 in any::<bool>()) {
            let hello = big_hello();
            let version = if v2 { VERSION_2 } else { VERSION_1 };
            let mut q = QuicInitial::new();
            let mut last = Progress::NeedMore;
            for d in split_shuffle(version, &hello, seed) {
                last = q.push_datagram(&d);
                prop_assert!(q.memory() <= QuicInitial::MAX_MEMORY);
            }
            prop_assert_eq!(last, Progress::Complete);
            prop_assert_eq!(q.hello().unwrap(), &hello[..]);
        }

        #[test]
        fn prop_random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let _ = decode_datagram_for_fuzzing(&data);
            let _ = QuicInitial::looks_like_initial(&data);
            let mut q = QuicInitial::new();
            q.push_datagram(&data);
            prop_assert!(q.memory() <= QuicInitial::MAX_MEMORY);
        }

        #[test]
        fn prop_mutated_initial_never_panics(
            edits in proptest::collection::vec((0usize..1200, any::<u8>()), 1..8),
            cut in 0usize..1300,
        ) {
            let mut data = RFC9001_A2.to_vec();
            for (i, b) in edits {
                data[i] = b;
            }
            data.truncate(cut);
            let _ = decode_datagram_for_fuzzing(&data);
            let mut q = QuicInitial::new();
            q.push_datagram(&data);
            prop_assert!(q.memory() <= QuicInitial::MAX_MEMORY);
        }

        #[test]
        fn prop_hostile_crypto_frames(frames in proptest::collection::vec((any::<u64>(), 0usize..600), 1..12)) {
            // Valid packets whose CRYPTO frames sit at arbitrary offsets, some huge.
            let mut q = QuicInitial::new();
            for (pn, (offset, len)) in frames.iter().enumerate() {
                let offset = offset & ((1 << 62) - 1 - 600);
                let body = crypto_frame(offset % 40_000, &vec![0x01; *len]);
                let p = protect(VERSION_1, &[7; 8], pn as u64, 2, &body);
                q.push_datagram(&p);
                prop_assert!(q.memory() <= QuicInitial::MAX_MEMORY);
            }
        }
    }

    #[test]
    fn truncated_headers_are_errors_not_panics() {
        for cut in 0..60 {
            let r = decode_datagram_for_fuzzing(&RFC9001_A2[..cut]);
            assert!(r.is_err(), "cut {cut}");
        }
        assert_eq!(
            decode_datagram_for_fuzzing(&[]),
            Err(QuicError::NotLongHeader)
        );
        assert_eq!(
            decode_datagram_for_fuzzing(&RFC9001_A2[..40]),
            Err(QuicError::LengthPastEnd)
        );
        let mut q = QuicInitial::new();
        assert_eq!(
            q.push_datagram(&RFC9001_A2[..40]),
            Progress::NotThisProtocol
        );
        assert_eq!(
            q.push_datagram(b"GET / HTTP/1.1\r\n"),
            Progress::NotThisProtocol
        );
    }

    #[test]
    fn dcid_longer_than_20_is_rejected() {
        let mut p = RFC9001_A2.to_vec();
        p[5] = 21;
        assert_eq!(
            decode_datagram_for_fuzzing(&p),
            Err(QuicError::ConnectionIdTooLong)
        );
        assert!(!QuicInitial::looks_like_initial(&p));
    }

    #[test]
    fn version_negotiation_and_unknown_versions_are_unsupported() {
        let mut vn = RFC9001_A2.to_vec();
        vn[1..5].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            QuicInitial::new().push_datagram(&vn),
            Progress::GaveUp(GiveUp::Unsupported)
        );
        let mut unknown = RFC9001_A2.to_vec();
        unknown[1..5].copy_from_slice(&0x5130_3530u32.to_be_bytes()); // gQUIC "Q050"
        assert_eq!(
            QuicInitial::new().push_datagram(&unknown),
            Progress::GaveUp(GiveUp::Unsupported)
        );
        assert_eq!(
            decode_datagram_for_fuzzing(&unknown),
            Err(QuicError::UnsupportedVersion(0x5130_3530))
        );
    }

    #[test]
    fn corrupted_payload_fails_authentication() {
        let mut p = RFC9001_A2.to_vec();
        p[600] ^= 1;
        if cfg!(not(fuzzing)) {
            assert_eq!(
                decode_datagram_for_fuzzing(&p),
                Err(QuicError::DecryptFailed)
            );
        }
        let mut q = QuicInitial::new();
        assert_eq!(q.push_datagram(&p), Progress::NeedMore);
        assert!(q.hello().is_none());
    }

    #[test]
    fn hundred_initials_that_never_complete_are_abandoned() {
        // The first 100 bytes of a 2 KB hello, sent again and again.
        let hello = big_hello();
        let mut q = QuicInitial::new();
        let mut results = Vec::new();
        for pn in 0..100u64 {
            let p = protect(VERSION_1, &[9; 8], pn, 2, &crypto_frame(0, &hello[..100]));
            results.push(q.push_datagram(&p));
            assert!(q.memory() <= QuicInitial::MAX_MEMORY);
        }
        let limit = QuicInitial::MAX_PACKETS as usize;
        assert!(results[..limit - 1]
            .iter()
            .all(|r| *r == Progress::NeedMore));
        assert!(results[limit - 1..]
            .iter()
            .all(|r| *r == Progress::GaveUp(GiveUp::Abandoned)));
        assert_eq!(q.memory(), 0);
        assert!(q.hello().is_none());
    }

    #[test]
    fn huge_offsets_are_dropped_and_oversized_hello_abandoned() {
        let mut q = QuicInitial::new();
        let far = protect(
            VERSION_1,
            &[1; 8],
            0,
            1,
            &crypto_frame(1 << 40, &[0xaa; 500]),
        );
        assert_eq!(decode_datagram_for_fuzzing(&far), Ok(1));
        assert_eq!(q.push_datagram(&far), Progress::NeedMore);
        assert_eq!(q.memory(), std::mem::size_of::<ConnKeys>());
        let edge = QuicInitial::MAX_CRYPTO as u64 - 10;
        let near = protect(VERSION_1, &[1; 8], 1, 1, &crypto_frame(edge, &[0xbb; 500]));
        assert_eq!(q.push_datagram(&near), Progress::NeedMore);
        assert!(q.crypto.data.len() <= QuicInitial::MAX_CRYPTO);
        assert!(q.memory() <= QuicInitial::MAX_MEMORY);
        // A hello announcing 64 KiB cannot fit: give up at once.
        let big = protect(VERSION_1, &[1; 8], 2, 1, &crypto_frame(0, &[1, 1, 0, 0]));
        assert_eq!(q.push_datagram(&big), Progress::GaveUp(GiveUp::Abandoned));
        assert_eq!(q.memory(), 0);
    }

    #[test]
    fn not_a_client_hello_is_abandoned() {
        let server_hello = protect(
            VERSION_1,
            &[2; 8],
            0,
            1,
            &crypto_frame(0, &[2, 0, 0, 4, 0, 0, 0, 0]),
        );
        assert_eq!(
            QuicInitial::new().push_datagram(&server_hello),
            Progress::GaveUp(GiveUp::Abandoned)
        );
        assert_eq!(
            decode_datagram_for_fuzzing(&server_hello),
            Err(QuicError::NotClientHello)
        );
    }

    #[test]
    fn frames_ack_close_and_unknown() {
        let hello = rfc_hello();
        let mut frames = vec![0x01, 0x00, 0x00];
        // ACK with one extra range, then ACK_ECN.
        frames.extend_from_slice(&[0x02, 0x05, 0x00, 0x01, 0x01, 0x00, 0x01]);
        frames.extend_from_slice(&[0x03, 0x05, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]);
        frames.extend(crypto_frame(0, &hello[..100]));
        frames.extend_from_slice(&[0x1c, 0x00, 0x00, 0x02, b'o', b'k']);
        frames.extend(crypto_frame(100, &hello[100..]));
        // A STREAM frame has no business in an Initial: the walk stops there.
        frames.extend_from_slice(&[0x08, 0x00, 0x00]);
        frames.extend(crypto_frame(0, &[0xff; 50]));
        let p = protect(VERSION_1, &[3; 8], 0, 2, &frames);
        assert_eq!(decode_datagram_for_fuzzing(&p), Ok(2));
        let q = complete(&[&p]);
        assert_eq!(q.hello().unwrap(), &hello[..]);
        // A truncated ACK is a frame error.
        let bad = protect(VERSION_1, &[3; 8], 0, 2, &[0x02, 0x05, 0x00, 0x3f]);
        assert_eq!(decode_datagram_for_fuzzing(&bad), Err(QuicError::BadFrame));
    }

    #[test]
    fn retransmission_does_not_rewrite_and_new_dcid_restarts() {
        let hello = rfc_hello();
        let mut q = QuicInitial::new();
        let first = protect(VERSION_1, &[4; 8], 0, 2, &crypto_frame(0, &hello[..50]));
        let mut forged = hello[..60].to_vec();
        forged[20..30].fill(0);
        let overlap = protect(VERSION_1, &[4; 8], 1, 2, &crypto_frame(0, &forged));
        let rest = protect(VERSION_1, &[4; 8], 2, 2, &crypto_frame(60, &hello[60..]));
        assert_eq!(q.push_datagram(&first), Progress::NeedMore);
        assert_eq!(q.push_datagram(&overlap), Progress::NeedMore);
        assert_eq!(q.push_datagram(&rest), Progress::Complete);
        assert_eq!(q.hello().unwrap(), &hello[..]);

        // A new DCID (say after Retry) drops the old partial stream once it decrypts.
        let mut q = QuicInitial::new();
        let junk = protect(
            VERSION_1,
            &[5; 8],
            0,
            2,
            &crypto_frame(0, &[1, 0, 9, 0, 0xcc]),
        );
        assert_eq!(q.push_datagram(&junk), Progress::NeedMore);
        let retry = protect(VERSION_1, &[6; 12], 1, 2, &hex(RFC_CRYPTO_FRAME));
        assert_eq!(q.push_datagram(&retry), Progress::Complete);
        assert_eq!(q.hello().unwrap(), &hello[..]);
    }

    #[test]
    fn coalesced_packet_with_other_dcid_is_ignored() {
        let hello = rfc_hello();
        let mut d = protect(VERSION_1, &[7; 8], 0, 2, &crypto_frame(0, &hello[..100]));
        d.extend(protect(
            VERSION_1,
            &[8; 8],
            1,
            2,
            &crypto_frame(100, &hello[100..]),
        ));
        let mut q = QuicInitial::new();
        assert_eq!(q.push_datagram(&d), Progress::NeedMore);
        // Trailing zero padding after the coalesced packets is fine.
        let mut d2 = protect(VERSION_1, &[7; 8], 2, 2, &crypto_frame(100, &hello[100..]));
        d2.extend_from_slice(&[0; 64]);
        assert_eq!(q.push_datagram(&d2), Progress::Complete);
    }

    #[test]
    fn hello_header_arriving_first_keeps_earlier_tail_bits() {
        // Regression: learning the hello length must not clear bits of a shorter bitmap.
        let hello = big_hello();
        for split in [60, 64, 1152, 1200, hello.len() - 1] {
            let mut s = CryptoStream::default();
            s.insert(0, &hello[..split]);
            assert!(matches!(s.state(), HelloState::Incomplete));
            s.insert(split as u64, &hello[split..]);
            assert!(matches!(s.state(), HelloState::Complete), "split {split}");
            assert_eq!(s.data, hello);
        }
    }

    #[test]
    fn packet_number_decoding_follows_rfc9000_a3() {
        // RFC 9000 §A.3 example: largest 0xa82f30ea, truncated 0x9b32 on 2 bytes -> 0xa82f9b32.
        assert_eq!(
            decode_packet_number(Some(0xa82f_30ea), 0x9b32, 2),
            0xa82f_9b32
        );
        assert_eq!(decode_packet_number(None, 2, 4), 2);
        assert_eq!(decode_packet_number(Some(255), 1, 1), 257);
    }
}

#[cfg(all(test, fuzzing))]
mod fuzzing_tests {
    use super::*;

    #[test]
    fn plaintext_payload_is_accepted_without_aead() {
        // Header as in RFC 9001 §A.2 with 4-byte PN; payload = CRYPTO frame in clear + fake tag.
        let mut p = vec![
            0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x40, 40, 0, 0, 0, 0,
        ];
        p.extend_from_slice(&[0x06, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00]);
        p.extend_from_slice(&[0x00; 13]);
        p.extend_from_slice(&[0xaa; 16]);
        assert_eq!(p.len(), 22 + 36);
        // Header protection may alter the PN length, so only require a non-panicking decode.
        let _ = decode_datagram_for_fuzzing(&p);
        assert!(QuicInitial::looks_like_initial(&p));
    }
}
