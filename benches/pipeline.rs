//! Micro-benchmarks of the hot stages, with a plain timer (`cargo bench --bench pipeline`):
//! packet slicing, a packet of a named flow (the fast path), ClientHello parsing, catalog lookups.
//! Each figure is the median of 7 runs; numbers are for comparison on one machine, not limits.

use std::hint::black_box;
use std::time::Instant;

use cloudsight::{Catalog, Config, Engine, LinkType};
use cloudsight_testkit::packet::Tcp;
use cloudsight_testkit::sample;

fn median_ns_per_op(ops: u64, mut f: impl FnMut()) -> f64 {
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_nanos() as f64 / ops as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[3]
}

fn tcp(from_client: bool, flags: u8, payload: &[u8]) -> Vec<u8> {
    Tcp::new(([10, 0, 0, 5], 40000), ([34, 120, 1, 10], 443))
        .ethernet()
        .up(from_client)
        .frame(flags, payload)
}

fn main() {
    const N: u64 = 1_000_000;
    let data = tcp(false, 16, &[0x17; 1400]);
    let parse = median_ns_per_op(N, || {
        for _ in 0..N {
            black_box(
                cloudsight::internal::packet::parse(LinkType::Ethernet, black_box(&data)).is_ok(),
            );
        }
    });
    println!("packet slicing (Ethernet/IPv4/TCP): {parse:.1} ns/packet");

    let engine = Engine::new(Config::default()).unwrap();
    engine.process_packet(LinkType::Ethernet, &tcp(true, 2, &[]), 1, None);
    engine.process_packet(LinkType::Ethernet, &tcp(false, 18, &[]), 2, None);
    let hello_record = sample::client_hello("app.slack.com", &["h2", "http/1.1"], 1);
    engine.process_packet(LinkType::Ethernet, &tcp(true, 16, &hello_record), 3, None);
    let mut ts = 10;
    let fast = median_ns_per_op(N, || {
        for _ in 0..N {
            ts += 1;
            black_box(engine.process_packet(LinkType::Ethernet, black_box(&data), ts, None));
        }
    });
    println!("named-flow packet, whole path (parse + lookup + counters): {fast:.1} ns/packet");

    let handshake = &hello_record[5..];
    let hello = median_ns_per_op(N / 10, || {
        for _ in 0..N / 10 {
            black_box(
                cloudsight::internal::inspect::tls::parse_client_hello(black_box(handshake))
                    .is_ok(),
            );
        }
    });
    println!(
        "ClientHello parse ({} bytes): {hello:.1} ns",
        handshake.len()
    );
    let ja4 = median_ns_per_op(N / 10, || {
        let h = cloudsight::internal::inspect::tls::parse_client_hello(handshake).unwrap();
        for _ in 0..N / 10 {
            black_box(cloudsight::internal::inspect::tls::ja4(black_box(&h), b't'));
        }
    });
    println!("JA4 of that hello: {ja4:.1} ns");

    let catalog = Catalog::embedded();
    for (what, host) in [
        ("hit", "app.slack.com"),
        ("miss", "unknown.example.org"),
        ("deep subdomain hit", "a.b.c.d.e.f.files.dropbox.com"),
    ] {
        let t = median_ns_per_op(N, || {
            for _ in 0..N {
                black_box(catalog.lookup(black_box(host.as_bytes())).is_some());
            }
        });
        println!("catalog lookup, {what} ({host}): {t:.1} ns");
    }
}
