//! cloudsight: cloud-app discovery for endpoint sensors.
//!
//! A sensor hands the [`Engine`] every packet it sees (or the stream bytes its OS gives it) with the
//! process and user behind it; the engine tracks flows, names the cloud app behind each one, and
//! produces [`ActivityRecord`]s (device, user, process, app, bytes up and down, first and last
//! seen) for the sensor to drain and forward. The C ABI in `include/cloudsight.h` wraps this API.
//!
//! ```
//! use cloudsight::{Config, Engine, LinkType};
//!
//! let engine = Engine::new(Config::default()).unwrap();
//! // A UDP packet 10.0.0.1:5000 -> 10.0.0.2:53 as raw IPv4 (LINKTYPE_RAW).
//! let mut frame = Vec::new();
//! etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
//!     .udp(5000, 53)
//!     .write(&mut frame, b"payload")
//!     .unwrap();
//! engine.process_packet(LinkType::Raw, &frame, 1_000_000_000, None);
//! engine.flush(2_000_000_000);
//! let records = engine.drain(16);
//! assert_eq!(records.len(), 1);
//! assert_eq!(records[0].bytes_up, 35);
//! ```
//!
//! The pipeline, one module per stage: `packet` → `flow` → `inspect` → `naming` ([`catalog`],
//! [`policy`]) → [`record`] → `output` → [`encode`]; [`capi`] is the only module with `unsafe`
//! code. The public API is what this page lists; docs/ARCHITECTURE.md describes the stages.

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod catalog;
pub mod community_id;
mod context;
mod defrag;
pub mod encode;
mod engine;
mod error;
mod flow;
mod inspect;
mod naming;
pub mod ocsf;
mod output;
mod packet;
pub mod policy;
pub mod record;
pub mod usage;

#[allow(unsafe_code)]
pub mod capi;

/// The pipeline's insides, for the project's fuzz targets, benches and tests only: not API, no
/// stability promise, hidden from the docs.
#[doc(hidden)]
pub mod internal {
    pub use crate::engine::BYTES_PER_FLOW;

    /// Flow keys and entry sizes.
    pub mod flow {
        pub use crate::flow::*;
    }
    /// Link-layer and IP slicing.
    pub mod packet {
        pub use crate::packet::*;
    }
    /// The inspectors' parsers and reassemblers.
    pub mod inspect {
        pub use crate::inspect::*;
        /// DNS messages and the DNS cache.
        pub mod dns {
            pub use crate::inspect::dns::*;
        }
        /// HTTP/1.x request heads.
        pub mod http {
            pub use crate::inspect::http::*;
        }
        /// QUIC Initials.
        pub mod quic {
            pub use crate::inspect::quic::*;
        }
        /// TLS ClientHellos, JA4, hello reassembly.
        pub mod tls {
            pub use crate::inspect::tls::*;
        }
    }
}

pub use catalog::{App, Catalog, Category};
pub use context::{
    ContextRef, Device, FlowContext, FlowTuple, Process, User, MAX_PROCESS_PATH, MAX_USER_FIELD,
};
pub use encode::{
    decode_batch, decode_usage_batch, encode_batch, encode_usage_batch, DecodeError, EncodeError,
    Encoding,
};
pub use engine::{Config, Engine, Error, Stats, StreamDirection};
pub use error::LoadError;
pub use packet::{LinkType, Transport, MAX_ENCAP_DEPTH};
pub use policy::{Policy, Sanction};
pub use record::{ActivityRecord, AppInfo, Event, JsonRecord, NameSource, Reason, Verdict};
pub use usage::{JsonUsageRow, UsageRow};
