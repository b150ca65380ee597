//! The engine's Rust API for what sensors (and the C ABI) need beyond packets: catalog changes that
//! compose, sanctions checked against the catalog, drains that may be re-entered from their own
//! callback, names that cannot lie, and process context that is bounded, interned and lossy-safe.

#[path = "../examples/make_sample.rs"]
#[allow(dead_code)]
mod sample;

use std::sync::{Arc, Barrier};
use std::thread;

use cloudsight::{Catalog, Config, Engine, Error, Sanction};

fn app_catalog(id: &str, domain: &str) -> Catalog {
    Catalog::from_toml(&format!(
        "schema_version = 1\napps = [ {{ id = \"{id}\", name = \"{id}\", category = \"crm\", domains = [\"{domain}\"] }} ]\n"
    ))
    .unwrap()
}

#[test]
fn extend_catalog_overlays_and_concurrent_extends_all_take_effect() {
    let engine = Arc::new(Engine::new(Config::default()).unwrap());
    let before = engine.catalog().len();
    engine.extend_catalog(&app_catalog("acme", "acme.example"));
    let c = engine.catalog();
    assert_eq!(c.len(), before + 1);
    assert_eq!(c.lookup(b"x.acme.example").unwrap().id, "acme");
    assert!(c.app("dropbox").is_some(), "the embedded apps stay");

    // Two threads extend at the same moment, many times: a read-extend-write that is not atomic
    // loses one of them.
    const ROUNDS: usize = 40;
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|t| {
            let (engine, barrier) = (engine.clone(), barrier.clone());
            thread::spawn(move || {
                for i in 0..ROUNDS {
                    barrier.wait();
                    let id = format!("{t}{i}");
                    engine.extend_catalog(&app_catalog(&id, &format!("{id}.example")));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let c = engine.catalog();
    for t in ["a", "b"] {
        for i in 0..ROUNDS {
            assert!(c.app(&format!("{t}{i}")).is_some(), "{t}{i} was lost");
        }
    }
    assert_eq!(c.len(), before + 1 + 2 * ROUNDS);
}

#[test]
fn set_app_sanction_refuses_unknown_apps_and_set_domain_sanction_applies() {
    let engine = Engine::new(Config::default()).unwrap();
    assert_eq!(
        engine.set_app_sanction("no-such-app", Sanction::Unsanctioned),
        Err(Error::UnknownApp)
    );
    assert_eq!(engine.policy().app_sanction("no-such-app"), None);
    assert!(Error::UnknownApp.to_string().contains("unknown app"));

    assert_eq!(
        engine.set_app_sanction("dropbox", Sanction::Unsanctioned),
        Ok(())
    );
    assert_eq!(
        engine.policy().app_sanction("dropbox"),
        Some(Sanction::Unsanctioned)
    );
    // An app the catalog gains becomes sanctionable.
    assert_eq!(
        engine.set_app_sanction("acme", Sanction::Monitored),
        Err(Error::UnknownApp)
    );
    engine.extend_catalog(&app_catalog("acme", "acme.example"));
    assert_eq!(engine.set_app_sanction("acme", Sanction::Monitored), Ok(()));

    engine.set_domain_sanction("Evil.Example.", Sanction::Unsanctioned);
    assert_eq!(
        engine.policy().verdict(None, Some("evil.example")),
        cloudsight::Verdict::Block
    );
    assert_eq!(
        engine.policy().app_sanction("dropbox"),
        Some(Sanction::Unsanctioned),
        "other rules stay"
    );
}

// ---- Drains re-entered from their own callback ----

/// Runs `f` on its own thread and fails the test if it has not returned within 20 s (a deadlock
/// fails instead of hanging the suite).
fn within_deadline<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(20)) {
        Ok(v) => v,
        Err(_) => panic!("{what} did not return within 20 s: deadlock"),
    }
}

fn udp(src_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ipv4([10, 0, 0, 5], [198, 51, 100, 7], 64)
        .udp(src_port, 9999)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// An engine holding `n` records in its queue (flows ended by a flush).
fn engine_with_records(n: u16) -> Arc<Engine> {
    let engine = Engine::new(Config::default()).unwrap();
    for i in 0..n {
        engine.process_packet(cloudsight::LinkType::Raw, &udp(20_000 + i, b"x"), 1, None);
    }
    engine.flush(2);
    assert_eq!(engine.stats().records_queued, u64::from(n));
    Arc::new(engine)
}

#[test]
fn stats_from_inside_a_drain_callback() {
    let engine = engine_with_records(5);
    let queued = within_deadline("stats in drain_with", move || {
        let mut seen = Vec::new();
        engine.drain_with(|_| {
            seen.push(engine.stats().records_queued);
            true
        });
        seen
    });
    // The record being delivered has left the queue.
    assert_eq!(queued, [4, 3, 2, 1, 0]);
}

#[test]
fn flush_from_inside_a_drain_callback() {
    let engine = engine_with_records(3);
    let e = engine.clone();
    let delivered = within_deadline("flush in drain_with", move || {
        let mut n = 0;
        e.drain_with(|_| {
            if n == 0 {
                e.process_packet(cloudsight::LinkType::Raw, &udp(30_000, b"y"), 3, None);
                e.flush(4);
            }
            n += 1;
            true
        })
    });
    // The flow flushed during the drain is delivered by the same drain.
    assert_eq!(delivered, 4);
    assert_eq!(engine.stats().records_queued, 0);
}

#[test]
fn drain_and_drain_with_from_inside_a_drain_callback() {
    let engine = engine_with_records(6);
    let e = engine.clone();
    let (outer, taken, refused) = within_deadline("drain in drain_with", move || {
        let mut taken = Vec::new();
        let mut refused = None;
        let mut calls = 0;
        let outer = e.drain_with(|r| {
            calls += 1;
            match calls {
                1 => taken.extend(e.drain(2).into_iter().map(|r| r.flow_id)),
                2 => {
                    e.drain_with(|r2| {
                        refused = Some(r2.flow_id);
                        false // refused: kept back, first for the next drain
                    });
                }
                _ => {}
            }
            taken.push(r.flow_id);
            true
        });
        (outer, taken, refused)
    });
    // Nothing lost, nothing twice: 6 distinct records, all taken.
    let mut ids = taken.clone();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((taken.len(), ids.len()), (6, 6), "{taken:?}");
    assert_eq!(
        outer, 4,
        "the outer drain took the 4 the first inner drain left"
    );
    // The record the nested drain refused came next, to the outer drain.
    let refused = refused.expect("the nested drain saw a record");
    assert_eq!(taken[4], refused, "{taken:?}");
    assert_eq!(engine.stats().records_queued, 0);
}

#[test]
fn drain_encoded_from_inside_a_drain_callback() {
    let engine = engine_with_records(4);
    let e = engine.clone();
    let (outer, bytes) = within_deadline("drain_encoded in drain_with", move || {
        let mut bytes = 0;
        let mut first = true;
        let outer = e.drain_with(|_| {
            if std::mem::take(&mut first) {
                let mut buf = vec![0u8; 1 << 16];
                bytes = e
                    .drain_encoded(cloudsight::Encoding::JsonLines, &mut buf)
                    .unwrap();
            }
            true
        });
        (outer, bytes)
    });
    assert_eq!(outer, 1);
    assert!(bytes > 0);
    assert_eq!(engine.stats().records_queued, 0);
}

#[test]
fn a_refused_record_comes_first_and_is_counted_as_queued() {
    let engine = engine_with_records(3);
    let mut first = None;
    assert_eq!(
        engine.drain_with(|r| {
            first = Some(r.flow_id);
            false
        }),
        0
    );
    assert_eq!(engine.stats().records_queued, 3);
    let all = engine.drain(10);
    assert_eq!(all.len(), 3);
    assert_eq!(Some(all[0].flow_id), first);
    assert_eq!(engine.stats().records_queued, 0);
}
