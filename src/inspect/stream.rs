//! A bounded byte-stream buffer for TCP reassembly of a client's first message: bytes stored at
//! their stream offset, a bitmap of which offsets arrived, segments accepted in any order.
//!
//! # Overlap policy: the first received byte wins
//!
//! When two segments cover the same stream offset with different bytes, the byte that arrived
//! first is kept and later copies are ignored. This is what every mainstream receiver does for
//! data it has already queued in order (Linux, Windows and the BSDs never rewrite bytes below
//! `RCV.NXT`), and what Windows and the BSDs do for their out-of-order queue. (Linux differs in
//! one case: an out-of-order segment that fully covers an earlier queued one replaces it. A
//! client that sends conflicting overlaps to exploit that difference is sending two hellos; the
//! one cloudsight reads is the first one the wire carried.) Tests pin the policy
//! (`tests/evasion.rs`, `conflicting_overlap_first_received_byte_wins`).
//!
//! The buffer never holds more than `max` bytes of stream (offsets `[0, max)`); bytes past the
//! bound are dropped. Tiny or many segments cost CPU only, never the name: there is no count of
//! segments or holes, the bitmap tracks every byte.

/// Received bytes at stream offsets `[0, max)`, first copy wins.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamBuf {
    buf: Vec<u8>,
    /// Bit `i` set: offset `i` was received. `(buf.len() + 7) / 8` bytes.
    have: Vec<u8>,
    /// Length of the received prefix starting at offset 0.
    prefix: usize,
}

impl StreamBuf {
    /// Heap bytes held per stream byte buffered, rounded up: the byte and its bit.
    pub const fn memory_for(bytes: usize) -> usize {
        bytes + bytes.div_ceil(8)
    }

    fn has(&self, i: usize) -> bool {
        self.have
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Store `data` at stream offset `lo` (the caller has trimmed it to its bound); offsets
    /// already received keep their first byte. Returns true when a new byte arrived.
    pub fn insert(&mut self, lo: usize, data: &[u8]) -> bool {
        let hi = lo + data.len();
        if hi > self.buf.len() {
            if hi > self.buf.capacity() {
                self.buf.reserve_exact(hi - self.buf.len());
            }
            self.buf.resize(hi, 0);
            let bits = hi.div_ceil(8);
            if bits > self.have.capacity() {
                self.have.reserve_exact(bits - self.have.len());
            }
            self.have.resize(bits, 0);
        }
        let mut new = false;
        for (i, &b) in (lo..hi).zip(data) {
            if !self.has(i) {
                self.buf[i] = b;
                self.have[i / 8] |= 1 << (i % 8);
                new = true;
            }
        }
        while self.prefix < self.buf.len() && self.has(self.prefix) {
            self.prefix += 1;
        }
        new
    }

    /// Whether some byte of `data`, at stream offset `lo`, was received before with another
    /// value (a conflicting overlap: two versions of the same bytes).
    pub fn differs(&self, lo: usize, data: &[u8]) -> bool {
        let hi = (lo + data.len()).min(self.buf.len());
        (lo..hi)
            .zip(data)
            .any(|(i, &b)| self.has(i) && self.buf[i] != b)
    }

    /// Whether [`Self::overwrite`] with `data` at `lo` would change anything: a byte not received
    /// yet, or received with another value.
    pub fn would_change(&self, lo: usize, data: &[u8]) -> bool {
        (lo..lo + data.len())
            .zip(data)
            .any(|(i, &b)| !self.has(i) || self.buf[i] != b)
    }

    /// Store `data` at stream offset `lo`, replacing bytes received before: the last received
    /// byte wins (the other reading of a stream with conflicting overlaps).
    pub fn overwrite(&mut self, lo: usize, data: &[u8]) {
        self.insert(lo, data);
        self.buf[lo..lo + data.len()].copy_from_slice(data);
    }

    /// The received prefix from offset 0.
    pub fn contiguous(&self) -> &[u8] {
        &self.buf[..self.prefix]
    }

    /// Every byte up to the highest received offset (holes are zero).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Offset 0 moves back by `by` bytes (an earlier segment arrived before an unanchored start).
    pub fn rebase(&mut self, by: usize) {
        let old = std::mem::take(self);
        let len = old.buf.len() + by;
        self.buf.reserve_exact(len);
        self.buf.resize(len, 0);
        self.have.reserve_exact(len.div_ceil(8));
        self.have.resize(len.div_ceil(8), 0);
        for i in 0..old.buf.len() {
            if old.has(i) {
                self.buf[i + by] = old.buf[i];
                self.have[(i + by) / 8] |= 1 << ((i + by) % 8);
            }
        }
    }

    /// The received runs `(offset, bytes)`, in offset order.
    pub fn runs(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        let mut i = 0;
        std::iter::from_fn(move || {
            while i < self.buf.len() && !self.has(i) {
                i += 1;
            }
            if i >= self.buf.len() {
                return None;
            }
            let lo = i;
            while i < self.buf.len() && self.has(i) {
                i += 1;
            }
            Some((lo, &self.buf[lo..i]))
        })
    }

    /// Free everything.
    pub fn clear(&mut self) {
        *self = StreamBuf::default();
    }

    /// Heap bytes held.
    pub fn memory(&self) -> usize {
        self.buf.capacity() + self.have.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_wins_any_order() {
        let mut s = StreamBuf::default();
        assert!(s.insert(4, b"efgh"));
        assert_eq!(s.contiguous(), b"");
        assert!(s.insert(2, b"XXEF"));
        assert!(!s.insert(4, b"zzzz"));
        assert!(s.insert(0, b"ab"));
        assert_eq!(s.contiguous(), b"abXXefgh");
        s.rebase(3);
        assert_eq!(s.contiguous(), b"");
        s.insert(0, b"123");
        assert_eq!(s.contiguous(), b"123abXXefgh");
        let mut t = StreamBuf::default();
        t.insert(1, b"b");
        t.insert(5, b"fg");
        assert_eq!(
            t.runs().collect::<Vec<_>>(),
            vec![(1, &b"b"[..]), (5, &b"fg"[..])]
        );
        assert!(t.memory() <= StreamBuf::memory_for(7) + 8);
    }
}
