//! The ClientHello reassembler: segments with arbitrary sequence numbers (u32 seq + u16 length +
//! bytes), an optional initial sequence number; once the hello is complete, segments go to the
//! second-version check (`recheck`) as the engine sends them; memory must stay under the cap, and
//! both readings parse or fail cleanly.
#![no_main]
use cloudsight::internal::inspect::tls::{parse_client_hello, HelloReassembler};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((isn, mut rest)) = data.split_first_chunk::<5>() else {
        return;
    };
    let start = (isn[4] & 1 == 1).then(|| u32::from_le_bytes([isn[0], isn[1], isn[2], isn[3]]));
    let mut r = HelloReassembler::new(start);
    while let Some((head, tail)) = rest.split_first_chunk::<6>() {
        let seq = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let len = usize::from(u16::from_le_bytes([head[4], head[5]])).min(tail.len());
        let (segment, next) = tail.split_at(len);
        if r.hello().is_some() {
            r.recheck(seq, segment);
        } else {
            r.push(seq, segment);
        }
        assert!(r.memory() <= HelloReassembler::MAX_MEMORY);
        rest = next;
    }
    if let Some(hello) = r.hello() {
        let _ = parse_client_hello(hello);
    }
    if let Some((other, _)) = r.alternative() {
        let _ = parse_client_hello(&other);
    }
    let _ = parse_client_hello(data);
});
