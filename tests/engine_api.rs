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
