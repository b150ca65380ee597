//! The engine: one shared object that takes packets and context from any thread and produces
//! activity records for the sensor to drain. It orchestrates the stages (packet, flow, inspect,
//! naming, record, output) and holds no rule of its own beyond the flow lifecycle:
//!
//! - `path`: the packet path (a frame in, a verdict out) and inspection;
//! - `stream`: stream input (open, data, close) for sensors that see reassembled streams;
//! - `bind`: process and user context bound to a 5-tuple;
//! - `drain`: time (tick), flush, and draining records (as values or encoded);
//! - `config` and `stats`: configuration, errors, counters.
//!
//! Every method takes `&self` and is safe to call from many threads at once; the packet path never
//! blocks on the drain side and never allocates for a packet of a known flow. Time is the caller's:
//! the engine never reads a clock (docs/ARCHITECTURE.md "Contracts").

mod bind;
mod config;
mod drain;
mod intern;
mod path;
mod stats;
mod stream;

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;

use crate::catalog::Catalog;
use crate::community_id::community_id;
use crate::context::{Device, FlowContext};
use crate::defrag::Defrag;
use crate::flow::{FlowEntry, FlowKey, FlowTable, SeededState};
use crate::inspect::dns;
use crate::naming::FlowName;
use crate::naming::LoadedCatalog;
use crate::output::RecordQueue;
use crate::policy::{Policy, Sanction};
use crate::record::{ActivityRecord, Event, Reason, SCHEMA_VERSION};
use crate::usage::UsageTable;

pub use config::{Config, Error, BYTES_PER_FLOW};
pub use stats::Stats;
pub use stream::StreamDirection;

use stats::Counters;

// One engine serves every thread (docs/ARCHITECTURE.md "Threading model").
const _: fn() = || {
    fn assert<T: Send + Sync>() {}
    assert::<Engine>();
};

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

