//! TCP reassembly of the client's first flight up to the end of its ClientHello: segments in any
//! order, overlapping or retransmitted, across sequence wrap-around, framed in any number of TLS
//! records (RFC 8446 §5.1). Holds at most [`HelloReassembler::MAX_BYTES`] of payload and gives up
//! (never grows) past that.

use super::hello::{
    record_kind_ok, record_len_ok, HANDSHAKE_CLIENT_HELLO, HANDSHAKE_HEADER_LEN, RECORD_HEADER_LEN,
};
use crate::inspect::stream::StreamBuf;
use crate::inspect::{GiveUp, Progress};

/// Without a known ISN, how many segments may arrive while the stream start does not look
/// like TLS, waiting for a reordered earlier segment, before the stream is called `NotThisProtocol`.
const UNANCHORED_GRACE_SEGMENTS: u8 = 4;

/// Reassembles the client's TLS byte stream from TCP segments and extracts the ClientHello
/// handshake message.
///
/// The buffer grows to the highest byte received (never past [`Self::MAX_BYTES`]); which bytes
/// arrived is a bitmap, so any number of holes is tracked and tiny segments cost CPU, not the
/// name. Overlapping bytes keep the first copy received (the policy is documented on
/// `inspect::stream`). A ClientHello longer than the bound is kept up to the bound and
/// completes, marked [`truncated`](Self::truncated), once that prefix is in: its SNI is still
/// read when it lies in the prefix. Drop the reassembler once the outcome is final to free its
/// buffer.
#[derive(Debug, Clone)]
pub struct HelloReassembler {
    /// Sequence number of stream offset 0, once known.
    start: Option<u32>,
    /// True when `start` came from the caller's ISN or the stream start looked like TLS.
    anchored: bool,
    grace_left: u8,
    data: StreamBuf,
    /// The other reading of the stream when segments overlapped with different bytes: the
    /// last received byte wins (made at the first conflicting byte). See [`Self::alternative`].
    alt: Option<Box<StreamBuf>>,
    /// Once complete: the ClientHello message, de-framed from its records (the stream bytes
    /// stay in `data`, so later copies of them can be compared).
    message: Vec<u8>,
    /// Once complete: stream bytes the hello's records take, from offset 0.
    raw_end: usize,
    /// The hello is longer than the bound: it completes as a kept prefix.
    truncated: bool,
    state: Progress,
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
    /// Hard bound on heap bytes held: the stream bytes and the map of which arrived, the same
    /// again for the second version of a hello whose bytes came twice (`alternative`), and the
    /// de-framed message.
    pub const MAX_MEMORY: usize = 2 * StreamBuf::memory_for(Self::MAX_BYTES) + Self::MAX_BYTES;

    /// `isn_next` = the sequence number of the client's first payload byte (the client's
    /// SYN seq plus one), if known; otherwise `None` and the first data segment's seq is
    /// taken as the start. Without an ISN, a segment with a lower seq arriving within the
    /// first few segments moves the start back while the current start does not look like
    /// TLS; after 4 segments that never look like TLS the stream is `NotThisProtocol`.
    pub fn new(isn_next: Option<u32>) -> Self {
        HelloReassembler {
            start: isn_next,
            anchored: isn_next.is_some(),
            grace_left: UNANCHORED_GRACE_SEGMENTS,
            data: StreamBuf::default(),
            alt: None,
            message: Vec::new(),
            raw_end: 0,
            truncated: false,
            state: Progress::NeedMore,
            scan: Scan::default(),
        }
    }

