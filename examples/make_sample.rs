//! Writes `examples/data/sample.pcap`, the capture `discover` reads when given none: a laptop's
//! morning of cloud use, built packet by packet with etherparse (no third-party capture in the repo;
//! the builder is `cloudsight_testkit::sample`).
//!
//! `cargo run --example make_sample` regenerates it; a test checks the committed file is what this
//! program writes.

use std::io::Write;

fn main() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/sample.pcap");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let bytes = cloudsight_testkit::sample::sample();
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&bytes).unwrap();
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
}
