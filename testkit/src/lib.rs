//! Test support of cloudsight, shared by the tests, the benches and `examples/make_sample.rs`
//! (a dev-dependency only; never published):
//!
//! - [`packet`]: IPv4 TCP/UDP frames, hand-written or through etherparse;
//! - [`raw`]: the hand-written raw IP packets and fragments (std only);
//! - [`dns`]: DNS query and answer messages;
//! - [`encap`]: tunnels and encapsulations around them (PPPoE, NFLOG, GRE, VXLAN, MPLS, GTP-U);
//! - [`tls`]: TLS ClientHello records;
//! - [`flows`]: an engine filled with many flows of one kind (memory per flow);
//! - [`alloc`]: a counting global allocator (allocations and bytes of a closure, per thread);
//! - [`sample`]: the bundled sample capture (`examples/data/sample.pcap`);
//! - `capture`: reading pcap and pcapng files (the CLI's reader);
//! - `memory`: RSS and peak RSS of this process (the CLI's reader);
//! - `reader`, `workers`: the streaming reader and the worker threads of `discover`;
//! - `corpus`: `../shared/corpus` and its Wireshark truth.
//!
//! The last three come with the default feature `capture` (the fuzz crate goes without).

pub mod alloc;
#[cfg(feature = "capture")]
pub mod corpus;
pub mod dns;
pub mod encap;
pub mod flows;
pub mod packet;
pub mod raw;
pub mod sample;
pub mod tls;

#[cfg(feature = "capture")]
pub use cloudsight_cli::{capture, memory, reader, workers};

use std::path::{Path, PathBuf};

/// The repository's root directory (the `cloudsight` crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ inside the repository")
        .to_path_buf()
}
