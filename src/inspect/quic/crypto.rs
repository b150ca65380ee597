//! The CRYPTO stream of the client Initials: frame walk (RFC 9000 §19) and reassembly by
//! offset (RFC 9000 §19.6) of the ClientHello, bounded by [`QuicInitial::MAX_CRYPTO`].

use super::{QuicError, QuicInitial, Reader};

/// Grows `v` to `len` elements (at most `cap`) allocating exactly, so capacity stays bounded.
pub(super) fn grow_exact<T: Copy + Default>(v: &mut Vec<T>, len: usize, cap: usize) {
    let len = len.min(cap);
    if len <= v.len() {
        return;
    }
    if len > v.capacity() {
        let target = len.max(v.capacity().saturating_mul(2)).min(cap);
        v.reserve_exact(target - v.len());
    }
    v.resize(len, T::default());
}

/// Where the CRYPTO stream stands.
pub(super) enum HelloState {
    Incomplete,
    Complete,
    Invalid(QuicError),
}

/// CRYPTO stream reassembly (RFC 9000 §19.6): bytes by offset plus a bitmap of those received.
/// Bounded by [`QuicInitial::MAX_CRYPTO`]; once the hello's length is known nothing past it is kept.
#[derive(Default)]
pub(super) struct CryptoStream {
    pub(super) data: Vec<u8>,
    pub(super) have: Vec<u64>,
    /// 4 + the ClientHello's u24 length, once the first 4 bytes are in.
    pub(super) need: Option<usize>,
}

impl CryptoStream {
    pub(super) fn limit(&self) -> usize {
        self.need.unwrap_or(QuicInitial::MAX_CRYPTO)
    }

