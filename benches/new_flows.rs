//! New-flow creation on 1 and 2 threads (`cargo bench --bench new_flows`), what a flood of new
//! 5-tuples costs. Two groups:
//!
//! - `table/<layout>/<threads>`: the flow table's new-flow path alone (reserve a slot, evict while
//!   full, insert, note in the eviction order), in a full table of 131,072 flows, so that every new
//!   flow evicts one. `one_order` is one global eviction-order lock, the layout up to 0.2.0;
//!   `sharded` is today's (eviction order in 64 shards). Both in the same run.
//! - `engine_default/<threads>`: a TCP SYN of a new flow through `Engine::process_packet` (parse,
//!   table, eviction record, its usage aggregation), default configuration, table full: what the
//!   sensor's packet threads pay. `engine_no_usage`: the same with usage reports off.
//!
//! Each thread creates flows of its own. Criterion reports new flows per second for the whole
//! batch; 2 threads above 1 means new flows do not serialize. Meaningful only with 2 idle cores.

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use cloudsight::internal::flow::{FlowKey, TableBench};
use cloudsight::{Config, Engine, LinkType, Transport};
use cloudsight_testkit::packet::{Tcp, SYN};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const CAPACITY: usize = 131_072;
const FLOWS_PER_THREAD: u32 = 50_000;

/// Run `work(thread, first_flow_number)` on `threads` threads at once, `iters` times; the time of
/// the parallel part only. Flow numbers never repeat across iterations.
fn timed(threads: usize, iters: u64, next: &AtomicU32, work: &(dyn Fn(u32) + Sync)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let barrier = Barrier::new(threads + 1);
        let start = std::thread::scope(|s| {
            for _ in 0..threads {
                let first = next.fetch_add(FLOWS_PER_THREAD, Ordering::Relaxed);
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    work(first);
                });
            }
            barrier.wait();
            Instant::now()
        });
        total += start.elapsed();
    }
    total
}

fn key(n: u32) -> FlowKey {
    let (key, _) = FlowKey::new(
        Transport::Tcp,
        IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]),
        40_000 + (n >> 24) as u16,
        IpAddr::from([34, 120, 1, 10]),
        443,
    );
    key
}

fn table(c: &mut Criterion) {
    let mut g = c.benchmark_group("table");
    for (layout, shards) in [("one_order", 1), ("sharded", 0)] {
        let table = TableBench::new(CAPACITY, shards);
        let next = AtomicU32::new(0);
        for n in 0..CAPACITY as u32 {
            table.new_flow(key(n), 1);
        }
        next.store(CAPACITY as u32, Ordering::Relaxed);
        assert_eq!(table.len(), CAPACITY);
        for threads in [1usize, 2] {
            g.throughput(Throughput::Elements(
                u64::from(FLOWS_PER_THREAD) * threads as u64,
            ));
            g.bench_function(format!("{layout}/{threads}_thread"), |b| {
                b.iter_custom(|iters| {
                    timed(threads, iters, &next, &|first| {
                        for n in first..first + FLOWS_PER_THREAD {
                            black_box(table.new_flow(key(n), 2));
                        }
                    })
                })
            });
        }
        assert_eq!(table.len(), CAPACITY);
    }
    g.finish();
}

/// Offsets in an Ethernet + IPv4 (no options) + TCP frame.
const IPV4_SRC: usize = 14 + 12;
const TCP_SRC_PORT: usize = 14 + 20;

/// Make `frame` (a SYN from 10.0.0.0) the SYN of client `n`: its address and port patched in place
/// (the engine does not verify checksums), so building frames costs nothing measurable.
fn set_client(frame: &mut [u8], n: u32) {
    frame[IPV4_SRC..IPV4_SRC + 4].copy_from_slice(&[10, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    frame[TCP_SRC_PORT..TCP_SRC_PORT + 2]
        .copy_from_slice(&(40_000 + (n >> 24) as u16).to_be_bytes());
}

fn engine(c: &mut Criterion) {
    // Default configuration, then usage reports off: the record of each evicted flow is folded
    // into the usage table under its one lock, the cost the second variant leaves out.
    for (variant, usage_window_ns) in [
        ("default", Config::default().usage_window_ns),
        ("no_usage", 0),
    ] {
        engine_variant(c, variant, usage_window_ns);
    }
}

fn engine_variant(c: &mut Criterion, variant: &str, usage_window_ns: u64) {
    let engine = Engine::new(Config {
        usage_window_ns,
        ..Config::default()
    })
    .unwrap();
    let capacity = engine.stats().flow_capacity as u32;
    let template = Tcp::new(([10, 0, 0, 0], 40_000), ([34, 120, 1, 10], 443))
        .ethernet()
        .frame(SYN, &[]);
    let next = AtomicU32::new(0);
    let mut frame = template.clone();
    for n in 0..capacity {
        set_client(&mut frame, n);
        engine.process_packet(LinkType::Ethernet, &frame, 1_000_000_000, None);
    }
    assert_eq!(engine.stats().flows_active, u64::from(capacity));
    next.store(capacity, Ordering::Relaxed);
    let mut g = c.benchmark_group(format!("engine_{variant}"));
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(
            u64::from(FLOWS_PER_THREAD) * threads as u64,
        ));
        g.bench_function(format!("{threads}_thread"), |b| {
            b.iter_custom(|iters| {
                timed(threads, iters, &next, &|first| {
                    let mut frame = template.clone();
                    for n in first..first + FLOWS_PER_THREAD {
                        set_client(&mut frame, n);
                        black_box(engine.process_packet(
                            LinkType::Ethernet,
                            &frame,
                            2_000_000_000,
                            None,
                        ));
                    }
                })
            })
        });
        // Records of evicted flows, emptied between runs (not timed).
        engine.drain(usize::MAX);
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .without_plots();
    targets = table, engine
}
criterion_main!(benches);
