//! Concurrency stress: several threads feed one engine (each its own flows) while another thread
//! drains, binds contexts, swaps catalogs and policies and ticks. At the end (flush + drain) the
//! records add up to exactly the bytes and packets fed, nothing was dropped, and nothing deadlocked
//! (a watchdog fails the test after 120 s).
//!
//! Ignored by default; CI runs it with `cargo test --release --test stress -- --ignored`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use cloudsight::{Catalog, Config, ContextRef, Engine, FlowTuple, LinkType, Sanction, Transport};
use cloudsight_testkit::packet::ipv4;
use cloudsight_testkit::sample;

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

/// Run `body` on its own thread; fail if it has not finished within `limit`.
fn with_watchdog(limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => handle.join().unwrap(),
        // The body panicked: join to re-raise its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => handle.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("deadlock or livelock: not done after {limit:?}")
        }
    }
}

const HOSTS: [&str; 6] = [
    "app.slack.com",
    "www.dropbox.com",
    "github.com",
    "chatgpt.com",
    "unknown-thing.example.org",
    "files.evilslack.com",
];

const CUSTOM_CATALOG: &str = r#"
schema_version = 1
apps = [
  { id = "example-files", name = "Example Files", category = "cloudStorage", risk = 3, domains = ["example.org"] },
  { id = "slack", name = "Slack (custom)", category = "collaboration", risk = 8, domains = ["slack.com"] },
]
"#;

#[test]
#[ignore = "stress: run with --release -- --ignored"]
fn feeders_drainer_and_control_plane_agree_on_every_byte() {
    with_watchdog(Duration::from_secs(120), run_stress);
}