    pub(super) fn has(&self, i: usize) -> bool {
        self.have
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// Stores `bytes` at stream `offset`, dropping whatever lies past the bound. The first copy of a
    /// byte wins, so a retransmission cannot rewrite what was already read.
    pub(super) fn insert(&mut self, offset: u64, bytes: &[u8]) {
        let limit = self.limit();
        let Ok(start) = usize::try_from(offset) else {
            return;
        };
        if start >= limit || bytes.is_empty() {
            return;
        }
        let end = start.saturating_add(bytes.len()).min(limit);
        grow_exact(&mut self.data, end, QuicInitial::MAX_CRYPTO);
        grow_exact(
            &mut self.have,
            end.div_ceil(64),
            QuicInitial::MAX_CRYPTO / 64,
        );
        // Word by word: a word whose bits in range are all new takes its bytes in one copy (the
        // usual case, no overlap); otherwise only the bytes not received before are written.
        let mut i = start;
        while i < end {
            let w = i / 64;
            let word_end = ((w + 1) * 64).min(end);
            let span = word_end - i;
            let mask = if span == 64 {
                u64::MAX
            } else {
                ((1u64 << span) - 1) << (i % 64)
            };
            let src = &bytes[i - start..word_end - start];
            if self.have[w] & mask == 0 {
                self.data[i..word_end].copy_from_slice(src);
            } else {
                for (j, &b) in (i..word_end).zip(src) {
                    if self.have[w] & (1u64 << (j % 64)) == 0 {
                        self.data[j] = b;
                    }
                }
            }
            self.have[w] |= mask;
            i = word_end;
        }
    }

    /// TLS 1.3 (RFC 8446 §4): `struct { HandshakeType msg_type; uint24 length; ... } Handshake;`
    pub(super) fn state(&mut self) -> HelloState {
        if self.need.is_none() {
            if !(0..4).all(|i| self.has(i)) {
                return HelloState::Incomplete;
            }
            if self.data[0] != 1 {
                return HelloState::Invalid(QuicError::NotClientHello);
            }
            let len = (usize::from(self.data[1]) << 16)
                | (usize::from(self.data[2]) << 8)
                | usize::from(self.data[3]);
            let need = 4 + len;
            if need > QuicInitial::MAX_CRYPTO {
                return HelloState::Invalid(QuicError::HelloTooLarge);
            }
            self.need = Some(need);
            // Forget what lies past the hello: later handshake messages are not ours to keep.
            self.data.truncate(need);
            self.have.truncate(need.div_ceil(64));
            // Clear bits past the hello in its last word (only if the bitmap reaches that far).
            let tail_bits = need % 64;
            match self.have.get_mut(need / 64) {
                Some(last) if tail_bits != 0 => *last &= (1u64 << tail_bits) - 1,
                _ => {}
            }
        }
        let need = self.need.unwrap_or(0);
        let full_words = need / 64;
        let complete = self.have.len() >= need.div_ceil(64)
            && self.have[..full_words].iter().all(|&w| w == u64::MAX)
            && (need.is_multiple_of(64) || self.have[full_words] == (1u64 << (need % 64)) - 1);
        if complete {
            HelloState::Complete
        } else {
            HelloState::Incomplete
        }
    }

    pub(super) fn memory(&self) -> usize {
        self.data.capacity() + self.have.capacity() * 8
    }
}

/// RFC 9000 §19: walk the frames allowed in a client Initial and feed CRYPTO data (frames of type
/// `crypto_frame`: 0x06, or Google T05x's 0x08) to `stream`. Returns the number of CRYPTO frames;
/// stops quietly at a frame type an Initial should not carry.
pub(super) fn walk_frames(
    plain: &[u8],
    crypto_frame: u64,
    stream: &mut CryptoStream,
) -> Result<usize, QuicError> {
    let mut r = Reader::new(plain);
    let mut crypto_frames = 0;
    while r.remaining() > 0 {
        let frame_type = r.varint().ok_or(QuicError::BadFrame)?;
        let frame_type = if frame_type == crypto_frame {
            0x06
        } else if frame_type == 0x06 {
            // Not this version's CRYPTO frame: read no further.
            break;
        } else {
            frame_type
        };
        match frame_type {
            // §19.1 PADDING, §19.2 PING: type byte only; a run of PADDING is skipped at once.
            0x00 => r.skip_zeros(),
            0x01 => {}
            // §19.3 ACK: Largest Acknowledged, ACK Delay, ACK Range Count, First ACK Range,
            // ACK Range (Gap, ACK Range Length) ..., [0x03: ECT0, ECT1, ECN-CE counts].
            0x02 | 0x03 => {
                r.varint().ok_or(QuicError::BadFrame)?;
                r.varint().ok_or(QuicError::BadFrame)?;
                let ranges = r.varint().ok_or(QuicError::BadFrame)?;
                r.varint().ok_or(QuicError::BadFrame)?;
                // Each range is at least 2 bytes, so a huge count fails fast on the bytes left.
                for _ in 0..ranges {
                    r.varint().ok_or(QuicError::BadFrame)?;
                    r.varint().ok_or(QuicError::BadFrame)?;
                }
                if frame_type == 0x03 {
                    for _ in 0..3 {
                        r.varint().ok_or(QuicError::BadFrame)?;
                    }
                }
            }
            // §19.6 CRYPTO: Offset (i), Length (i), Crypto Data (..).
            0x06 => {
                let offset = r.varint().ok_or(QuicError::BadFrame)?;
                let len = r.varint_len().ok_or(QuicError::BadFrame)?;
                let data = r.take(len).ok_or(QuicError::BadFrame)?;
                // §19.6: offset + length must stay below 2^62.
                if offset.saturating_add(len as u64) >= 1u64 << 62 {
                    return Err(QuicError::BadFrame);
                }
                stream.insert(offset, data);
                crypto_frames += 1;
            }
            // §19.19 CONNECTION_CLOSE (transport): Error Code, Frame Type, Reason Phrase Length, Reason.
            0x1c => {
                r.varint().ok_or(QuicError::BadFrame)?;
                r.varint().ok_or(QuicError::BadFrame)?;
                let len = r.varint_len().ok_or(QuicError::BadFrame)?;
                r.take(len).ok_or(QuicError::BadFrame)?;
            }
            _ => break,
        }
    }
    Ok(crypto_frames)
}