    /// Feed one client->server TCP segment (seq number of its first byte, payload). Out of
    /// order, duplicate, overlapping and retransmitted segments all work, as does sequence
    /// wrap-around; bytes outside `[start, start + MAX_BYTES)` are dropped. Once the result
    /// is `Complete`, `NotThisProtocol` or `GaveUp` it stays so and further segments are ignored.
    pub fn push(&mut self, seq: u32, payload: &[u8]) -> Progress {
        if self.state != Progress::NeedMore || payload.is_empty() {
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
        if self.state == Progress::NeedMore && !self.anchored {
            self.grace_left = self.grace_left.saturating_sub(1);
            if self.grace_left == 0 {
                self.state = Progress::NotThisProtocol;
            }
        }
        if matches!(
            self.state,
            Progress::NotThisProtocol | Progress::GaveUp(GiveUp::Abandoned)
        ) {
            self.data.clear();
            self.alt = None;
        }
        self.state
    }

    /// After [`Progress::Complete`]: a client segment that carries hello bytes again. Returns
    /// true when it carries them with different bytes (a second version of the hello: a decoy
    /// or the real one after a decoy, which may be longer), which changes [`Self::alternative`].
    /// Segments that only repeat the hello, or only follow it, change nothing and are not kept.
    pub fn recheck(&mut self, seq: u32, payload: &[u8]) -> bool {
        let (Progress::Complete, Some(start)) = (self.state, self.start) else {
            return false;
        };
        let Some((lo, bytes)) = in_window(seq.wrapping_sub(start), payload) else {
            return false;
        };
        // Bytes after the hello only matter once there is a second version to extend.
        if self.alt.is_none() && (lo >= self.raw_end || !self.data.differs(lo, bytes)) {
            return false;
        }
        let data = &self.data;
        let alt = self.alt.get_or_insert_with(|| Box::new(data.clone()));
        if !alt.would_change(lo, bytes) {
            return false;
        }
        alt.overwrite(lo, bytes);
        true
    }

    /// The other reading of a hello whose segments overlapped with different bytes: the
    /// ClientHello message as it reads when the last received copy of each byte wins (the
    /// first received copy gives [`Self::hello`]), and whether it is a kept prefix; `None`
    /// when no bytes conflicted or that reading is no complete hello. A server may have taken
    /// either version (it drops a segment cloudsight cannot tell is bad: a wrong checksum, a
    /// TTL too small to reach it), so the caller reads both and keeps the stricter verdict.
    pub fn alternative(&self) -> Option<(Vec<u8>, bool)> {
        let alt = self.alt.as_ref()?;
        let mut r = HelloReassembler::new(Some(0));
        for (lo, run) in alt.runs() {
            r.push(lo as u32, run);
        }
        let truncated = r.truncated();
        r.hello().map(|h| (h.to_vec(), truncated))
    }

    /// After [`Progress::Complete`], the contiguous handshake message (type 1 + 24-bit
    /// length + body), de-framed from its TLS records, for [`parse_client_hello`](super::parse_client_hello);
    /// when [`truncated`](Self::truncated), only the kept prefix of it, for
    /// [`parse_client_hello_prefix`](super::parse_client_hello_prefix).
    pub fn hello(&self) -> Option<&[u8]> {
        match self.state {
            Progress::Complete => Some(&self.message),
            _ => None,
        }
    }

    /// The ClientHello was longer than [`Self::MAX_BYTES`]: [`hello`](Self::hello) is its
    /// first bytes only.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Bytes currently held on the heap (for a global inspection-memory bound); never more
    /// than [`Self::MAX_MEMORY`].
    pub fn memory(&self) -> usize {
        self.data.memory() + self.message.capacity() + self.alt.as_ref().map_or(0, |a| a.memory())
    }

    /// Unanchored start only: an earlier segment arrived, so offset 0 moves back by `by`
    /// bytes if the buffered data still fits; otherwise the earlier bytes are ignored.
    fn rebase(&mut self, by: usize) {
        if by + self.data.bytes().len() > Self::MAX_BYTES {
            return;
        }
        self.data.rebase(by);
        if let Some(alt) = &mut self.alt {
            alt.rebase(by);
        }
        self.start = self.start.map(|s| s.wrapping_sub(by as u32));
        self.scan = Scan::default();
    }

    /// Copies the part of a segment at stream offset `offset` that lies in
    /// `[0, MAX_BYTES)` into the offsets not yet received (first copy wins).
    fn insert(&mut self, offset: u32, payload: &[u8]) {
        let Some((lo, bytes)) = in_window(offset, payload) else {
            return;
        };
        if self.alt.is_none() && self.data.differs(lo, bytes) {
            self.alt = Some(Box::new(self.data.clone()));
        }
        self.data.insert(lo, bytes);
        if let Some(alt) = &mut self.alt {
            alt.overwrite(lo, bytes);
        }
    }

    /// Walks the record layer over newly contiguous bytes (RFC 8446 §5.1: a handshake
    /// message may be fragmented across several records), and completes when the whole
    /// ClientHello handshake message is in, or, for a hello over the bound, its kept prefix.
    fn advance(&mut self) {
        let buf = self.data.contiguous();
        let avail = buf.len();
        let sc = &mut self.scan;
        loop {
            if sc.hs_need.is_some_and(|need| sc.hs_have >= need) {
                self.state = Progress::Complete;
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
                        self.state = Progress::GaveUp(GiveUp::Abandoned);
                    } else if self.anchored {
                        self.state = Progress::NotThisProtocol;
                    }
                    return;
                }
                if !record_len_ok(header) {
                    self.state = Progress::GaveUp(GiveUp::Abandoned);
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
                    self.state = Progress::NotThisProtocol;
                    return;
                }
                let len = (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c);
                sc.hs_need = Some(HANDSHAKE_HEADER_LEN + len);
            }
            // The rest of the message comes after `pos`, plus record headers: past the
            // bound it can never be buffered whole, so the kept prefix will have to do.
            let rest = sc.hs_need.map_or(0, |need| need - sc.hs_have);
            if sc.pos + rest > Self::MAX_BYTES {
                self.truncated = true;
            }
        }
        // A hello over the bound completes when every byte up to the bound is in.
        if self.truncated && avail >= Self::MAX_BYTES && self.scan.hs_need.is_some() {
            self.state = Progress::Complete;
        }
        // The buffer grows with the bytes received, never ahead of them: reserving the length a
        // hello announces (up to 16 KiB for 9 bytes of a record and handshake header) let a peer
        // make every flow hold 16 KiB with one small segment (found by the slow-drip flood test).
        if self.state == Progress::Complete {
            self.deframe();
        }
    }

    /// Copies the handshake fragments of the leading records into the message, without the
    /// record headers, up to the ClientHello's end (or the kept prefix); the stream bytes stay.
    fn deframe(&mut self) {
        let need = self.scan.hs_need.unwrap_or(0);
        let buf = self.data.contiguous();
        let mut message = Vec::with_capacity(need.min(buf.len()));
        let mut rd = 0usize;
        while message.len() < need {
            let len = match buf.get(rd + 3..rd + RECORD_HEADER_LEN) {
                Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
                _ => break,
            };
            rd += RECORD_HEADER_LEN;
            let n = len
                .min(need - message.len())
                .min(buf.len().saturating_sub(rd));
            message.extend_from_slice(&buf[rd..rd + n]);
            rd += n;
        }
        self.raw_end = rd;
        self.message = message;
    }
}

