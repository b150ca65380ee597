//! TLS ClientHello inspection: TCP reassembly of the client's first flight
//! ([`reassembly`]), a borrowing ClientHello parser reading SNI, ALPN, versions and ECH
//! ([`hello`]), and the JA4 client fingerprint ([`ja4`](mod@ja4)).
//!
//! The parser and JA4 never allocate and never panic on any input; the reassembler holds at
//! most [`HelloReassembler::MAX_BYTES`] of payload and gives up (never grows) past that. Its
//! outcome is the inspectors' shared [`Progress`](crate::inspect::Progress).

pub mod hello;
pub mod ja4;
pub mod reassembly;

#[cfg(test)]
mod fixtures;

pub use hello::{
    looks_like_client_hello, parse_client_hello, parse_client_hello_prefix, Alpn, AlpnIter,
    ClientHello, ExtensionIter, TlsError,
};
pub use ja4::ja4;
pub use reassembly::HelloReassembler;
