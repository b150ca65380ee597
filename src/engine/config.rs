//! Engine configuration and the errors of the Rust API.

use crate::context::Device;

const SECOND: u64 = 1_000_000_000;

/// Engine configuration. `Config::default()` suits a laptop sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The device copied into every record.
    pub device: Device,
    /// Most flows tracked at once.
    pub max_flows: usize,
    /// Memory cap of the flow table in bytes; the flow bound is the smaller of `max_flows` and what
    /// fits in this many bytes.
    pub max_table_bytes: usize,
    /// Idle timeout of TCP flows, ns.
    pub tcp_idle_timeout_ns: u64,
    /// Idle timeout of UDP flows, ns.
    pub udp_idle_timeout_ns: u64,
    /// How long an ended TCP connection (RST, FINs both ways) lingers to catch trailing packets, ns.
    pub tcp_linger_ns: u64,
    /// A flow older than this since its previous record emits an `update` record, ns.
    pub active_timeout_ns: u64,
    /// Records held for draining; when full the oldest is dropped and counted.
    pub queue_capacity: usize,
    /// Context bindings held for flows not seen yet.
    pub max_pending_bindings: usize,
    /// How long a binding waits for its flow, ns.
    pub binding_ttl_ns: u64,
    /// IP datagrams reassembled at once (0: fragments are not reassembled; they count toward
    /// their flow only when the first one holds the transport header).
    pub max_fragments: usize,
    /// Community ID seed (0 unless the deployment sets one).
    pub community_id_seed: u16,
    /// Leave [`ActivityRecord::community_id`](crate::ActivityRecord::community_id) empty instead
    /// of computing it (a SHA-1 and a string per record, a tenth of the cost of a new flow in a
    /// SYN flood): for consumers that never join records with Zeek or Suricata logs. Default
    /// false.
    pub skip_community_id: bool,
    /// Bytes all flows' inspection buffers (ClientHello and QUIC reassembly) may hold together;
    /// past it, new flows are not inspected (counted in `inspect_skipped`).
    pub max_inspect_bytes: usize,
    /// Addresses the DNS cache remembers.
    pub dns_cache_entries: usize,
    /// Shortest time a DNS answer is remembered, s (answers with tiny TTLs still name the
    /// connection that follows them).
    pub dns_ttl_floor_s: u32,
    /// Longest time a DNS answer is remembered, s.
    pub dns_ttl_ceiling_s: u32,
    /// Bytes all IP datagrams being reassembled may hold together; past it the oldest are given
    /// up (counted in `defrag_over_budget`).
    pub max_defrag_bytes: usize,
    /// How long a fragmented datagram may take to arrive whole from its first fragment seen, ns;
    /// then it is given up (`defrag_timed_out`) and its fragments counted in no flow
    /// (`fragments_orphaned`: the receiver never delivers it). Default 60 s:
    /// what RFC 8200 §4.5 sets for IPv6 (Linux's `ip6frag_time`) and Windows keeps for IPv4
    /// (Linux's `ipfrag_time` is 30 s); a datagram a receiver could still reassemble is not
    /// given up first here.
    pub defrag_timeout_ns: u64,
    /// Bytes the queued records may hold together (each record costs its size and its strings'
    /// heap); past it the oldest record is dropped and counted in `records_dropped`, as when
    /// `queue_capacity` is reached.
    pub max_queue_bytes: usize,
    /// Length of a usage-report window, ns (README "Usage reports"); 0 turns usage reports off.
    pub usage_window_ns: u64,
    /// Most usage rows per window; past it new keys fold into the window's one overflow row
    /// (counted in `usage_rows_folded`).
    pub max_usage_rows: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            device: Device::default(),
            max_flows: 131_072,
            max_table_bytes: 72 << 20,
            tcp_idle_timeout_ns: 300 * SECOND,
            udp_idle_timeout_ns: 120 * SECOND,
            tcp_linger_ns: 5 * SECOND,
            active_timeout_ns: 300 * SECOND,
            queue_capacity: 65_536,
            max_pending_bindings: 65_536,
            binding_ttl_ns: 120 * SECOND,
            max_fragments: 4096,
            community_id_seed: 0,
            skip_community_id: false,
            max_inspect_bytes: 16 << 20,
            dns_cache_entries: 65_536,
            dns_ttl_floor_s: 60,
            dns_ttl_ceiling_s: 86_400,
            max_defrag_bytes: 4 << 20,
            defrag_timeout_ns: 60 * SECOND,
            max_queue_bytes: 64 << 20,
            usage_window_ns: 3600 * SECOND,
            max_usage_rows: 16_384,
        }
    }
}

/// Memory one tracked flow costs, as budgeted by `max_table_bytes`: measured resident memory per
/// flow (`cargo bench --bench flow_memory`, at 100k-1M flows: 235-243 B unnamed or named with a
/// name shared by other flows; 428-434 B when every flow has a name of its own, what a peer can
/// force), rounded up so that the bound holds in that worst case.
pub const BYTES_PER_FLOW: usize = 448;

impl Config {
    /// The flow bound in force: `max_flows`, lowered to what fits in `max_table_bytes`.
    pub fn effective_max_flows(&self) -> usize {
        self.max_flows.min(self.max_table_bytes / BYTES_PER_FLOW)
    }

    pub(super) fn validate(&self) -> Result<(), Error> {
        if self.effective_max_flows() == 0 {
            return Err(Error::InvalidConfig(
                "max_flows and max_table_bytes must allow at least one flow",
            ));
        }
        if self.queue_capacity == 0 {
            return Err(Error::InvalidConfig("queue_capacity must be at least 1"));
        }
        if self.max_queue_bytes == 0 {
            return Err(Error::InvalidConfig("max_queue_bytes must be positive"));
        }
        if self.tcp_idle_timeout_ns == 0 || self.udp_idle_timeout_ns == 0 {
            return Err(Error::InvalidConfig("idle timeouts must be positive"));
        }
        if self.active_timeout_ns == 0 {
            return Err(Error::InvalidConfig("active_timeout_ns must be positive"));
        }
        if self.usage_window_ns != 0 && self.max_usage_rows == 0 {
            return Err(Error::InvalidConfig(
                "max_usage_rows must be at least 1 when usage reports are on",
            ));
        }
        Ok(())
    }
}

/// Errors of the Rust API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A configuration value is out of range; the text says which.
    InvalidConfig(&'static str),
    /// A pcap LINKTYPE this library does not decode.
    UnknownLinkType(u32),
    /// An app id the catalog in force does not have ([`Engine::set_app_sanction`](crate::Engine::set_app_sanction)).
    UnknownApp,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidConfig(what) => write!(f, "invalid configuration: {what}"),
            Error::UnknownLinkType(t) => write!(f, "unknown link type {t}"),
            Error::UnknownApp => f.write_str("unknown app id (not in the catalog in force)"),
        }
    }
}

impl std::error::Error for Error {}