/// The part of a segment at stream offset `offset` that lies in `[0, MAX_BYTES)`, with its
/// offset; offsets in the upper half of the sequence space are before the start and trimmed.
fn in_window(offset: u32, payload: &[u8]) -> Option<(usize, &[u8])> {
    let (lo, skip) = if offset >= 1 << 31 {
        (0usize, offset.wrapping_neg() as usize)
    } else {
        (offset as usize, 0usize)
    };
    if skip >= payload.len() || lo >= HelloReassembler::MAX_BYTES {
        return None;
    }
    let hi = (lo + (payload.len() - skip)).min(HelloReassembler::MAX_BYTES);
    Some((lo, &payload[skip..skip + (hi - lo)]))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::inspect::tls::{ja4, looks_like_client_hello, parse_client_hello};
    use proptest::prelude::*;

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
        let mut last = Progress::NeedMore;
        for (i, chunk) in stream.chunks(13).enumerate() {
            last = r.push(7 + 13 * i as u32, chunk);
        }
        assert_eq!(last, Progress::Complete);
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
    fn reordered_first_segment_without_isn() {
        let mut r = HelloReassembler::new(None);
        assert_eq!(r.push(5000 + 100, &CURL[100..]), Progress::NeedMore);
        assert_eq!(r.push(5000, &CURL[..100]), Progress::Complete);
        assert_eq!(r.hello(), Some(&CURL[5..]));
    }

    #[test]
    fn sequence_wrap_around() {
        let isn = u32::MAX - 40;
        let mut r = HelloReassembler::new(Some(isn));
        assert_eq!(
            r.push(isn.wrapping_add(200), &CURL[200..]),
            Progress::NeedMore
        );
        assert_eq!(r.push(isn, &CURL[..200]), Progress::Complete);
        assert_eq!(r.hello(), Some(&CURL[5..]));
    }

    #[test]
    fn retransmission_overlapping_the_start_is_trimmed() {
        let mut r = HelloReassembler::new(Some(100));
        let mut early = vec![0xee; 10];
        early.extend_from_slice(&PYTHON[..60]);
        assert_eq!(r.push(90, &early), Progress::NeedMore);
        assert_eq!(r.push(130, &PYTHON[30..]), Progress::Complete);
        assert_eq!(r.hello(), Some(&PYTHON[5..]));
    }

    #[test]
    fn not_tls_streams() {
        let mut r = HelloReassembler::new(Some(1));
        assert_eq!(r.push(1, b"GET / HTTP/1.1\r\n"), Progress::NotThisProtocol);
        assert_eq!(r.memory(), 0);
        assert_eq!(r.push(1, CURL), Progress::NotThisProtocol);
        assert_eq!(r.hello(), None);
        // SSLv2-compatible hello.
        let mut r = HelloReassembler::new(Some(1));
        assert_eq!(
            r.push(1, &[0x80, 0x2e, 0x01, 0x00, 0x02, 0, 0x15]),
            Progress::NotThisProtocol
        );
        // A ServerHello is a handshake, but not a ClientHello.
        let mut server = build_hello(&[0x1301], &[]);
        server[0] = 2;
        let mut r = HelloReassembler::new(Some(1));
        assert_eq!(
            r.push(1, &into_records(&server, &[])),
            Progress::NotThisProtocol
        );
        // Without an ISN, a non-TLS stream is called NotThisProtocol after a few segments.
        let mut r = HelloReassembler::new(None);
        let mut states = Vec::new();
        for i in 0..4u32 {
            states.push(r.push(10 * i, b"0123456789"));
        }
        assert_eq!(states.last(), Some(&Progress::NotThisProtocol));
        assert_eq!(r.memory(), 0);
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
            assert_eq!(r.push(seq, std::slice::from_ref(byte)), Progress::NeedMore);
            seq += 1;
            assert!(
                r.memory() <= 2 * (i + 1),
                "{} bytes held for {} received",
                r.memory(),
                i + 1
            );
        }
        assert_eq!(r.push(seq, &[0x41; 1000]), Progress::NeedMore);
        assert!(r.memory() <= 2 * (header.len() + 1000), "{}", r.memory());
        // A whole hello still reassembles from 1-byte segments.
        let mut r = HelloReassembler::new(Some(1));
        for (i, byte) in CURL.iter().enumerate() {
            r.push(1 + i as u32, std::slice::from_ref(byte));
        }
        assert!(r.hello().is_some());
        // The stream bytes with their map, and the de-framed message.
        assert!(
            r.memory() <= StreamBuf::memory_for(CURL.len()) + CURL.len(),
            "{}",
            r.memory()
        );
    }

    fn hello_named(name: &[u8]) -> Vec<u8> {
        into_records(
            &build_hello(SPEC_CIPHERS, &[sni_ext(name), alpn_ext(&[b"h2"])]),
            &[usize::MAX],
        )
    }

    #[test]
    fn conflicting_copies_give_a_second_reading() {
        let (a, b) = (hello_named(b"aaaa.example"), hello_named(b"bbbb.example"));
        assert_eq!(a.len(), b.len());
        let at = a.windows(4).position(|w| w == b"aaaa").unwrap();
        // Before completion: b's bytes over a's name, then the rest of a.
        let mut r = HelloReassembler::new(Some(0));
        r.push(0, &a[..at + 4]);
        assert!(r.alternative().is_none(), "no conflict yet");
        r.push(at as u32, &b[at..at + 4]);
        assert_eq!(r.push(at as u32 + 4, &a[at + 4..]), Progress::Complete);
        assert_eq!(r.hello(), Some(&a[5..]), "first received copy");
        let (other, truncated) = r.alternative().unwrap();
        assert_eq!(
            (&other[..], truncated),
            (&b[5..], false),
            "last received copy"
        );
        // After completion: a plain retransmission changes nothing; a second hello does.
        let mut r = HelloReassembler::new(Some(0));
        assert_eq!(r.push(0, &a), Progress::Complete);
        assert!(!r.recheck(0, &a));
        assert!(!r.recheck(a.len() as u32, b"after the hello"));
        assert!(r.alternative().is_none());
        assert!(r.recheck(0, &b));
        assert!(!r.recheck(0, &b), "the same second version again");
        assert_eq!(r.alternative().unwrap().0, &b[5..]);
        assert_eq!(r.hello(), Some(&a[5..]));
        assert!(r.memory() <= HelloReassembler::MAX_MEMORY);
        // A longer second version extends past the first hello's bytes.
        let long = hello_named(b"a-longer-name.example");
        assert!(r.recheck(0, &long));
        assert_eq!(r.alternative().unwrap().0, &long[5..]);
    }

    #[test]
    fn records_over_the_bound_are_abandoned() {
        // Record length over 2^14.
        let mut r = HelloReassembler::new(Some(0));
        assert_eq!(
            r.push(0, &[22, 3, 1, 0x40, 0x01, 1, 0, 0x40, 0]),
            Progress::GaveUp(GiveUp::Abandoned)
        );
        assert_eq!(r.memory(), 0);
        // A hello declared larger than the bound waits for its kept prefix.
        let mut r = HelloReassembler::new(Some(0));
        assert_eq!(
            r.push(0, &[22, 3, 1, 0x40, 0x00, 1, 0, 0x3f, 0xfc]),
            Progress::NeedMore
        );
        // A hello that fits alone but not with its record headers: completes, truncated, once
        // the bound is reached.
        let mut r = HelloReassembler::new(Some(0));
        let mut first = vec![22, 3, 1, 0x10, 0x00, 1, 0, 0x3f, 0xf0];
        first.resize(5 + 0x1000, 0);
        let mut state = r.push(0, &first);
        let mut seq = first.len() as u32;
        let mut records = 1;
        while state == Progress::NeedMore {
            records += 1;
            assert!(records < 6);
            let mut rec = vec![22, 3, 1, 0x10, 0x00];
            rec.extend(vec![0u8; 0x1000]);
            state = r.push(seq, &rec);
            seq += rec.len() as u32;
            assert!(r.memory() <= HelloReassembler::MAX_MEMORY);
        }
        assert_eq!(state, Progress::Complete);
        assert!(r.truncated());
        // Zero-length handshake record and an interleaved alert.
        let mut r = HelloReassembler::new(Some(0));
        assert_eq!(
            r.push(0, &[22, 3, 1, 0, 0]),
            Progress::GaveUp(GiveUp::Abandoned)
        );
        let msg = build_hello(&[0x1301], &[]);
        let mut stream = into_records(&msg[..10], &[]);
        stream.extend([21, 3, 3, 0, 2, 2, 40]);
        let mut r = HelloReassembler::new(Some(0));
        assert_eq!(r.push(0, &stream), Progress::GaveUp(GiveUp::Abandoned));
    }

    #[test]
    fn far_away_segments_are_dropped() {
        let mut r = HelloReassembler::new(Some(1_000_000));
        let big = vec![0x16u8; 70_000];
        assert_eq!(r.push(1_000_000 + 20_000, &big[..100]), Progress::NeedMore);
        assert_eq!(r.push(3_000_000_000, &big), Progress::NeedMore);
        assert_eq!(r.push(1_000_000 - 80_000, &big[..1000]), Progress::NeedMore);
        assert_eq!(r.memory(), 0);
        // A huge segment straddling the bound is cut at it.
        r.push(1_000_000 + 16_000, &big);
        assert!(r.memory() <= HelloReassembler::MAX_MEMORY);
        assert_eq!(r.push(1_000_000, &CURL[..10]), Progress::NeedMore);
        assert_eq!(r.push(1_000_000 + 10, &CURL[10..]), Progress::Complete);
        assert_eq!(r.hello(), Some(&CURL[5..]));
        assert!(r.memory() <= HelloReassembler::MAX_MEMORY);
    }

    #[test]
    fn any_number_of_holes_is_tracked() {
        let mut r = HelloReassembler::new(Some(0));
        for i in 0..(CURL.len() as u32 / 2) {
            r.push(1 + 2 * i, &CURL[1 + 2 * i as usize..2 + 2 * i as usize]);
        }
        assert_eq!(r.push(0, &CURL[..1]), Progress::NeedMore);
        let mut last = Progress::NeedMore;
        for i in 0..(CURL.len() as u32 / 2) {
            last = r.push(2 * i, &CURL[2 * i as usize..2 * i as usize + 1]);
        }
        if CURL.len() % 2 == 1 {
            last = r.push(CURL.len() as u32 - 1, &CURL[CURL.len() - 1..]);
        }
        assert_eq!(last, Progress::Complete);
        assert_eq!(r.hello(), Some(&CURL[5..]));
    }

    #[test]
    fn a_hello_over_the_bound_completes_as_its_kept_prefix() {
        let small = build_hello(SPEC_CIPHERS, &spec_example_exts());
        let want_sni = parse_client_hello(&small).unwrap().sni;
        assert!(want_sni.is_some());
        // A padding extension (21) makes the hello about 18.6 KB.
        let mut exts = spec_example_exts();
        exts.push((21, vec![0; 18_600 - small.len()]));
        let msg = build_hello(SPEC_CIPHERS, &exts);
        let stream = into_records(&msg, &[16_384]);
        let mut r = HelloReassembler::new(Some(5));
        let mut last = Progress::NeedMore;
        for (i, chunk) in stream.chunks(1000).enumerate().rev() {
            last = r.push(5 + 1000 * i as u32, chunk);
            assert!(r.memory() <= HelloReassembler::MAX_MEMORY);
        }
        assert_eq!(last, Progress::Complete);
        assert!(r.truncated());
        let kept = r.hello().unwrap();
        assert!(kept.len() < msg.len() && msg.starts_with(kept));
        let h = crate::inspect::tls::parse_client_hello_prefix(kept).unwrap();
        assert_eq!(h.sni, want_sni);
    }

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
                if r.push(*seq, data) != Progress::NeedMore {
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
            let mut last = Progress::NeedMore;
            for (lo, hi) in segs {
                last = r.push(isn.wrapping_add(lo as u32), &stream[lo..hi]);
                prop_assert!(r.memory() <= HelloReassembler::MAX_MEMORY);
            }
            prop_assert_eq!(last, Progress::Complete);
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
            let mut last = Progress::NeedMore;
            for w in points.windows(2) {
                last = r.push(isn.wrapping_add(w[0] as u32), &stream[w[0]..w[1]]);
            }
            prop_assert_eq!(last, Progress::Complete);
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
                r.recheck(base.wrapping_add(*seq % 20_000), data);
                prop_assert!(r.memory() <= HelloReassembler::MAX_MEMORY);
            }
            if let Some(m) = r.hello() {
                let _ = parse_client_hello(m);
            }
            if let Some((m, _)) = r.alternative() {
                let _ = parse_client_hello(&m);
            }
        }
    }
}
