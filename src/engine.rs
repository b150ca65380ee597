//! The engine: one shared object that takes packets and context from any thread and produces
//! activity records for the sensor to drain.
//!
//! Every method takes `&self` and is safe to call from many threads at once; the packet path never
//! blocks on the drain side and never allocates for a packet of a known flow. Time is the caller's:
//! the engine never reads a clock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use dashmap::DashMap;

use crate::catalog::{registrable_domain, Catalog};
use crate::community_id::community_id;
use crate::context::{ContextRef, Device, FlowContext, FlowTuple};
use crate::flow::{Evidence, FlowEntry, FlowKey, FlowTable, FragmentTracker, SeededState, Side};
use crate::inspect::{dns, lower_name, FlowName, HelloInfo, Inspector, Step};
use crate::output::RecordQueue;
use crate::packet::{self, tcp_flags, Drop, LinkType, PacketView, Parsed, Transport};
use crate::policy::Policy;
use crate::record::{
    ActivityRecord, AppInfo, Event, NameSource, Protocol, Reason, Verdict, SCHEMA_VERSION,
};

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
    /// IP datagrams whose later fragments are tracked at once.
    pub max_fragments: usize,
    /// Community ID seed (0 unless the deployment sets one).
    pub community_id_seed: u16,
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
            max_inspect_bytes: 16 << 20,
            dns_cache_entries: 65_536,
            dns_ttl_floor_s: 60,
            dns_ttl_ceiling_s: 86_400,
        }
    }
}

/// Where a flow's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// A captured packet.
    Packet,
    /// A stream sensor's connection event (nothing sent yet).
    StreamOpen,
    /// A stream sensor's bytes, in order, without TCP sequence numbers.
    StreamData,
}

/// Which way stream bytes go, relative to the tuple given to [`Engine::open_flow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamDirection {
    /// From the tuple's `src` (the client) to its `dst` (the server).
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

/// DNS (port 53) and mDNS (5353), by either port.
fn is_dns_port(view: &PacketView<'_>) -> bool {
    matches!(view.src_port, 53 | 5353) || matches!(view.dst_port, 53 | 5353)
}

/// The packet a stream call stands for.
fn stream_view<'a>(
    tuple: &FlowTuple,
    direction: StreamDirection,
    data: &'a [u8],
    ip_len: u32,
) -> PacketView<'a> {
    let (src, src_port, dst, dst_port) = match direction {
        StreamDirection::ClientToServer => (tuple.src, tuple.src_port, tuple.dst, tuple.dst_port),
        StreamDirection::ServerToClient => (tuple.dst, tuple.dst_port, tuple.src, tuple.src_port),
    };
    PacketView {
        src,
        dst,
        transport: tuple.transport,
        src_port,
        dst_port,
        tcp_flags: 0,
        seq: 0,
        ip_len,
        payload: data,
        fragment: None,
    }
}

/// Memory one tracked flow costs, as budgeted by `max_table_bytes`: measured resident memory per
/// flow (`cargo bench --bench flow_memory`: 310-359 B unnamed, 446-531 B named, at 100k-1M flows;
/// key and entry in the map with its load-factor slack, the eviction order, the boxed name),
/// rounded up so that the bound holds when every flow is named.
pub const BYTES_PER_FLOW: usize = 544;

impl Config {
    /// The flow bound in force: `max_flows`, lowered to what fits in `max_table_bytes`.
    pub fn effective_max_flows(&self) -> usize {
        self.max_flows.min(self.max_table_bytes / BYTES_PER_FLOW)
    }

    fn validate(&self) -> Result<(), Error> {
        if self.effective_max_flows() == 0 {
            return Err(Error::InvalidConfig(
                "max_flows and max_table_bytes must allow at least one flow",
            ));
        }
        if self.queue_capacity == 0 {
            return Err(Error::InvalidConfig("queue_capacity must be at least 1"));
        }
        if self.tcp_idle_timeout_ns == 0 || self.udp_idle_timeout_ns == 0 {
            return Err(Error::InvalidConfig("idle timeouts must be positive"));
        }
        if self.active_timeout_ns == 0 {
            return Err(Error::InvalidConfig("active_timeout_ns must be positive"));
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
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidConfig(what) => write!(f, "invalid configuration: {what}"),
            Error::UnknownLinkType(t) => write!(f, "unknown link type {t}"),
        }
    }
}

