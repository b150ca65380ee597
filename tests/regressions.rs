//! Regression tests for bugs the flood tests found in the engine: the inspection-memory cap holding
//! for growing buffers, a flush of a full table losing records, and a new-tuple flood evicting
//! (and so unblocking) active named flows.

use cloudsight::{Config, Engine, LinkType};
use cloudsight_testkit::sample;

const S: u64 = 1_000_000_000;

fn tcp(client: [u8; 4], flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&((40 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&client);
    f.extend_from_slice(&[151, 101, 1, 1]);
    f.extend_from_slice(&40_000u16.to_be_bytes());
    f.extend_from_slice(&443u16.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Bug: `Config.max_inspect_bytes` is checked only when a flow's inspector is created
/// (`Engine::inspect`: `if inspect_memory >= max_inspect_bytes { inspect_skipped; return }`).
/// Inspectors admitted below the cap keep growing (ClientHello reassembly up to 16 KiB each,
/// QUIC Initial buffers up to `QuicInitial::MAX_MEMORY`) with no further check, so the gauge -
/// and the heap - go past the cap by up to (admitted flows) x 16 KiB. An attacker opens many
/// connections, sends the first byte of a TLS record (0x16) on each - every flow is admitted
/// while the gauge is still small - then grows each partial hello: with the defaults (131072
/// flows, 16 MiB cap) about 2 GiB of reassembly buffers. Measured by tests/flood.rs
/// (slow drip, 100k flows, 1 MiB cap): the gauge passed the cap after the 8th byte.
/// A fix: check (and charge) the growth, not only the admission - e.g. end inspection of a flow
/// whose next payload would take the gauge past the cap.
#[test]

fn inspection_memory_stays_under_max_inspect_bytes_when_admitted_flows_grow() {
    const FLOWS: u32 = 2_000;
    let cap = 64 << 10;
    let engine = Engine::new(Config {
        max_inspect_bytes: cap,
        ..Config::default()
    })
    .unwrap();
    let addr = |f: u32| [10, 1, (f >> 8) as u8, f as u8];
    // A record header announcing a ~16 KB ClientHello, then the handshake bytes.
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x3e, 0x80, 0x01, 0x00, 0x3e, 0x7c, 0x03, 0x03,
    ];
    hello.resize(1200, 0x41);
    let mut peak = 0;
    for f in 0..FLOWS {
        engine.process_packet(LinkType::Raw, &tcp(addr(f), 0x02, 999, &[]), S, None);
        // One byte each: every flow is admitted (the gauge grows by ~1 byte per flow).
        engine.process_packet(
            LinkType::Raw,
            &tcp(addr(f), 0x18, 1000, &hello[..1]),
            S,
            None,
        );
    }
    for f in 0..FLOWS {
        // The rest of the first 1200 bytes in one segment: each admitted buffer grows.
        engine.process_packet(
            LinkType::Raw,
            &tcp(addr(f), 0x18, 1001, &hello[1..]),
            2 * S,
            None,
        );
        peak = peak.max(engine.stats().inspect_memory);
    }
    assert!(
        peak <= cap as u64,
        "inspection memory reached {peak} bytes, max_inspect_bytes is {cap} ({}x)",
        peak / cap as u64
    );
}

/// Bug (or at least a trap in the defaults): `Engine::flush` ("end of a capture, or shutdown")
/// pushes one record per live flow into the bounded queue in one go, and a full queue drops the
/// oldest; nothing can be drained in between. With the defaults (max_flows 131072,
/// queue_capacity 65536) a flush of a full table loses half the records - their bytes are
/// gone, only counted in `records_dropped`. A fix: let flush hand records out in batches
/// (e.g. `flush_with(deliver)` / draining inside flush), or validate queue_capacity >=
/// effective max flows.
#[test]

fn flush_of_a_full_table_keeps_every_record_with_the_default_config() {
    let config = Config::default();
    let flows = config.effective_max_flows() as u32;
    let engine = Engine::new(config).unwrap();
    for f in 0..flows {
        let client = [10, (f >> 16) as u8, (f >> 8) as u8, f as u8];
        engine.process_packet(LinkType::Raw, &tcp(client, 0x02, 1, &[]), S, None);
    }
    assert_eq!(engine.stats().flows_active, u64::from(flows));
    engine.flush(2 * S);
    let s = engine.stats();
    assert_eq!(
        s.records_dropped,
        0,
        "{} of {} flush records dropped (queue_capacity {})",
        s.records_dropped,
        flows,
        engine.config().queue_capacity
    );
}

/// Bug: under a flood of new 5-tuples whose packets are less than a second apart, eviction
/// (`FlowTable::evict_one` in src/flow.rs) finds no flow idle for a second among the 8 oldest and
/// evicts the 9th oldest anyway, however active it is: an established, named flow is evicted as
/// readily as a one-packet flood flow (tests/flood.rs: 2356 legitimate-flow evictions in the 10 M
/// packet flood, 3890 in the SYN flood). Its next packet creates a new flow mid-stream, which has
/// no ClientHello to read: no name, no app, and verdict `allow` - a flow to an unsanctioned app
/// stops being blocked once a flood (from anyone) pushes it out. A fix: prefer evicting flows with
/// few packets / no name (e.g. a separate probation queue for flows that have not been answered
/// or named), or keep the verdict of a recently evicted key.
#[test]

fn a_blocked_flow_stays_blocked_under_a_syn_flood() {
    let engine = Engine::new(Config {
        max_flows: 1_000,
        ..Config::default()
    })
    .unwrap();
    engine.update_policy(|p| p.set_app("slack", cloudsight::Sanction::Unsanctioned));
    let client = [192, 168, 1, 50];
    let up = |flags, seq, payload: &[u8]| {
        let mut f = tcp(client, flags, seq, payload);
        f[16..20].copy_from_slice(&[34, 120, 1, 10]);
        f
    };
    let hello = sample::client_hello("app.slack.com", &["h2"], 1);
    let mut ts = S;
    engine.process_packet(LinkType::Raw, &up(0x02, 999, &[]), ts, None);
    let verdict = engine.process_packet(LinkType::Raw, &up(0x18, 1000, &hello), ts, None);
    assert_eq!(verdict, cloudsight::Verdict::Block, "named and blocked");
    let data = up(0x10, 1000 + hello.len() as u32, &[0x17; 100]);
    let mut syn = tcp([1, 2, 3, 4], 0x02, 1, &[]);
    let mut x: u32 = 0x9e37_79b9;
    for i in 0..200_000u32 {
        ts += 1_000;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        syn[12..16].copy_from_slice(&x.to_be_bytes());
        engine.process_packet(LinkType::Raw, &syn, ts, None);
        if i % 64 == 0 {
            let v = engine.process_packet(LinkType::Raw, &data, ts, None);
            assert_eq!(
                v,
                cloudsight::Verdict::Block,
                "the blocked flow got {v:?} after {i} flood packets"
            );
        }
    }
}
