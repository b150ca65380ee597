//! Bytes per tracked flow, measured (`cargo bench --bench flow_memory`): resident memory of a fresh
//! process before and after filling one engine with N flows, divided by N. Each (kind, N) runs in
//! its own child process so that freed memory of an earlier fill cannot be reused.
//!
//! Kinds: `unnamed` (one payload-free TCP ACK per flow: key, boxed entry, table slot, eviction
//! order), `named` (SYN, SYN-ACK, TLS ClientHello with one of three SNIs: the name, SNI, ALPN, JA4
//! and app are interned, shared by the flows of one name) and `unique` (a different SNI per flow,
//! what a peer can force: every flow holds a name of its own); `unanswered` (as `named`, with no
//! server answer: hellos stay watched for a second version, within an eighth of the inspection
//! cap). `named` and `unique` flows get the server's first bytes.

use cloudsight::{Config, Engine};
use cloudsight_testkit::flows::{fill, Kind};
use cloudsight_testkit::memory::rss_kib;

fn measure(kind: &str, n: u32) {
    let (k, _) = *Kind::ALL.iter().find(|(_, name)| *name == kind).unwrap();
    let before = rss_kib();
    let engine = Engine::new(Config {
        max_flows: n as usize,
        max_table_bytes: 8 << 30,
        ..Config::default()
    })
    .unwrap();
    let empty = rss_kib();
    fill(&engine, k, n);
    let s = engine.stats();
    assert_eq!(s.flows_active, u64::from(n));
    if k == Kind::Unanswered {
        // Hellos nobody answered stay watched within an eighth of the inspection cap.
        assert!(s.inspect_memory <= (Config::default().max_inspect_bytes / 8 + 64 * 1024) as u64);
    } else {
        assert_eq!(
            s.inspect_memory, 0,
            "inspection buffers are freed once named and answered"
        );
    }
    let after = rss_kib();
    println!(
        "{kind:>8} flows {n:>8}: {:.0} bytes/flow (RSS {} -> {} KiB; empty engine {} KiB)",
        (after - before) as f64 * 1024.0 / f64::from(n),
        before,
        after,
        empty - before,
    );
    drop(engine);
}

fn main() {
    if let (Ok(kind), Ok(n)) = (
        std::env::var("FLOW_MEMORY_KIND"),
        std::env::var("FLOW_MEMORY_N"),
    ) {
        measure(&kind, n.parse().unwrap());
        return;
    }
    println!(
        "size_of FlowEntry {} B, FlowKey {} B, engine::BYTES_PER_FLOW (budgeted) {} B",
        cloudsight::internal::flow::FLOW_ENTRY_SIZE,
        std::mem::size_of::<cloudsight::internal::flow::FlowKey>(),
        cloudsight::internal::BYTES_PER_FLOW
    );
    let exe = std::env::current_exe().unwrap();
    for (_, kind) in Kind::ALL {
        for n in [100_000u32, 1_000_000] {
            let status = std::process::Command::new(&exe)
                .env("FLOW_MEMORY_KIND", kind)
                .env("FLOW_MEMORY_N", n.to_string())
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
}
