//! Bytes per tracked flow, measured (`cargo bench --bench flow_memory`): resident memory of a fresh
//! process before and after filling one engine with N flows, divided by N. Each (kind, N) runs in
//! its own child process so that freed memory of an earlier fill cannot be reused.
//!
//! Kinds: `unnamed` (one payload-free TCP ACK per flow: key, entry, table slot, eviction order) and
//! `named` (SYN, SYN-ACK, TLS ClientHello with SNI: also the boxed name, SNI, ALPN, JA4, app).

use cloudsight::{Config, Engine, LinkType};
use cloudsight_testkit::memory::rss_kib;
use cloudsight_testkit::packet::Tcp;
use cloudsight_testkit::sample;

fn frame(out: &mut Vec<u8>, i: u32, from_client: bool, flags: u8, payload: &[u8]) {
    let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    Tcp::new((client, 40000), ([34, 120, 1, 10], 443))
        .ethernet()
        .up(from_client)
        .write(out, flags, payload);
}

fn measure(kind: &str, n: u32) {
    let hellos: Vec<Vec<u8>> = ["app.slack.com", "www.dropbox.com", "outlook.office365.com"]
        .iter()
        .map(|s| sample::client_hello(s, &["h2", "http/1.1"], 7))
        .collect();
    let mut buf = Vec::with_capacity(2048);
    let before = rss_kib();
    let engine = Engine::new(Config {
        max_flows: n as usize,
        max_table_bytes: 8 << 30,
        ..Config::default()
    })
    .unwrap();
    let empty = rss_kib();
    let mut ts = 1_000_000_000u64;
    for i in 0..n {
        ts += 10;
        if kind == "named" {
            frame(&mut buf, i, true, 2, &[]);
            engine.process_packet(LinkType::Ethernet, &buf, ts, None);
            frame(&mut buf, i, false, 18, &[]);
            engine.process_packet(LinkType::Ethernet, &buf, ts + 1, None);
            frame(&mut buf, i, true, 16, &hellos[i as usize % hellos.len()]);
            engine.process_packet(LinkType::Ethernet, &buf, ts + 2, None);
        } else {
            frame(&mut buf, i, true, 16, &[]);
            engine.process_packet(LinkType::Ethernet, &buf, ts, None);
        }
    }
    let s = engine.stats();
    assert_eq!(s.flows_active, u64::from(n));
    assert_eq!(
        s.inspect_memory, 0,
        "inspection buffers are freed once named"
    );
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
    for kind in ["unnamed", "named"] {
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
