//! Two-thread ingestion scaling (`cargo bench --bench scaling`): one shared `Engine`, fed by 1 or 2
//! threads, each thread sending packets of its own distinct flows (a warm table of 2 x 50k flows,
//! payload-free ACKs: the named-flow fast path). Criterion reports packets/s for the whole batch;
//! 2 threads at about twice the 1-thread rate means the table's sharded locks do not serialize.
//! Meaningful only on a machine with 2 idle cores.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use cloudsight::{Config, Engine, LinkType};
use cloudsight_testkit::packet::{Tcp, ACK};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const FLOWS_PER_THREAD: u32 = 50_000;
const PACKETS_PER_THREAD: u64 = 200_000;

fn ack(thread: u32, i: u32) -> Vec<u8> {
    Tcp::new(
        (
            [10, thread as u8, (i >> 8) as u8, i as u8],
            40000 + (i % 3) as u16,
        ),
        ([34, 120, (i >> 16) as u8, 10], 443),
    )
    .ethernet()
    .frame(ACK, &[])
}

fn scaling(c: &mut Criterion) {
    let engine = Engine::new(Config::default()).unwrap();
    let per_thread: Vec<Vec<Vec<u8>>> = (0..2)
        .map(|t| (0..FLOWS_PER_THREAD).map(|i| ack(t, i)).collect())
        .collect();
    for (t, frames) in per_thread.iter().enumerate() {
        for f in frames {
            engine.process_packet(LinkType::Ethernet, f, 1_000_000_000 + t as u64, None);
        }
    }
    assert_eq!(engine.stats().flows_active, 2 * u64::from(FLOWS_PER_THREAD));

    let mut g = c.benchmark_group("ingest");
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(PACKETS_PER_THREAD * threads as u64));
        g.bench_function(format!("{threads}_thread"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let barrier = Barrier::new(threads + 1);
                    let elapsed = std::thread::scope(|s| {
                        for frames in per_thread.iter().take(threads) {
                            let (engine, barrier) = (&engine, &barrier);
                            s.spawn(move || {
                                barrier.wait();
                                let mut ts = 2_000_000_000u64;
                                for k in 0..PACKETS_PER_THREAD {
                                    ts += 1;
                                    let f = &frames[(k as usize * 7919) % frames.len()];
                                    black_box(engine.process_packet(
                                        LinkType::Ethernet,
                                        f,
                                        ts,
                                        None,
                                    ));
                                }
                            });
                        }
                        barrier.wait();
                        let start = Instant::now();
                        // The scope joins every thread before returning.
                        start
                    });
                    total += elapsed.elapsed();
                }
                total
            })
        });
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
    targets = scaling
}
criterion_main!(benches);
