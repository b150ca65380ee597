//! Catalog text (TOML and JSON) and host lookups never panic.
#![no_main]
use cloudsight::Catalog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for catalog in [Catalog::from_toml(text), Catalog::from_json(text)]
            .into_iter()
            .flatten()
        {
            let _ = catalog.lookup(data);
        }
    }
    let _ = cloudsight::catalog::registrable_domain(&String::from_utf8_lossy(data));
});
