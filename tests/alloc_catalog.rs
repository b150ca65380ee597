//! `Catalog::lookup`, `registrable_domain` and `Policy::verdict` run per flow on the packet path:
//! they must not touch the heap. A counting global allocator (per thread, so parallel tests do not
//! disturb each other) proves it.

use cloudsight::catalog::{registrable_domain, Catalog};
use cloudsight::policy::{Policy, Sanction, Verdict};
use cloudsight_testkit::alloc::{during, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    during(f).1.calls
}

#[test]
fn lookup_registrable_domain_and_verdict_do_not_allocate() {
    let catalog = Catalog::embedded();
    let mut policy = Policy::new();
    policy.set_app("dropbox", Sanction::Unsanctioned);
    policy.set_domain("example.co.uk", Sanction::Monitored);
    let long = "a.".repeat(120) + "example.com";
    let hosts: Vec<Vec<u8>> = [
        "teams.microsoft.com",
        "NorthEurope.Notifications.Teams.Microsoft.com.",
        "www.google.com",
        "r3---sn-hju7enel.googlevideo.com",
        "a.b.c.d.e.f.unknown.example.co.uk",
        "evilslack.com",
        "",
        ".",
        long.as_str(),
    ]
    .iter()
    .map(|h| h.as_bytes().to_vec())
    .chain([vec![0xff; 300], b"x.dropbox.com".to_vec()])
    .collect();

    let mut hits = 0;
    let n = allocations_during(|| {
        for host in &hosts {
            let app = catalog.lookup(host);
            hits += usize::from(app.is_some());
            let name = std::str::from_utf8(host).unwrap_or("");
            let domain = registrable_domain(name);
            let v = policy.verdict(app.map(|a| a.id.as_str()), domain);
            assert!(v <= Verdict::Block);
        }
    });
    assert_eq!(n, 0, "heap allocations on the lookup path");
    assert_eq!(hits, 5);
    assert_eq!(
        policy.verdict(
            catalog.lookup(b"x.dropbox.com").map(|a| a.id.as_str()),
            None
        ),
        Verdict::Block
    );
    assert_eq!(
        policy.verdict(None, registrable_domain("A.Example.CO.UK")),
        Verdict::Monitor
    );
    // the counter works at all
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 16]))) > 0);
}