impl std::error::Error for Error {}

/// Counters since the engine was created (and two gauges: `flows_active`, `records_queued`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames given to the engine.
    pub packets: u64,
    /// IP bytes of the frames that parsed as IP.
    pub ip_bytes: u64,
    /// Frames whose link-layer header was cut short.
    pub drop_link_truncated: u64,
    /// Frames that were not IP (ARP, LLDP ...).
    pub drop_not_ip: u64,
    /// Frames with a malformed or truncated IP header.
    pub drop_ip_malformed: u64,
    /// IP packets of other protocols than TCP and UDP (ICMP ...).
    pub drop_other_protocol: u64,
    /// TCP or UDP headers malformed or cut short.
    pub drop_transport_malformed: u64,
    /// Non-first IP fragments counted toward their flow.
    pub fragments: u64,
    /// Non-first IP fragments whose first fragment was never seen (not counted in any flow).
    pub fragments_orphaned: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flows evicted from a full table.
    pub flows_evicted: u64,
    /// Flows tracked now.
    pub flows_active: u64,
    /// Most flows tracked at once.
    pub flows_peak: u64,
    /// The flow bound in force.
    pub flow_capacity: u64,
    /// Context bindings accepted.
    pub bindings: u64,
    /// Context bindings dropped (pending table full, or never matched a flow in time).
    pub bindings_dropped: u64,
    /// Records produced.
    pub records: u64,
    /// Records dropped because the queue was full.
    pub records_dropped: u64,
    /// Records waiting to be drained.
    pub records_queued: u64,
    /// Flows not inspected because inspection memory was at its cap.
    pub inspect_skipped: u64,
    /// Bytes held by inspection buffers now.
    pub inspect_memory: u64,
    /// Addresses in the DNS cache now.
    pub dns_cache_entries: u64,
}

