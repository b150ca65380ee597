//! What a tracked flow costs, pinned: the bytes the engine allocates (net of what it frees) per
//! flow while 100,000 flows of each kind are created, counted by this test's global allocator.
//! Allocated bytes are what the process asks of the allocator; resident memory
//! (`cargo bench --bench flow_memory`) adds the allocator's rounding and lacks untouched pages.

use cloudsight::internal::BYTES_PER_FLOW;
use cloudsight::{Config, Engine};
use cloudsight_testkit::alloc::{during, Counting};
use cloudsight_testkit::flows::{fill, Kind};

#[global_allocator]
static GLOBAL: Counting = Counting;

const FLOWS: u32 = 100_000;

/// Bytes allocated per flow by an engine (made while counting) holding `FLOWS` flows of `kind`.
fn bytes_per_flow(kind: Kind) -> f64 {
    let (engine, usage) = during(|| {
        let engine = Engine::new(Config {
            max_flows: FLOWS as usize,
            max_table_bytes: 8 << 30,
            ..Config::default()
        })
        .unwrap();
        fill(&engine, kind, FLOWS);
        engine
    });
    assert_eq!(engine.stats().flows_active, u64::from(FLOWS));
    usage.net_bytes as f64 / f64::from(FLOWS)
}

#[test]
fn bytes_per_flow_are_pinned() {
    let unnamed = bytes_per_flow(Kind::Unnamed);
    let named = bytes_per_flow(Kind::Named);
    let unique = bytes_per_flow(Kind::Unique);
    let unanswered = bytes_per_flow(Kind::Unanswered);
    println!(
        "allocated per flow: unnamed {unnamed:.0} B, named {named:.0} B, unique names {unique:.0} B, \
         hellos unanswered {unanswered:.0} B"
    );
    // Hellos the server never answers stay watched for a second version, but all watches
    // together hold at most an eighth of `max_inspect_bytes` in buffers (2 MiB by default), plus
    // the inspectors holding them: at most twice that over all flows.
    let watch_budget = (Config::default().max_inspect_bytes / 8) as f64;
    assert!(
        unanswered - named <= 2.0 * watch_budget / f64::from(FLOWS),
        "unanswered {unanswered:.0} B vs named {named:.0} B"
    );
    // The README's figures (measured 209 / 200 / 351 B): a flow, named or not, within 224 B
    // allocated (about 240 B resident, under the 256 B target); one that holds a name of its own
    // within 384 B, and within BYTES_PER_FLOW, the budget `max_table_bytes` divides by.
    assert!(unnamed <= 224.0, "unnamed flow: {unnamed:.0} B");
    assert!(named <= 224.0, "named flow: {named:.0} B");
    assert!(
        unique <= 384.0,
        "flow with a name of its own: {unique:.0} B"
    );
    assert!(
        unique <= BYTES_PER_FLOW as f64,
        "flow with a name of its own: {unique:.0} B, budget {BYTES_PER_FLOW}"
    );
    // A name shared by many flows is held once.
    assert!(
        named - unnamed < 16.0,
        "named {named:.0} B vs unnamed {unnamed:.0} B"
    );
}
