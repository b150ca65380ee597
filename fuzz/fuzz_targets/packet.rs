//! The whole packet path: the first two bytes pick the link type and a time step, the rest is a
//! sequence of frames (u16 length + bytes) fed to one engine, then tick, flush and drain. Each
//! frame is also parsed both ways (the fast path for plain Ethernet frames and etherparse's lax
//! slicing): the answers must agree.
#![no_main]
use cloudsight::internal::packet;
use cloudsight::{Config, Engine};
use cloudsight_testkit::packet::LINK_TYPES as LINKS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&[link, step], mut rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let engine = Engine::new(Config {
        max_flows: 64,
        queue_capacity: 16,
        ..Config::default()
    })
    .unwrap();
    let link = LINKS[usize::from(link) % LINKS.len()];
    let mut ts = 0u64;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (frame, next) = tail.split_at(len);
        // Time moves forward and, now and then, backwards.
        ts = ts
            .wrapping_add(u64::from(step) * 1_000_000_000)
            .wrapping_sub(u64::from(step & 1));
        assert_eq!(
            packet::parse(link, frame),
            packet::parse_sliced(link, frame),
            "the fast path and the sliced path disagree"
        );
        engine.process_packet(link, frame, ts, None);
        rest = next;
    }
    engine.tick(ts);
    engine.flush(ts);
    let mut buf = [0u8; 256];
    let _ = engine.drain_encoded(cloudsight::Encoding::BincodeBatch, &mut buf);
    let _ = engine.drain(usize::MAX);
});
