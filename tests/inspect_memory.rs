//! Regression tests: the global inspection-memory gauge (`Stats.inspect_memory`, enforced against
//! `Config.max_inspect_bytes`) gives back the bytes of flows removed mid-inspection, however they
//! end. Found by the fuzz target `flow_diff` (inspect_memory left after a flush); fixed in
//! 1aa254e (the inspector returns its share of the gauge on drop).

use cloudsight::{Config, Engine, LinkType};
use cloudsight_testkit::sample;

const S: u64 = 1_000_000_000;
const CLIENT: [u8; 4] = [10, 0, 0, 5];
const SERVER: [u8; 4] = [34, 120, 1, 10];

fn tcp(up: bool, sport: u16, flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sp, dp) = if up {
        (CLIENT, SERVER, sport, 443)
    } else {
        (SERVER, CLIENT, 443, sport)
    };
    let mut f = Vec::new();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&((40 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sp.to_be_bytes());
    f.extend_from_slice(&dp.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// The first `n` bytes of a TLS record announcing a ClientHello of about 16 KB: the reassembler
/// buffers them and waits for the rest.
fn partial_hello(n: usize) -> Vec<u8> {
    let mut p = vec![
        0x16, 0x03, 0x01, 0x3e, 0x80, 0x01, 0x00, 0x3e, 0x7c, 0x03, 0x03,
    ];
    p.resize(n, 0x41);
    p
}

/// SYN, then part of a ClientHello on port `sport`.
fn start_partial_hello(engine: &Engine, sport: u16, ts: u64, n: usize) {
    engine.process_packet(LinkType::Raw, &tcp(true, sport, 0x02, 999, &[]), ts, None);
    engine.process_packet(
        LinkType::Raw,
        &tcp(true, sport, 0x18, 1000, &partial_hello(n)),
        ts,
        None,
    );
}

/// The bug was: the gauge was only decreased when inspection ended normally, so a flow removed
/// while its inspector held a partial ClientHello - by `flush`, `tick` (idle, end of linger),
/// eviction, a new SYN on an ended connection, or `close_flow` - leaked its bytes for good.
#[test]
fn inspection_memory_is_released_whichever_way_a_flow_ends() {
    type Remove = fn(&Engine, u64);
    let paths: [(&str, Remove); 5] = [
        ("flush", |e, ts| {
            e.flush(ts);
        }),
        ("tick (idle timeout)", |e, ts| {
            e.tick(ts + 3600 * S);
        }),
        ("eviction", |e, ts| {
            // max_flows is 1 below: a second flow evicts the first.
            e.process_packet(
                LinkType::Raw,
                &tcp(true, 50_001, 0x02, 1, &[]),
                ts + 5 * S,
                None,
            );
        }),
        ("port reuse (SYN after RST)", |e, ts| {
            e.process_packet(LinkType::Raw, &tcp(false, 50_000, 0x04, 1, &[]), ts, None);
            e.process_packet(
                LinkType::Raw,
                &tcp(true, 50_000, 0x02, 5000, &[]),
                ts + S,
                None,
            );
        }),
        ("close_flow (stream input)", |e, ts| {
            let tuple = cloudsight::FlowTuple {
                transport: cloudsight::Transport::Tcp,
                src: CLIENT.into(),
                src_port: 50_000,
                dst: SERVER.into(),
                dst_port: 443,
            };
            assert!(e.close_flow(&tuple, ts));
        }),
    ];
    let mut failures = Vec::new();
    for (what, remove) in paths {
        let engine = Engine::new(Config {
            max_flows: 1,
            ..Config::default()
        })
        .unwrap();
        start_partial_hello(&engine, 50_000, S, 3000);
        let held = engine.stats().inspect_memory;
        assert!(
            held >= 3000,
            "{what}: the partial hello is buffered ({held})"
        );
        remove(&engine, S);
        let left = engine.stats().inspect_memory;
        if left != 0 {
            failures.push(format!("{what}: {left} bytes still counted"));
        }
    }
    assert!(
        failures.is_empty(),
        "inspect_memory not released: {failures:?}"
    );
}

/// What the leak did: the gauge reached `max_inspect_bytes` and stayed there, so every later flow
/// skipped inspection (`inspect_skipped`): no name, no app, verdict `allow` even for an
/// unsanctioned app. A remote peer did it with ~1000 connections that each sent 16 KB of an
/// unfinished ClientHello and reset (or just went idle): naming and blocking stopped for good.
#[test]
fn leaked_inspection_memory_disables_naming_for_good() {
    let engine = Engine::new(Config {
        max_inspect_bytes: 64 << 10,
        ..Config::default()
    })
    .unwrap();
    let mut ts = S;
    for i in 0..40u16 {
        start_partial_hello(&engine, 40_000 + i, ts, 3000);
        // The server resets the connection; it ends after the linger.
        engine.process_packet(
            LinkType::Raw,
            &tcp(false, 40_000 + i, 0x04, 1, &[]),
            ts,
            None,
        );
        ts += S / 100;
    }
    engine.tick(ts + 3600 * S);
    assert_eq!(engine.stats().flows_active, 0, "every flow has ended");

    // A normal connection to Slack afterwards.
    let hello = sample::client_hello("app.slack.com", &["h2"], 1);
    engine.process_packet(LinkType::Raw, &tcp(true, 60_000, 0x02, 999, &[]), ts, None);
    engine.process_packet(LinkType::Raw, &tcp(false, 60_000, 0x12, 7, &[]), ts, None);
    engine.process_packet(
        LinkType::Raw,
        &tcp(true, 60_000, 0x18, 1000, &hello),
        ts,
        None,
    );
    engine.flush(ts);
    let records = engine.drain(usize::MAX);
    let slack = records
        .iter()
        .find(|r| r.client_port == 60_000)
        .expect("its record");
    let s = engine.stats();
    assert_eq!(
        slack.server_name.as_deref(),
        Some("app.slack.com"),
        "not named: inspect_memory {} of max {}, inspect_skipped {}",
        s.inspect_memory,
        64 << 10,
        s.inspect_skipped
    );
}