#[derive(Default)]
struct Counters {
    packets: AtomicU64,
    ip_bytes: AtomicU64,
    drop_link_truncated: AtomicU64,
    drop_not_ip: AtomicU64,
    drop_ip_malformed: AtomicU64,
    drop_other_protocol: AtomicU64,
    drop_transport_malformed: AtomicU64,
    fragments: AtomicU64,
    fragments_orphaned: AtomicU64,
    flows_created: AtomicU64,
    flows_evicted: AtomicU64,
    flows_peak: AtomicU64,
    bindings: AtomicU64,
    bindings_dropped: AtomicU64,
    inspect_skipped: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The cloud-discovery engine. Share it between threads with `Arc` (or by reference).
pub struct Engine {
    config: Config,
    table: FlowTable,
    fragments: FragmentTracker,
    pending: DashMap<FlowKey, (Arc<FlowContext>, u64), SeededState>,
    pending_len: AtomicUsize,
    queue: RecordQueue,
    /// Records taken off the queue by a drain that could not deliver them yet (a full caller
    /// buffer); the next drain starts with them, so nothing is lost.
    held: Mutex<VecDeque<ActivityRecord>>,
    counters: Counters,
    dns_cache: dns::DnsCache,
    inspect_memory: Arc<AtomicUsize>,
    catalog: RwLock<Arc<LoadedCatalog>>,
    policy: RwLock<Arc<Policy>>,
    /// The configured device, shared by every record.
    device: Arc<Device>,
}

/// A catalog in force, with one shared [`AppInfo`] per app for the flows it names.
struct LoadedCatalog {
    catalog: Arc<Catalog>,
    infos: Vec<Arc<AppInfo>>,
}

impl LoadedCatalog {
    fn new(catalog: Arc<Catalog>) -> LoadedCatalog {
        let infos = catalog
            .apps()
            .iter()
            .map(|a| {
                Arc::new(AppInfo {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    category: a.category.id().to_owned(),
                    risk: a.risk,
                })
            })
            .collect();
        LoadedCatalog { catalog, infos }
    }
}

/// The embedded catalog, parsed once per process.
fn embedded_catalog() -> Arc<LoadedCatalog> {
    static EMBEDDED: OnceLock<Arc<LoadedCatalog>> = OnceLock::new();
    EMBEDDED
        .get_or_init(|| Arc::new(LoadedCatalog::new(Arc::new(Catalog::embedded()))))
        .clone()
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Engine {
    /// A new engine, or an error naming the configuration value that is out of range.
    pub fn new(config: Config) -> Result<Engine, Error> {
        config.validate()?;
        Ok(Engine {
            table: FlowTable::new(config.effective_max_flows()),
            fragments: FragmentTracker::new(config.max_fragments),
            pending: DashMap::with_hasher(SeededState::default()),
            pending_len: AtomicUsize::new(0),
            queue: RecordQueue::new(config.queue_capacity),
            held: Mutex::new(VecDeque::new()),
            counters: Counters::default(),
            dns_cache: dns::DnsCache::new(
                config.dns_cache_entries,
                config.dns_ttl_floor_s,
                config.dns_ttl_ceiling_s,
            ),
            inspect_memory: Arc::new(AtomicUsize::new(0)),
            catalog: RwLock::new(embedded_catalog()),
            policy: RwLock::new(Arc::new(Policy::new())),
            device: Arc::new(config.device.clone()),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Take one captured frame. `ts_ns` is the capture time (ns since the Unix epoch); `context`
    /// names the process and user behind it, when the sensor knows them. Frames that are not TCP or
    /// UDP over IP are counted in [`Stats`] and answered [`Verdict::Allow`].
    pub fn process_packet(
        &self,
        link: LinkType,
        frame: &[u8],
        ts_ns: u64,
        context: Option<ContextRef<'_>>,
    ) -> Verdict {
        bump(&self.counters.packets);
        match packet::parse(link, frame) {
            Ok(Parsed::Packet(view)) => {
                self.counters
                    .ip_bytes
                    .fetch_add(u64::from(view.ip_len), Ordering::Relaxed);
                self.on_packet(&view, ts_ns, context, Input::Packet)
            }
            Ok(Parsed::Fragment(fragment)) => {
                self.counters
                    .ip_bytes
                    .fetch_add(u64::from(fragment.ip_len), Ordering::Relaxed);
                match self.fragments.lookup(&fragment.id, !fragment.more) {
                    Some((key, side)) => {
                        bump(&self.counters.fragments);
                        self.table
                            .with_entry(&key, |e| {
                                e.count(side, fragment.ip_len, ts_ns);
                                e.verdict
                            })
                            .unwrap_or_default()
                    }
                    None => {
                        bump(&self.counters.fragments_orphaned);
                        Verdict::Allow
                    }
                }
            }
            Err(drop) => {
                bump(match drop {
                    Drop::LinkTruncated => &self.counters.drop_link_truncated,
                    Drop::NotIp => &self.counters.drop_not_ip,
                    Drop::IpMalformed => &self.counters.drop_ip_malformed,
                    Drop::OtherProtocol => &self.counters.drop_other_protocol,
                    Drop::TransportMalformed => &self.counters.drop_transport_malformed,
                });
                Verdict::Allow
            }
        }
    }

    /// Like [`Engine::process_packet`], with the link type as a pcap LINKTYPE number.
    pub fn process_packet_linktype(
        &self,
        linktype: u32,
        frame: &[u8],
        ts_ns: u64,
        context: Option<ContextRef<'_>>,
    ) -> Result<Verdict, Error> {
        let link = LinkType::from_linktype(linktype).ok_or(Error::UnknownLinkType(linktype))?;
        Ok(self.process_packet(link, frame, ts_ns, context))
    }

    fn on_packet(
        &self,
        view: &PacketView<'_>,
        ts: u64,
        context: Option<ContextRef<'_>>,
        input: Input,
    ) -> Verdict {
        let (key, side) = FlowKey::new(
            view.transport,
            view.src,
            view.src_port,
            view.dst,
            view.dst_port,
        );
        if let Some(fragment) = view.fragment {
            self.fragments.insert(fragment, key, side);
        }

        let syn_only = view.transport == Transport::Tcp
            && view.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
        let mut restarted = None;
        let known = self.table.with_entry(&key, |e| {
            if syn_only && e.ended() {
                // Port reuse: a SYN on a connection that has ended starts a new flow (as
                // Wireshark's stream numbering does); the old one is recorded now.
                let reason = e.end_reason();
                let record = self.record(&key, e, Event::Close, Some(reason));
                self.queue.push(record);
                *e = FlowEntry::new(self.table.next_id(), ts);
                e.first_packet(side, view.src_port, view.dst_port);
                self.name_from_dns(e, &key, ts);
                restarted = Some(e.id);
                bump(&self.counters.flows_created);
            }
            self.update(&key, e, side, view, ts, context, input)
        });
        if let Some(verdict) = known {
            if let Some(id) = restarted {
                self.table.remember_order(key, id);
            }
            return verdict;
        }

        self.table.reserve(ts, &mut |k, mut e| {
            bump(&self.counters.flows_evicted);
            let record = self.record(&k, &mut e, Event::Close, Some(Reason::Evicted));
            self.queue.push(record);
        });
        let mut entry = FlowEntry::new(self.table.next_id(), ts);
        entry.first_packet(side, view.src_port, view.dst_port);
        let verdict = match self.table.insert_reserved(key, entry, |e| {
            self.name_from_dns(e, &key, ts);
            self.update(&key, e, side, view, ts, context, input)
        }) {
            Ok(verdict) => {
                bump(&self.counters.flows_created);
                self.counters
                    .flows_peak
                    .fetch_max(self.table.len() as u64, Ordering::Relaxed);
                verdict
            }
            Err(verdict) => verdict,
        };
        if self.pending_len.load(Ordering::Relaxed) > 0 {
            self.apply_pending(&key);
        }
        verdict
    }

    /// Everything a packet does to its flow; runs under the flow's map guard.
    #[inline]
    #[allow(clippy::too_many_arguments)] // the packet's parts, passed apart on the hot path
    fn update(
        &self,
        key: &FlowKey,
        e: &mut FlowEntry,
        side: Side,
        view: &PacketView<'_>,
        ts: u64,
        context: Option<ContextRef<'_>>,
        input: Input,
    ) -> Verdict {
        match input {
            Input::Packet => {
                e.count(side, view.ip_len, ts);
                if view.transport == Transport::Tcp {
                    e.tcp(side, view.tcp_flags, view.seq, ts);
                }
            }
            Input::StreamOpen => {
                // The sensor says who connected: as sure as a SYN. Stream offsets start at 1.
                e.evidence(side, Evidence::Syn);
                e.syn_next_seq = Some(1);
                e.last_seen = e.last_seen.max(ts);
            }
            Input::StreamData => e.count(side, view.ip_len, ts),
        }
        if !view.payload.is_empty() {
            if is_dns_port(view) {
                self.dns_packet(e, side, view, ts);
            } else if !e.inspect_done {
                self.inspect(e, side, view, input);
            }
        }
        if let Some(ctx) = context {
            if !e.context.as_ref().is_some_and(|c| ctx.same_as(c)) {
                e.context = Some(Arc::new(ctx.to_owned()));
            }
        }
        if ts.saturating_sub(e.last_record) >= self.config.active_timeout_ns {
            let record = self.record(key, e, Event::Update, None);
            self.queue.push(record);
        }
        e.verdict
    }

    /// Read a DNS message: client evidence, and answers into the name cache (port 53 only; mDNS on
    /// 5353 gives evidence but names nothing).
    fn dns_packet(&self, e: &mut FlowEntry, side: Side, view: &PacketView<'_>, ts: u64) {
        e.inspect_done = true;
        let msg = match view.transport {
            Transport::Udp => view.payload,
            // DNS over TCP: a 2-byte length, then the message (RFC 1035 §4.2.2); only messages
            // that start and end in this segment are read.
            Transport::Tcp => match view.payload {
                [hi, lo, rest @ ..]
                    if rest.len() >= usize::from(u16::from_be_bytes([*hi, *lo])) =>
                {
                    &rest[..usize::from(u16::from_be_bytes([*hi, *lo]))]
                }
                _ => return,
            },
        };
        match dns::message_kind(msg) {
            Some(dns::DnsKind::Query) => e.evidence(side, Evidence::AppRequest),
            Some(dns::DnsKind::Response) => {
                e.evidence(side.other(), Evidence::AppReply);
                if view.src_port == 53 || view.dst_port == 53 {
                    let cache = &self.dns_cache;
                    let _ =
                        dns::parse_response(msg, |name, ip, ttl| cache.insert(ip, name, ttl, ts));
                }
            }
            None => {}
        }
    }

    /// Feed a payload of an unnamed flow to its inspector; name the flow when a name is found.
    fn inspect(&self, e: &mut FlowEntry, side: Side, view: &PacketView<'_>, input: Input) {
        if e.inspector.is_none() {
            if self.inspect_memory.load(Ordering::Relaxed) >= self.config.max_inspect_bytes {
                bump(&self.counters.inspect_skipped);
                e.inspect_done = true;
                return;
            }
            let isn = e.syn_next_seq.filter(|_| e.evidence == Evidence::Syn);
            e.inspector = Some(Box::new(Inspector::new(isn, self.inspect_memory.clone())));
        }
        let from_client = side == e.client_side;
        let weak = e.evidence < Evidence::AppRequest;
        let Some(inspector) = e.inspector.as_mut() else {
            return;
        };
        // Stream bytes come in order without sequence numbers: number them by offset.
        let seq = match input {
            Input::StreamData => inspector.stream_seq(),
            _ => view.seq,
        };
        let step = inspector.payload(view.transport, from_client, weak, seq, view.payload);
        // The cap holds for growth too: a flow whose buffer takes the total past it stops being
        // inspected (so the total exceeds the cap by at most one segment, for one moment).
        if step == Step::Continue
            && self.inspect_memory.load(Ordering::Relaxed) > self.config.max_inspect_bytes
        {
            bump(&self.counters.inspect_skipped);
            self.end_inspection(e);
            return;
        }
        match step {
            Step::Continue => {}
            Step::ClientSpoke => e.evidence(side, Evidence::AppRequest),
            Step::Done => self.end_inspection(e),
            Step::Named(source, name, hello) => {
                e.evidence(side, Evidence::AppRequest);
                self.end_inspection(e);
                self.name_in_band(e, source, name, hello);
            }
        }
    }

    fn end_inspection(&self, e: &mut FlowEntry) {
        e.inspect_done = true;
        // Dropping the inspector gives its buffer bytes back to the gauge.
        e.inspector = None;
    }

    /// Name a flow from its own bytes (SNI, Host). A DNS name given at the flow's start yields,
    /// except when the ClientHello offers ECH: then its SNI is only the outer public name, and the
    /// DNS name keeps naming the flow (DESIGN.md "Naming a flow").
    fn name_in_band(
        &self,
        e: &mut FlowEntry,
        source: NameSource,
        name: String,
        hello: Option<HelloInfo>,
    ) {
        let dns_name = e
            .name
            .as_ref()
            .filter(|n| n.source == Some(NameSource::Dns))
            .and_then(|n| n.server_name.clone());
        let mut flow_name = FlowName::default();
        let name = (!name.is_empty()).then(|| name.into_boxed_str());
        if let Some(h) = hello {
            flow_name.alpn = h.alpn;
            flow_name.ech = h.ech;
            flow_name.ja4 = Some(h.ja4);
            // With ECH the SNI is the provider's public name, in another registrable domain
            // than the site. Browsers also send GREASE ECH with the real SNI, which a DNS name
            // of the same domain confirms: then the SNI stays.
            let other_domain = match (&dns_name, &name) {
                (Some(a), Some(b)) => registrable_domain(a) != registrable_domain(b),
                _ => false,
            };
            if h.ech && other_domain {
                flow_name.server_name = dns_name;
                flow_name.source = Some(NameSource::Dns);
                flow_name.sni = name;
                self.set_name(e, flow_name);
                return;
            }
        }
        match name {
            Some(n) => {
                flow_name.server_name = Some(n);
                flow_name.source = Some(source);
            }
            None => {
                // A hello without SNI: keep its details; a DNS name still names the flow.
                flow_name.server_name = dns_name;
                flow_name.source = flow_name.server_name.as_ref().map(|_| NameSource::Dns);
            }
        }
        self.set_name(e, flow_name);
    }

    /// A new flow to an address a DNS answer named gets that name until its own bytes say better.
    fn name_from_dns(&self, e: &mut FlowEntry, key: &FlowKey, ts: u64) {
        if self.dns_cache.is_empty() {
            return;
        }
        let (server, _) = key.endpoint(e.client_side.other());
        if let Some(name) = self.dns_cache.lookup(server, ts) {
            let flow_name = FlowName {
                server_name: Some(lower_name(&name).into_boxed_str()),
                source: Some(NameSource::Dns),
                ..FlowName::default()
            };
            self.set_name(e, flow_name);
        }
    }

    /// Give the flow its name, the name's app and registrable domain, and the verdict.
    fn set_name(&self, e: &mut FlowEntry, mut name: FlowName) {
        if let Some(server_name) = name.server_name.as_deref() {
            let loaded = self.loaded_catalog();
            let app = loaded
                .catalog
                .lookup_index(server_name.as_bytes())
                .and_then(|i| loaded.infos.get(i.get()).cloned());
            // The registrable domain is a suffix of the (lower-case) name: keep where it starts.
            let domain = registrable_domain(server_name);
            name.domain_start = domain.and_then(|d| u8::try_from(server_name.len() - d.len()).ok());
            e.verdict = self
                .policy()
                .verdict(app.as_deref().map(|a| a.id.as_str()), domain);
            name.app = app;
        }
        e.name = Some(Box::new(name));
    }

    fn loaded_catalog(&self) -> Arc<LoadedCatalog> {
        self.catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The catalog in force.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.loaded_catalog().catalog.clone()
    }

    /// Swap in another catalog. Packets keep flowing; flows already named keep their app.
    pub fn set_catalog(&self, catalog: Catalog) {
        let loaded = Arc::new(LoadedCatalog::new(Arc::new(catalog)));
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = loaded;
    }
    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Swap in another policy. Flows named from now on get its verdicts; flows already named keep
    /// theirs.
    pub fn set_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
    }

    /// Change the policy with `f` (read, copy, change, swap; concurrent changes are serialized).
    pub fn update_policy(&self, f: impl FnOnce(&mut Policy)) {
        let mut slot = self.policy.write().unwrap_or_else(|e| e.into_inner());
        let mut policy = Policy::clone(&slot);
        f(&mut policy);
        *slot = Arc::new(policy);
    }

    /// Make a record of `e` and reset its counts.
    fn record(
        &self,
        key: &FlowKey,
        e: &mut FlowEntry,
        event: Event,
        reason: Option<Reason>,
    ) -> ActivityRecord {
        let [bytes_up, bytes_down, packets_up, packets_down] = e.take_counts(e.last_seen);
        let client = key.endpoint(e.client_side);
        let server = key.endpoint(e.client_side.other());
        let (protocol, proto_number) = match key.transport {
            Transport::Tcp => (Protocol::Tcp, 6),
            Transport::Udp => (Protocol::Udp, 17),
        };
        let name = e.name.as_deref();
        let context = e.context.as_deref();
        ActivityRecord {
            schema: SCHEMA_VERSION,
            flow_id: e.id,
            community_id: community_id(self.config.community_id_seed, proto_number, client, server),
            event,
            reason,
            first_seen_ns: e.first_seen,
            last_seen_ns: e.last_seen,
            protocol,
            client_ip: client.0,
            client_port: client.1,
            server_ip: server.0,
            server_port: server.1,
            bytes_up,
            bytes_down,
            packets_up,
            packets_down,
            server_name: name.and_then(|n| n.server_name.as_deref().map(str::to_owned)),
            name_source: name.and_then(|n| n.source),
            sni: name.and_then(|n| n.sni.as_deref().map(str::to_owned)),
            alpn: name.map(FlowName::alpn_list).unwrap_or_default(),
            ech: name.is_some_and(|n| n.ech),
            ja4: name.and_then(FlowName::ja4_text),
            app: name.and_then(|n| n.app.clone()),
            registrable_domain: name.and_then(|n| n.registrable_domain().map(str::to_owned)),
            verdict: e.verdict,
            device: self.device.clone(),
            process: context.and_then(FlowContext::process),
            user: context.and_then(FlowContext::user),
        }
    }

    /// A stream sensor's connection event (Windows WFP ALE connect, macOS NetworkExtension new
    /// flow): `tuple.src` is the client, `tuple.dst` the server. Creates the flow (named from DNS
    /// if an answer named the server) and returns its verdict, so a connection to an unsanctioned
    /// app named by DNS can be refused before any byte is sent.
    pub fn open_flow(
        &self,
        tuple: &FlowTuple,
        context: Option<ContextRef<'_>>,
        ts_ns: u64,
    ) -> Verdict {
        let view = stream_view(tuple, StreamDirection::ClientToServer, &[], 0);
        self.on_packet(&view, ts_ns, context, Input::StreamOpen)
    }

    /// Bytes of a stream, in order, as the OS hands them over (`data` may be only the start of
    /// what was sent; inspection needs only the first few KiB). `wire_bytes` is what the sensor
    /// counts for this chunk on the wire (IP bytes if it knows them, else payload bytes): records
    /// sum it into `bytes_up`/`bytes_down`, and count each call as one packet. Flows not opened
    /// with [`Engine::open_flow`] are opened with `tuple.src` as client.
    pub fn stream_data(
        &self,
        tuple: &FlowTuple,
        direction: StreamDirection,
        data: &[u8],
        wire_bytes: u64,
        ts_ns: u64,
    ) -> Verdict {
        let (key, _) = FlowKey::from_tuple(tuple);
        if self.table.with_entry(&key, |_| ()).is_none() {
            self.open_flow(tuple, None, ts_ns);
        }
        let wire = u32::try_from(wire_bytes).unwrap_or(u32::MAX);
        let view = stream_view(tuple, direction, data, wire);
        self.on_packet(&view, ts_ns, None, Input::StreamData)
    }

    /// A stream sensor's close event: the flow ends now (reason `fin`) and its record is queued.
    /// Returns false when no such flow is tracked.
    pub fn close_flow(&self, tuple: &FlowTuple, ts_ns: u64) -> bool {
        let (key, _) = FlowKey::from_tuple(tuple);
        match self.table.remove(&key) {
            Some(mut e) => {
                e.last_seen = e.last_seen.max(ts_ns);
                let record = self.record(&key, &mut e, Event::Close, Some(Reason::Fin));
                self.queue.push(record);
                true
            }
            None => false,
        }
    }

    /// Bind process and user context to a 5-tuple (either direction), before or after the flow's
    /// first packet. The latest binding wins; a binding waits `binding_ttl_ns` for its flow.
    pub fn bind_context(&self, tuple: &FlowTuple, context: ContextRef<'_>, ts_ns: u64) {
        bump(&self.counters.bindings);
        let (key, _) = FlowKey::from_tuple(tuple);
        let owned = Arc::new(context.to_owned());
        if self
            .table
            .with_entry(&key, |e| e.context = Some(owned.clone()))
            .is_some()
        {
            return;
        }
        if self.pending_len.load(Ordering::Relaxed) >= self.config.max_pending_bindings {
            bump(&self.counters.bindings_dropped);
            return;
        }
        if self.pending.insert(key, (owned, ts_ns)).is_none() {
            self.pending_len.fetch_add(1, Ordering::Relaxed);
        }
        // The flow may have been created between the lookup above and the insert: look again so
        // the binding is not left behind.
        if self.table.with_entry(&key, |_| ()).is_some() {
            self.apply_pending(&key);
        }
    }

    fn apply_pending(&self, key: &FlowKey) {
        if let Some((_, (context, _))) = self.pending.remove(key) {
            self.pending_len.fetch_sub(1, Ordering::Relaxed);
            self.table.with_entry(key, |e| e.context = Some(context));
        }
    }

    /// Advance time: end idle flows and lingering closed connections, emit `update` records for
    /// flows past the active timeout, forget stale bindings. Call it every second or so.
    pub fn tick(&self, now_ns: u64) {
        let c = &self.config;
        self.table.drain_where(
            |key, e| {
                if e.ended() {
                    (now_ns.saturating_sub(e.ended_at) >= c.tcp_linger_ns).then(|| e.end_reason())
                } else {
                    let idle = match key.transport {
                        Transport::Tcp => c.tcp_idle_timeout_ns,
                        Transport::Udp => c.udp_idle_timeout_ns,
                    };
                    (now_ns.saturating_sub(e.last_seen) >= idle).then_some(Reason::Idle)
                }
            },
            &mut |key, mut e, reason| {
                let record = self.record(&key, &mut e, Event::Close, Some(reason));
                self.queue.push(record);
            },
        );
        self.table.for_each_mut(|key, e| {
            let has_counts = e.packets != [0, 0];
            if has_counts && now_ns.saturating_sub(e.last_record) >= c.active_timeout_ns {
                let record = self.record(key, e, Event::Update, None);
                self.queue.push(record);
            }
        });
        if self.pending_len.load(Ordering::Relaxed) > 0 {
            let before = self.pending.len();
            self.pending
                .retain(|_, (_, ts)| now_ns.saturating_sub(*ts) < c.binding_ttl_ns);
            let removed = before.saturating_sub(self.pending.len());
            self.pending_len.fetch_sub(removed, Ordering::Relaxed);
            self.counters
                .bindings_dropped
                .fetch_add(removed as u64, Ordering::Relaxed);
        }
    }

    /// End every flow now (reason `flush`): end of a capture, or shutdown. Nothing is lost: records
    /// that do not fit in the queue wait beside it for the next drains (up to one per flow the
    /// table can hold).
    pub fn flush(&self, _now_ns: u64) {
        let mut overflow = Vec::new();
        self.table
            .drain_where(|_, _| Some(Reason::Flush), &mut |key, mut e, reason| {
                let record = self.record(&key, &mut e, Event::Close, Some(reason));
                if let Err(record) = self.queue.try_push(record) {
                    overflow.push(record);
                }
            });
        if !overflow.is_empty() {
            // Bounded all the same: beside the queue wait at most as many records as the table
            // holds flows (repeated flushes with nothing drained in between drop the excess).
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            let room = self.table.capacity().saturating_sub(held.len());
            let excess = overflow.len().saturating_sub(room);
            self.queue.count_dropped(excess as u64);
            held.extend(overflow.into_iter().take(room).map(|r| *r));
        }
    }

    /// Hand queued records to `deliver` until it returns `false` (it could not take that record: it
    /// is kept and comes first next time) or none is left. Returns how many were taken. Records
    /// kept back (by a full caller buffer, or a flush that overflowed the queue) come before the
    /// queue's.
    pub fn drain_with(&self, mut deliver: impl FnMut(&ActivityRecord) -> bool) -> usize {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = 0;
        loop {
            let record = match held.pop_front() {
                Some(r) => r,
                None => match self.queue.pop() {
                    Some(r) => r,
                    None => return taken,
                },
            };
            if !deliver(&record) {
                held.push_front(record);
                return taken;
            }
            taken += 1;
        }
    }

    /// Take up to `max` queued records.
    pub fn drain(&self, max: usize) -> Vec<ActivityRecord> {
        let mut out = Vec::new();
        self.drain_with(|r| {
            if out.len() >= max {
                return false;
            }
            out.push(r.clone());
            true
        });
        out
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let held = self.held.lock().map(|h| h.len()).unwrap_or(0);
        Stats {
            packets: get(&c.packets),
            ip_bytes: get(&c.ip_bytes),
            drop_link_truncated: get(&c.drop_link_truncated),
            drop_not_ip: get(&c.drop_not_ip),
            drop_ip_malformed: get(&c.drop_ip_malformed),
            drop_other_protocol: get(&c.drop_other_protocol),
            drop_transport_malformed: get(&c.drop_transport_malformed),
            fragments: get(&c.fragments),
            fragments_orphaned: get(&c.fragments_orphaned),
            flows_created: get(&c.flows_created),
            flows_evicted: get(&c.flows_evicted),
            flows_active: self.table.len() as u64,
            flows_peak: get(&c.flows_peak),
            flow_capacity: self.table.capacity() as u64,
            bindings: get(&c.bindings),
            bindings_dropped: get(&c.bindings_dropped),
            records: self.queue.pushed(),
            records_dropped: self.queue.dropped(),
            records_queued: (self.queue.len() + held) as u64,
            inspect_skipped: get(&c.inspect_skipped),
            inspect_memory: self.inspect_memory.load(Ordering::Relaxed) as u64,
            dns_cache_entries: self.dns_cache.len() as u64,
        }
    }
}
