//! Memory bounds and the fast path: a flood of random 5-tuples keeps the table at its bound with
//! every eviction counted, and packets of a named flow allocate nothing.

use cloudsight::{Config, Engine, LinkType};
use cloudsight_testkit::alloc::{during, Counting};
use cloudsight_testkit::packet::Tcp;
use cloudsight_testkit::sample;
use etherparse::PacketBuilder;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

#[test]
fn a_million_random_tuples_stay_within_the_bound() {
    let config = Config {
        max_flows: 10_000,
        queue_capacity: 1024,
        ..Config::default()
    };
    let engine = Engine::new(config).unwrap();
    // xorshift: deterministic pseudo-random tuples.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut frame = udp([10, 0, 0, 1], 1, [10, 0, 0, 2], 2, b"x");
    for i in 0..1_000_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        // Rewrite addresses and ports in place (checksums do not matter to the engine).
        frame[12..16].copy_from_slice(&b[0..4]);
        frame[16..20].copy_from_slice(&b[4..8]);
        frame[20..22].copy_from_slice(&(i as u16).to_be_bytes());
        engine.process_packet(LinkType::Raw, &frame, i * 1000, None);
        if i % 100_000 == 0 {
            assert!(engine.stats().flows_active <= 10_000);
        }
    }
    let s = engine.stats();
    assert_eq!(s.flow_capacity, 10_000);
    assert_eq!(s.flows_active, 10_000);
    assert_eq!(s.flows_peak, 10_000);
    // Every flow beyond the bound was evicted and counted, and its record made (most dropped by
    // the small queue, and counted too).
    assert_eq!(s.flows_evicted, s.flows_created - 10_000);
    assert_eq!(s.records, s.flows_evicted);
    assert_eq!(s.records_dropped + s.records_queued, s.records);
}

#[test]
fn packets_of_a_named_flow_do_not_allocate() {
    let engine = Engine::new(Config::default()).unwrap();
    let tcp = |from_client: bool, flags: u8, payload: &[u8]| {
        Tcp::new(([10, 0, 0, 5], 40000), ([34, 120, 1, 10], 443))
            .up(from_client)
            .frame(flags, payload)
    };
    engine.process_packet(LinkType::Raw, &tcp(true, 2, &[]), 1, None);
    engine.process_packet(LinkType::Raw, &tcp(false, 18, &[]), 2, None);
    let hello = sample::client_hello("app.slack.com", &["h2"], 3);
    engine.process_packet(LinkType::Raw, &tcp(true, 16, &hello), 3, None);
    let data_down = tcp(false, 16, &[0x17; 1400]);
    let ack_up = tcp(true, 16, &[]);
    let ((), usage) = during(|| {
        for i in 0..10_000u64 {
            engine.process_packet(LinkType::Raw, &data_down, 10 + i, None);
            engine.process_packet(LinkType::Raw, &ack_up, 10 + i, None);
        }
    });
    let allocations = usage.calls;
    engine.flush(100_000);
    let records = engine.drain(10);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].server_name.as_deref(), Some("app.slack.com"));
    assert_eq!(records[0].packets_down, 10_001);
    assert_eq!(
        allocations, 0,
        "the named fast path allocated {allocations} times in 20,000 packets"
    );
}