/// The cloud-discovery engine. Share it between threads with `Arc` (or by reference).
pub struct Engine {
    config: Config,
    table: FlowTable,
    defrag: Defrag,
    pending: DashMap<FlowKey, (Arc<FlowContext>, u64), SeededState>,
    pending_len: AtomicUsize,
    queue: RecordQueue,
    /// Records taken off the queue by a drain that could not deliver them yet (a full caller
    /// buffer); the next drain starts with them, so nothing is lost.
    held: Mutex<VecDeque<Box<ActivityRecord>>>,
    /// How many records `held` holds, stored under its lock and read without it (by `stats` and
    /// by drains finding nothing held).
    held_len: AtomicUsize,
    counters: Counters,
    dns_cache: dns::DnsCache,
    /// Process contexts shared between flows.
    contexts: intern::Interner<crate::context::FlowContext>,
    names: intern::Interner<crate::naming::FlowName>,
    inspect_memory: Arc<AtomicUsize>,
    catalog: RwLock<Arc<LoadedCatalog>>,
    /// Serializes catalog changes (swap, extend, the app check of a sanction) without holding the
    /// `catalog` lock while a new catalog is built, so readers on the packet path never wait.
    catalog_writer: Mutex<()>,
    policy: RwLock<Arc<Policy>>,
    /// The configured device, shared by every record.
    device: Arc<Device>,
    /// Usage aggregation (README "Usage reports"). Locked only when a record is made, by tick,
    /// flush, the usage drains and stats, never on a named flow's packet: records are rare
    /// compared to packets. Nothing else is locked while it is held.
    usage: Mutex<UsageTable>,
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
            defrag: Defrag::new(
                config.max_fragments,
                config.max_defrag_bytes,
                config.defrag_timeout_ns,
            ),
            pending: DashMap::with_hasher(SeededState::default()),
            pending_len: AtomicUsize::new(0),
            queue: RecordQueue::new(config.queue_capacity, config.max_queue_bytes),
            held: Mutex::new(VecDeque::new()),
            held_len: AtomicUsize::new(0),
            counters: Counters::default(),
            dns_cache: dns::DnsCache::new(
                config.dns_cache_entries,
                config.dns_ttl_floor_s,
                config.dns_ttl_ceiling_s,
            ),
            inspect_memory: Arc::new(AtomicUsize::new(0)),
            contexts: intern::Interner::default(),
            names: intern::Interner::default(),
            catalog: RwLock::new(LoadedCatalog::embedded()),
            catalog_writer: Mutex::new(()),
            policy: RwLock::new(Arc::new(Policy::new())),
            device: Arc::new(config.device.clone()),
            usage: Mutex::new(UsageTable::new(
                config.usage_window_ns,
                config.max_usage_rows,
                config
                    .tcp_idle_timeout_ns
                    .max(config.udp_idle_timeout_ns)
                    .saturating_add(config.tcp_linger_ns),
            )),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
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
        let _writer = self
            .catalog_writer
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.store_catalog(catalog);
    }

    /// Overlay `more` on the catalog in force ([`Catalog::extend`]: its apps replace apps with the
    /// same id, its names win). Atomic with respect to other catalog changes: two concurrent
    /// extends both take effect, and a concurrent [`set_catalog`](Engine::set_catalog) comes
    /// wholly before or after. Packets keep flowing; flows already named keep their app.
    pub fn extend_catalog(&self, more: &Catalog) {
        let _writer = self
            .catalog_writer
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let extended = self.catalog().extend(more);
        self.store_catalog(extended);
    }

    /// Store a new catalog; the caller holds `catalog_writer`.
    fn store_catalog(&self, catalog: Catalog) {
        let loaded = Arc::new(LoadedCatalog::new(Arc::new(catalog)));
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = loaded;
    }

    /// Sanction an app by catalog id, for flows named from now on. [`Error::UnknownApp`] (and the
    /// policy unchanged) when the catalog in force has no app `app_id`; the check and the change
    /// are atomic with respect to catalog changes.
    pub fn set_app_sanction(&self, app_id: &str, sanction: Sanction) -> Result<(), Error> {
        let _writer = self
            .catalog_writer
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.catalog().app(app_id).is_none() {
            return Err(Error::UnknownApp);
        }
        self.update_policy(|p| p.set_app(app_id, sanction));
        Ok(())
    }

    /// Name the organisation's own instances of an app and the sanction of its other instances,
    /// for flows named from now on ([`Policy::set_app_instances`]): `fabrikam.sharepoint.com` is
    /// blocked from its first named packet while `contoso.sharepoint.com` is allowed.
    /// [`Error::UnknownApp`] (and the policy unchanged) when the catalog in force has no app
    /// `app_id`.
    pub fn set_app_instances<S: AsRef<str>>(
        &self,
        app_id: &str,
        own: &[S],
        others: Sanction,
    ) -> Result<(), Error> {
        let _writer = self
            .catalog_writer
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.catalog().app(app_id).is_none() {
            return Err(Error::UnknownApp);
        }
        self.update_policy(|p| p.set_app_instances(app_id, own, others));
        Ok(())
    }

    /// Sanction a registrable domain (case and one trailing dot ignored) for flows named from now
    /// on whose app has no rule of its own, unknown names included ([`Policy::set_domain`]).
    pub fn set_domain_sanction(&self, domain: &str, sanction: Sanction) {
        self.update_policy(|p| p.set_domain(domain, sanction));
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

    /// Make a record of `e` and reset its counts; the record is folded into usage (every record
    /// the engine makes goes through here).
    pub(super) fn record(
        &self,
        key: &FlowKey,
        e: &mut FlowEntry,
        event: Event,
        reason: Option<Reason>,
    ) -> ActivityRecord {
        let record = self.make_record(key, e, event, reason);
        if self.config.usage_window_ns != 0 {
            let sanction = self
                .policy
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .sanction(
                    record.app.as_ref().map(|a| a.id.as_str()),
                    record.registrable_domain.as_deref(),
                    record.instance.as_deref(),
                );
            self.usage
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .add(&record, sanction);
        }
        record
    }

    fn make_record(
        &self,
        key: &FlowKey,
        e: &mut FlowEntry,
        event: Event,
        reason: Option<Reason>,
    ) -> ActivityRecord {
        let [bytes_up, bytes_down, packets_up, packets_down] = e.take_counts(e.last_seen);
        let client = key.endpoint(e.client_side);
        let server = key.endpoint(e.client_side.other());
        let name = e.name.as_deref();
        let context = e.context.as_deref();
        ActivityRecord {
            schema: SCHEMA_VERSION,
            flow_id: e.id,
            community_id: if self.config.skip_community_id {
                String::new()
            } else {
                community_id(
                    self.config.community_id_seed,
                    key.transport as u8,
                    client,
                    server,
                )
            },
            event,
            reason,
            first_seen_ns: e.first_seen,
            last_seen_ns: e.last_seen,
            protocol: key.transport,
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
            process: context.and_then(FlowContext::process),
            user: context.and_then(FlowContext::user),
            instance: name.and_then(|n| n.instance().map(str::to_owned)),
        }
    }
}