fn run_stress() {
    const FEEDERS: usize = 4;
    const FLOWS_PER_FEEDER: usize = 400;
    const ROUNDS: usize = 1500;
    let engine = Arc::new(
        Engine::new(Config {
            max_flows: 1 << 16,
            queue_capacity: 1 << 20,
            // Short timeouts, so that ticks end idle flows and emit updates while packets flow.
            udp_idle_timeout_ns: 500 * MS,
            tcp_idle_timeout_ns: 2_000 * MS,
            active_timeout_ns: 300 * MS,
            tcp_linger_ns: 100 * MS,
            ..Config::default()
        })
        .unwrap(),
    );
    let fed_bytes = Arc::new(AtomicU64::new(0));
    let fed_packets = Arc::new(AtomicU64::new(0));
    let drained_bytes = Arc::new(AtomicU64::new(0));
    let drained_packets = Arc::new(AtomicU64::new(0));
    let drained_records = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // The feeders' clock, for the control thread's ticks (ms since T0).
    let clock = Arc::new(AtomicU64::new(0));
    let start = Instant::now();

    let mut feeders = Vec::new();
    for t in 0..FEEDERS {
        let engine = engine.clone();
        let fed_bytes = fed_bytes.clone();
        let fed_packets = fed_packets.clone();
        let clock = clock.clone();
        feeders.push(thread::spawn(move || {
            let mut bytes = 0u64;
            let mut packets = 0u64;
            let path = format!("/usr/bin/feeder-{t}");
            for round in 0..ROUNDS {
                let ts = T0 + (round as u64) * 20 * MS;
                clock.fetch_max((round as u64) * 20, Ordering::Relaxed);
                for f in 0..FLOWS_PER_FEEDER {
                    let client = [10, t as u8, (f >> 8) as u8, f as u8];
                    let server = [52, 1, (f % 7) as u8, 10];
                    let sport = 40_000 + (f as u16);
                    let frames: Vec<Vec<u8>> = if f % 3 == 0 {
                        // UDP: a request and a reply each round.
                        vec![
                            ipv4(client, sport, server, 4500, None, &[round as u8; 100]),
                            ipv4(server, 4500, client, sport, None, &[0; 300]),
                        ]
                    } else {
                        // TCP: a new connection every 50 rounds (SYN, hello), data, FINs at the end.
                        let phase = round % 50;
                        let seq = 1000 + (round / 50) as u32 * 100_000;
                        match phase {
                            0 => vec![
                                ipv4(client, sport, server, 443, Some((0x02, seq)), &[]),
                                ipv4(server, 443, client, sport, Some((0x12, 7)), &[]),
                            ],
                            1 => vec![ipv4(
                                client,
                                sport,
                                server,
                                443,
                                Some((0x18, seq + 1)),
                                &sample::client_hello(HOSTS[f % HOSTS.len()], &["h2"], f as u8),
                            )],
                            49 => vec![
                                ipv4(client, sport, server, 443, Some((0x11, seq + 9)), &[]),
                                ipv4(server, 443, client, sport, Some((0x11, 9)), &[]),
                            ],
                            _ => vec![
                                ipv4(server, 443, client, sport, Some((0x10, 9)), &[0x17; 1200]),
                                ipv4(client, sport, server, 443, Some((0x10, seq + 9)), &[]),
                            ],
                        }
                    };
                    for frame in &frames {
                        let ctx = ContextRef {
                            pid: Some(1000 + t as u32),
                            process_path: Some(&path),
                            ..ContextRef::default()
                        };
                        let ctx = (f % 2 == 0).then_some(ctx);
                        engine.process_packet(LinkType::Raw, frame, ts, ctx);
                        bytes += frame.len() as u64;
                        packets += 1;
                    }
                }
            }
            fed_bytes.fetch_add(bytes, Ordering::Relaxed);
            fed_packets.fetch_add(packets, Ordering::Relaxed);
        }));
    }

    let drainer = {
        let engine = engine.clone();
        let done = done.clone();
        let (b, p, r) = (
            drained_bytes.clone(),
            drained_packets.clone(),
            drained_records.clone(),
        );
        thread::spawn(move || loop {
            let finished = done.load(Ordering::Acquire);
            engine.drain_with(|rec| {
                b.fetch_add(rec.bytes_up + rec.bytes_down, Ordering::Relaxed);
                p.fetch_add(rec.packets_up + rec.packets_down, Ordering::Relaxed);
                r.fetch_add(1, Ordering::Relaxed);
                true
            });
            // Also the encoded path, with a small buffer.
            let mut buf = [0u8; 2048];
            if let Ok(n) = engine.drain_encoded(cloudsight::Encoding::BincodeBatch, &mut buf) {
                if n > 0 {
                    let (_, recs) = cloudsight::decode_batch(&buf[..n]).expect("batch decodes");
                    for rec in recs {
                        b.fetch_add(rec.bytes_up + rec.bytes_down, Ordering::Relaxed);
                        p.fetch_add(rec.packets_up + rec.packets_down, Ordering::Relaxed);
                        r.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if finished {
                break;
            }
            thread::yield_now();
        })
    };

    let control = {
        let engine = engine.clone();
        let done = done.clone();
        let clock = clock.clone();
        thread::spawn(move || {
            let custom = Catalog::from_toml(CUSTOM_CATALOG).unwrap();
            let mut i = 0u64;
            while !done.load(Ordering::Acquire) {
                i += 1;
                let now = T0 + clock.load(Ordering::Relaxed) * MS;
                // Ticks, now and then with time going backwards.
                engine.tick(if i.is_multiple_of(5) {
                    now.saturating_sub(700 * MS)
                } else {
                    now
                });
                let t = (i % 4) as u8;
                let f = (i * 7919 % 400) as u16;
                let tuple = FlowTuple {
                    transport: if f.is_multiple_of(3) {
                        Transport::Udp
                    } else {
                        Transport::Tcp
                    },
                    src: IpAddr::from([10, t, (f >> 8) as u8, f as u8]),
                    src_port: 40_000 + f,
                    dst: IpAddr::from([52, 1, (f % 7) as u8, 10]),
                    dst_port: if f.is_multiple_of(3) { 4500 } else { 443 },
                };
                let user = format!("CORP\\user{i}");
                engine.bind_context(
                    &tuple,
                    ContextRef {
                        pid: Some(i as u32),
                        user_name: Some(&user),
                        ..ContextRef::default()
                    },
                    now,
                );
                match i % 6 {
                    0 => engine.set_catalog(custom.clone()),
                    1 => engine.set_catalog(Catalog::embedded()),
                    2 => engine.update_policy(|p| p.set_app("slack", Sanction::Unsanctioned)),
                    3 => engine.update_policy(|p| p.set_domain("example.org", Sanction::Monitored)),
                    4 => engine.set_catalog(engine.catalog().extend(&custom)),
                    _ => engine.update_policy(|p| p.set_app("slack", Sanction::Sanctioned)),
                }
                let s = engine.stats();
                assert!(s.flows_active <= s.flow_capacity);
                thread::sleep(Duration::from_micros(100));
            }
        })
    };

    for f in feeders {
        f.join().expect("feeder panicked");
    }
    done.store(true, Ordering::Release);
    control.join().expect("control thread panicked");
    drainer.join().expect("drainer panicked");

    engine.flush(T0 + 10_000 * MS);
    for rec in engine.drain(usize::MAX) {
        drained_bytes.fetch_add(rec.bytes_up + rec.bytes_down, Ordering::Relaxed);
        drained_packets.fetch_add(rec.packets_up + rec.packets_down, Ordering::Relaxed);
        drained_records.fetch_add(1, Ordering::Relaxed);
    }
    let s = engine.stats();
    eprintln!(
        "stress: {} packets, {} bytes in {:.1} s; {} records ({} flows created, {} evicted, {} dropped), bindings {} (dropped {})",
        fed_packets.load(Ordering::Relaxed),
        fed_bytes.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
        drained_records.load(Ordering::Relaxed),
        s.flows_created,
        s.flows_evicted,
        s.records_dropped,
        s.bindings,
        s.bindings_dropped,
    );
    assert_eq!(s.records_dropped, 0);
    assert_eq!(s.inspect_memory, 0, "inspection memory left after flush");
    assert_eq!(s.flows_evicted, 0);
    assert_eq!(s.records, drained_records.load(Ordering::Relaxed));
    assert_eq!(s.packets, fed_packets.load(Ordering::Relaxed));
    assert_eq!(
        drained_packets.load(Ordering::Relaxed),
        fed_packets.load(Ordering::Relaxed)
    );
    assert_eq!(
        drained_bytes.load(Ordering::Relaxed),
        fed_bytes.load(Ordering::Relaxed)
    );
}

/// Threads that share flows (both directions and the segments of one flow on different threads).
#[path = "stress_shared/flows.rs"]
mod shared_flows;
