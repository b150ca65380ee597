//! The QUIC Initial decoder, one-shot and stateful over several datagrams (u16 length + bytes).
#![no_main]
use cloudsight::internal::inspect::quic::{decode_datagram_for_fuzzing, QuicInitial};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_datagram_for_fuzzing(data);
    let mut q = QuicInitial::new();
    let mut rest = data;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        q.push_datagram(datagram);
        assert!(q.memory() <= QuicInitial::MAX_MEMORY);
        rest = next;
    }
});
