//! Flows: the canonical key, the per-flow entry, and the bounded concurrent table that holds them.
//!
//! A flow is one TCP connection or UDP conversation, keyed by (protocol, lower endpoint, higher
//! endpoint) so both directions find the same entry; counts are kept per sending endpoint and turned
//! into up/down only when a record is made, after the strongest client evidence seen so far. The
//! table never holds more than its capacity: a new flow in a full table first evicts an old one.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_utils::CachePadded;

use dashmap::{DashMap, SharedValue};

use crate::context::{FlowContext, FlowTuple};
use crate::inspect::Inspector;
use crate::naming::FlowName;
use crate::packet::{tcp_flags, Transport};
use crate::record::{Reason, Verdict};

/// The seeded hasher of every table keyed by network data (flood resistance).
pub(crate) type SeededState = foldhash::fast::RandomState;

/// Canonical flow key: endpoint `a` is the lower (address, port), `b` the higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// TCP or UDP.
    pub transport: Transport,
    /// Lower endpoint address.
    pub a: IpAddr,
    /// Lower endpoint port.
    pub a_port: u16,
    /// Higher endpoint address.
    pub b: IpAddr,
    /// Higher endpoint port.
    pub b_port: u16,
}

/// Which endpoint of a [`FlowKey`] sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The lower endpoint, `a`.
    A = 0,
    /// The higher endpoint, `b`.
    B = 1,
}

impl Side {
    /// The other endpoint.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

impl FlowKey {
    /// The key of a packet from `src:src_port` to `dst:dst_port`, and the side that sent it.
    pub fn new(
        transport: Transport,
        src: IpAddr,
        src_port: u16,
        dst: IpAddr,
        dst_port: u16,
    ) -> (FlowKey, Side) {
        if (src, src_port) <= (dst, dst_port) {
            let key = FlowKey {
                transport,
                a: src,
                a_port: src_port,
                b: dst,
                b_port: dst_port,
            };
            (key, Side::A)
        } else {
            let key = FlowKey {
                transport,
                a: dst,
                a_port: dst_port,
                b: src,
                b_port: src_port,
            };
            (key, Side::B)
        }
    }

    /// The key of a sensor's 5-tuple, and the side its `src` is.
    pub fn from_tuple(tuple: &FlowTuple) -> (FlowKey, Side) {
        FlowKey::new(
            tuple.transport,
            tuple.src,
            tuple.src_port,
            tuple.dst,
            tuple.dst_port,
        )
    }

    /// The (address, port) of one side.
    pub fn endpoint(&self, side: Side) -> (IpAddr, u16) {
        match side {
            Side::A => (self.a, self.a_port),
            Side::B => (self.b, self.b_port),
        }
    }
}

/// How sure we are which side is the client; stronger evidence seen later wins (docs/ARCHITECTURE.md "Where each decision lives").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Evidence {
    /// Nothing seen yet.
    None = 0,
    /// The first packet's sender, corrected by the well-known-port rule.
    FirstPacket = 1,
    /// A server reply seen (ServerHello, HTTP response, DNS response): the receiver is the client.
    AppReply = 2,
    /// A client message seen (ClientHello, QUIC client Initial, HTTP request, DNS query).
    AppRequest = 3,
    /// A SYN+ACK: its receiver is the client.
    SynAck = 4,
    /// A SYN without ACK: its sender is the client.
    Syn = 5,
}

/// Ports on which a first packet's sender is taken to be the server: below 1024, and the
/// 443-family alternates.
pub(crate) fn is_server_port(port: u16) -> bool {
    port < 1024 || matches!(port, 4443 | 8080 | 8443 | 9443 | 10443)
}

const TCP_FIN_A: u8 = 0x01;
const TCP_FIN_B: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ENDED: u8 = 0x08;

/// One tracked flow. Kept small: naming results and inspection state are boxed and present only
/// when there is something to hold.
#[derive(Debug)]
pub(crate) struct FlowEntry {
    pub id: u64,
    pub first_seen: u64,
    pub last_seen: u64,
    /// Timestamp of the previous record, or of the first packet (active timeout).
    pub last_record: u64,
    pub ended_at: u64,
    /// Counts since the previous record, indexed by sending side.
    pub bytes: [u64; 2],
    pub packets: [u32; 2],
    pub client_side: Side,
    pub evidence: Evidence,
    tcp_state: u8,
    pub verdict: Verdict,
    /// No more inspection: named in-band, budget spent, or nothing to find.
    pub inspect_done: bool,
    /// The SYN sender's first payload sequence number (SYN seq + 1).
    pub syn_next_seq: Option<u32>,
    /// Shared with every flow of the same name (the engine interns it).
    pub name: Option<Arc<FlowName>>,
    pub context: Option<Arc<FlowContext>>,
    pub inspector: Option<Box<Inspector>>,
}

/// `size_of` the per-flow entry, for the size test and the benchmarks (the type is crate-private).
#[doc(hidden)]
pub const FLOW_ENTRY_SIZE: usize = std::mem::size_of::<FlowEntry>();

impl FlowEntry {
    pub fn new(id: u64, ts: u64) -> FlowEntry {
        FlowEntry {
            id,
            first_seen: ts,
            last_seen: ts,
            last_record: ts,
            ended_at: 0,
            bytes: [0; 2],
            packets: [0; 2],
            client_side: Side::A,
            evidence: Evidence::None,
            tcp_state: 0,
            verdict: Verdict::Allow,
            inspect_done: false,
            syn_next_seq: None,
            name: None,
            context: None,
            inspector: None,
        }
    }

    /// Count `packets` IP packets of `ip_len` bytes in all sent by `side` (more than one for a
    /// reassembled datagram). Time that goes backwards leaves `last_seen` alone.
    #[inline]
    pub fn count(&mut self, side: Side, ip_len: u32, packets: u32, ts: u64) {
        let i = side.index();
        self.bytes[i] += u64::from(ip_len);
        self.packets[i] = self.packets[i].saturating_add(packets);
        if ts > self.last_seen {
            self.last_seen = ts;
        }
        // A packet older than the one that created the flow (seen first by another thread).
        if ts < self.first_seen {
            self.first_seen = ts;
        }
    }

    /// Record client evidence: `client` is the side the evidence names as client.
    #[inline]
    pub fn evidence(&mut self, client: Side, strength: Evidence) {
        if strength > self.evidence {
            self.evidence = strength;
            self.client_side = client;
        }
    }

    /// Evidence from a flow's very first packet.
    pub fn first_packet(&mut self, sender: Side, src_port: u16, dst_port: u16) {
        let client = if is_server_port(src_port) && !is_server_port(dst_port) {
            sender.other()
        } else {
            sender
        };
        self.evidence(client, Evidence::FirstPacket);
    }

    /// Track TCP flags: client evidence from SYN / SYN+ACK, end of the connection on RST or FINs
    /// from both sides. The client's first payload sequence number comes from its SYN, or, when
    /// the SYN was not seen, from the SYN+ACK's acknowledgment (as Wireshark takes it), so a late
    /// retransmission of that SYN is known as one.
    #[inline]
    pub fn tcp(&mut self, sender: Side, flags: u8, seq: u32, ack: u32, ts: u64) {
        if flags & (tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST) == 0 {
            return;
        }
        if flags & tcp_flags::SYN != 0 {
            if flags & tcp_flags::ACK == 0 {
                self.evidence(sender, Evidence::Syn);
                self.syn_next_seq = Some(seq.wrapping_add(1));
            } else {
                self.evidence(sender.other(), Evidence::SynAck);
                if self.syn_next_seq.is_none() {
                    self.syn_next_seq = Some(ack);
                }
            }
        }
        if flags & tcp_flags::FIN != 0 {
            self.tcp_state |= match sender {
                Side::A => TCP_FIN_A,
                Side::B => TCP_FIN_B,
            };
        }
        if flags & tcp_flags::RST != 0 {
            self.tcp_state |= TCP_RST;
        }
        let fins = TCP_FIN_A | TCP_FIN_B;
        if self.tcp_state & TCP_ENDED == 0
            && (self.tcp_state & TCP_RST != 0 || self.tcp_state & fins == fins)
        {
            self.tcp_state |= TCP_ENDED;
            self.ended_at = ts;
        }
    }

    /// Whether losing this flow to eviction costs little: ended, long idle, or a flow of a few
    /// packets that is not blocked and is unnamed or was never answered (a flood's hellos and
    /// QUIC Initials name their flows, but no server answers them).
    fn cheap_to_evict(&self, now: u64) -> bool {
        self.ended()
            || now.saturating_sub(self.last_seen) >= CHEAP_IDLE_NS
            || (self.verdict == Verdict::Allow
                && self.packets[0].saturating_add(self.packets[1]) <= CHEAP_PACKETS
                && (self.name.is_none() || self.packets.contains(&0)))
    }

    /// The TCP connection has ended (RST, or FINs both ways) and only lingers.
    pub fn ended(&self) -> bool {
        self.tcp_state & TCP_ENDED != 0
    }

    /// How the ended connection ended.
    pub fn end_reason(&self) -> Reason {
        if self.tcp_state & TCP_RST != 0 {
            Reason::Rst
        } else {
            Reason::Fin
        }
    }

    /// Counts since the previous record as (bytes up, bytes down, packets up, packets down),
    /// oriented by the client side, and reset them.
    pub fn take_counts(&mut self, ts: u64) -> [u64; 4] {
        let c = self.client_side.index();
        let s = self.client_side.other().index();
        let out = [
            self.bytes[c],
            self.bytes[s],
            u64::from(self.packets[c]),
            u64::from(self.packets[s]),
        ];
        self.bytes = [0; 2];
        self.packets = [0; 2];
        self.last_record = ts.max(self.last_record);
        out
    }
}

/// The bounded flow table. Every method takes at most one map guard at a time and drops it before
/// touching anything else that could lock (an eviction-order shard, the map again); an
/// eviction-order shard may look into the map while it is locked, never the other way round.
///
/// No lock is global: the map is DashMap's sharded one, and the eviction order (creation order,
/// approximately least recently created first) is split into `order.len()` shards. A new flow goes
/// to the shard of its id, in runs of `ORDER_RUN` ids (ids count up, so the shards fill in turn and
/// the front of each holds flows about as old as the front of the others), and eviction takes the
/// shards in turn, in runs, each thread on its own cursor: the order is oldest first give or take
/// one round of the shards. No
/// packet pays for the size of the table: an eviction looks at a bounded number of entries, and
/// entries of flows that ended otherwise are cleaned a few at a time as new flows arrive.
pub(crate) struct FlowTable {
    /// Entries are boxed: a map slot is the key and a pointer (48 bytes), so the map's growth
    /// slack (up to twice its flows) costs 48 bytes a slot instead of 144.
    map: DashMap<FlowKey, Box<FlowEntry>, SeededState>,
    live: CachePadded<AtomicUsize>,
    capacity: usize,
    next_id: CachePadded<AtomicU64>,
    /// Creation order of flows for eviction, sharded by flow id; entries whose flow is gone are
    /// skipped lazily.
    order: Box<[CachePadded<Mutex<OrderShard>>]>,
    /// An order shard longer than this cleans two entries per new flow.
    order_clean_above: usize,
}

/// One shard of the eviction order: (hash of the key, flow id), oldest first. The hash and the
/// id find the entry in the map without a copy of its key (16 bytes a flow instead of 48).
type OrderShard = VecDeque<(u64, u64)>;

/// How many of the oldest flows eviction looks at for one that is cheap to lose.
const EVICTION_SCAN: usize = 64;
/// At most this many queue entries, live or not, are looked at by one eviction in one shard.
const EVICTION_STEPS: usize = 4 * EVICTION_SCAN;
/// A flow idle this long is cheap to evict, whatever it is.
const CHEAP_IDLE_NS: u64 = 10_000_000_000;
/// An unnamed flow of at most this many packets is cheap to evict (a flood's flows are 1 packet).
const CHEAP_PACKETS: u32 = 3;
/// Flows per eviction-order shard at full capacity, at least (fewer shards for small tables).
const FLOWS_PER_ORDER_SHARD: usize = 1024;
/// Consecutive flow ids go to one order shard, and consecutive evictions take from one, in runs
/// of this many: each shard's front and back stay in cache for a run instead of 64 streams of
/// one entry each.
const ORDER_RUN: usize = 32;
/// Where the next thread's eviction cursor starts: threads start runs apart.
static NEXT_EVICT_CURSOR: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's eviction cursor over the order shards (any table: only a position).
    static EVICT_CURSOR: std::cell::Cell<usize> =
        std::cell::Cell::new(NEXT_EVICT_CURSOR.fetch_add(ORDER_RUN * 17, Ordering::Relaxed));
}

/// Eviction-order shards at most.
const MAX_ORDER_SHARDS: usize = 64;

impl FlowTable {
    /// A table for `capacity` flows, with as many eviction-order shards as suit its size.
    pub fn new(capacity: usize) -> FlowTable {
        let shards = (capacity / FLOWS_PER_ORDER_SHARD).clamp(1, MAX_ORDER_SHARDS);
        FlowTable::with_order_shards(capacity, shards)
    }

    /// A table with `shards` eviction-order shards (rounded down to a power of two; 1 is one
    /// global eviction order, the layout up to 0.2.0, kept for the benches).
    pub fn with_order_shards(capacity: usize, shards: usize) -> FlowTable {
        let capacity = capacity.max(1);
        let shards = 1usize << shards.clamp(1, MAX_ORDER_SHARDS).ilog2();
        FlowTable {
            map: DashMap::with_capacity_and_hasher(capacity.min(1 << 16), SeededState::default()),
            live: CachePadded::new(AtomicUsize::new(0)),
            capacity,
            next_id: CachePadded::new(AtomicU64::new(1)),
            order: (0..shards)
                .map(|_| CachePadded::new(Mutex::new(VecDeque::new())))
                .collect(),
            order_clean_above: 2 * capacity.div_ceil(shards) + 16,
        }
    }

    /// The most flows the table holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Flows held now.
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether no flow is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A fresh flow id.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Run `f` on the entry of `key` if there is one; the guard is dropped before returning.
    #[inline]
    pub fn with_entry<R>(&self, key: &FlowKey, f: impl FnOnce(&mut FlowEntry) -> R) -> Option<R> {
        self.with_entry_hashed(key, self.hash_of(key), f)
    }

    /// [`FlowTable::with_entry`] with the key's [`FlowTable::hash_of`] known (the packet path
    /// hashes a key once for the lookup, the insert and the eviction order).
    #[inline]
    pub fn with_entry_hashed<R>(
        &self,
        key: &FlowKey,
        hash: u64,
        f: impl FnOnce(&mut FlowEntry) -> R,
    ) -> Option<R> {
        let mut shard = self.map.shards()[self.map_shard(hash)].write();
        let (_, entry) = shard.get_mut(hash, |(k, _)| k == key)?;
        Some(f(entry.get_mut()))
    }

    /// Take a slot for a new flow, evicting old flows (handed to `evicted`) while the table is full.
    pub fn reserve(&self, now: u64, evicted: &mut dyn FnMut(FlowKey, FlowEntry)) {
        loop {
            let live = self.live.load(Ordering::Relaxed);
            if live < self.capacity {
                if self
                    .live
                    .compare_exchange_weak(live, live + 1, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
                continue;
            }
            if let Some((key, entry)) = self.evict_one(now) {
                evicted(key, entry);
            } else {
                // The order shards hold every live flow, so this is only reached while another
                // thread is between reserving and inserting; let it finish.
                std::thread::yield_now();
            }
        }
    }

    /// Give back a slot taken by [`FlowTable::reserve`] that was not used.
    pub fn unreserve(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }

    /// Insert a new flow into a reserved slot and run `f(entry, true)` on it. If another thread
    /// inserted the key meanwhile, `f(existing, false)` runs on that entry instead (the new entry
    /// is dropped), the slot is given back and `Err` carries `f`'s result.
    pub fn insert_reserved<R>(
        &self,
        key: FlowKey,
        entry: FlowEntry,
        f: impl FnOnce(&mut FlowEntry, bool) -> R,
    ) -> Result<R, R> {
        self.insert_reserved_hashed(key, self.hash_of(&key), entry, f)
    }

    /// [`FlowTable::insert_reserved`] with the key's [`FlowTable::hash_of`] known.
    pub fn insert_reserved_hashed<R>(
        &self,
        key: FlowKey,
        hash: u64,
        entry: FlowEntry,
        f: impl FnOnce(&mut FlowEntry, bool) -> R,
    ) -> Result<R, R> {
        let id = entry.id;
        // One hash of the key for the map and the eviction order; the map shard's own table is
        // used directly (DashMap's entry API would hash it again).
        let mut shard = self.map.shards()[self.map_shard(hash)].write();
        let same = |(k, _): &(FlowKey, SharedValue<Box<FlowEntry>>)| *k == key;
        if let Some((_, existing)) = shard.get_mut(hash, same) {
            let r = f(existing.get_mut(), false);
            drop(shard);
            self.unreserve();
            return Err(r);
        }
        let hasher = self.map.hasher();
        let (_, slot) =
            shard.insert_entry(hash, (key, SharedValue::new(Box::new(entry))), |(k, _)| {
                std::hash::BuildHasher::hash_one(hasher, k)
            });
        let r = f(slot.get_mut(), true);
        drop(shard);
        self.remember_hashed(hash, id);
        Ok(r)
    }

    fn order_shard(&self, index: usize) -> MutexGuard<'_, OrderShard> {
        let shard = &self.order[index & (self.order.len() - 1)];
        shard.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The map's hash of `key` (what DashMap and its shards hash it to).
    pub fn hash_of(&self, key: &FlowKey) -> u64 {
        std::hash::BuildHasher::hash_one(self.map.hasher(), key)
    }

    /// Index of the map shard holding keys of hash `hash`.
    fn map_shard(&self, hash: u64) -> usize {
        self.map.determine_shard(hash as usize)
    }

    /// Run `f` on the flow `id` whose key hashes to `hash`, if it is still there.
    fn with_flow_id<R>(&self, hash: u64, id: u64, f: impl FnOnce(&FlowEntry) -> R) -> Option<R> {
        let shard = self.map.shards()[self.map_shard(hash)].read();
        let (_, entry) = shard.get(hash, |(_, e)| e.get().id == id)?;
        Some(f(entry.get()))
    }

    /// Remove the flow `id` whose key hashes to `hash`, if it is still there.
    fn remove_flow_id(&self, hash: u64, id: u64) -> Option<(FlowKey, FlowEntry)> {
        let mut shard = self.map.shards()[self.map_shard(hash)].write();
        let (key, entry) = shard.remove_entry(hash, |(_, e)| e.get().id == id)?;
        Some((key, *entry.into_inner()))
    }

    fn is_live(&self, hash: u64, id: u64) -> bool {
        self.with_flow_id(hash, id, |_| ()).is_some()
    }

    /// Note a flow (new, or a key reused by a new connection) in the eviction order, by its key's
    /// [`FlowTable::hash_of`] and its id.
    pub fn remember_hashed(&self, hash: u64, id: u64) {
        let mut order = self.order_shard(id as usize / ORDER_RUN);
        order.push_back((hash, id));
        // Entries of flows that ended otherwise pile up: past the bound, each new flow looks at
        // two from the front, dropping the stale and passing the live to the back. Two per one
        // added keeps the shard within about twice its live flows, at a constant cost per flow.
        if order.len() > self.order_clean_above {
            for _ in 0..2 {
                let Some((hash, id)) = order.pop_front() else {
                    break;
                };
                if self.is_live(hash, id) {
                    order.push_back((hash, id));
                }
            }
        }
    }

    /// Remove a flow to make room, from the order shards in turn (the first that has one).
    fn evict_one(&self, now: u64) -> Option<(FlowKey, FlowEntry)> {
        // Each thread walks the shards on its own cursor (no shared counter to bounce), starting
        // where the table's creation put it.
        let start = EVICT_CURSOR.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n
        }) / ORDER_RUN;
        (0..self.order.len()).find_map(|i| self.evict_from(start.wrapping_add(i), now))
    }

    /// Remove a flow of one order shard. From the oldest on, the first flow that is cheap to lose
    /// goes: one that has ended, one idle for `CHEAP_IDLE_NS`, or one of a few packets, unnamed or
    /// unanswered (what a flood of new 5-tuples is made of). Flows worth keeping (named and
    /// answered, blocked, busy) are moved to the back as they are passed. When none of the
    /// `EVICTION_SCAN` oldest is cheap, the least recently seen of them goes: oldest idle first.
    fn evict_from(&self, shard: usize, now: u64) -> Option<(FlowKey, FlowEntry)> {
        let mut order = self.order_shard(shard);
        let mut fallback: Option<(u64, u64, u64)> = None;
        let mut scanned = 0;
        for _ in 0..EVICTION_STEPS {
            if scanned == EVICTION_SCAN {
                break;
            }
            let Some((hash, id)) = order.pop_front() else {
                break;
            };
            // One lookup under one guard: a cheap flow is removed right there.
            let mut map = self.map.shards()[self.map_shard(hash)].write();
            let this = |(_, e): &(FlowKey, SharedValue<Box<FlowEntry>>)| e.get().id == id;
            let Some((_, entry)) = map.get(hash, this) else {
                continue; // that flow already ended
            };
            let (cheap, last_seen) = (entry.get().cheap_to_evict(now), entry.get().last_seen);
            scanned += 1;
            if cheap {
                let (key, entry) = map.remove_entry(hash, this)?;
                drop(map);
                self.live.fetch_sub(1, Ordering::AcqRel);
                return Some((key, *entry.into_inner()));
            }
            drop(map);
            if fallback.is_none_or(|(seen, _, _)| last_seen < seen) {
                fallback = Some((last_seen, hash, id));
            }
            order.push_back((hash, id));
        }
        // The fallback's queue entry stays behind; it is skipped as stale once the flow is gone.
        let (_, hash, id) = fallback?;
        let removed = self.remove_flow_id(hash, id)?;
        self.live.fetch_sub(1, Ordering::AcqRel);
        Some(removed)
    }

    /// Remove one flow.
    pub fn remove(&self, key: &FlowKey) -> Option<FlowEntry> {
        let (_, entry) = self.map.remove(key)?;
        self.live.fetch_sub(1, Ordering::AcqRel);
        Some(*entry)
    }

    /// Remove every flow, handing each to `removed` (used by flush): each shard emptied at once
    /// under its lock, without looking each key up again as [`FlowTable::drain_where`] does.
    pub fn drain_all(&self, removed: &mut dyn FnMut(FlowKey, FlowEntry)) {
        for shard in self.map.shards() {
            // Taken under the lock, handed out after: `removed` may call back into the engine.
            let taken: Vec<_> = shard.write().drain().collect();
            self.live.fetch_sub(taken.len(), Ordering::AcqRel);
            for (key, entry) in taken {
                removed(key, *entry.into_inner());
            }
        }
    }

    /// Remove every flow for which `f` says so, handing it to `removed` (used by tick).
    pub fn drain_where(
        &self,
        mut f: impl FnMut(&FlowKey, &mut FlowEntry) -> Option<Reason>,
        removed: &mut dyn FnMut(FlowKey, FlowEntry, Reason),
    ) {
        // Collect under each shard lock, hand out after: `removed` may call back into the engine.
        let mut out: Vec<(FlowKey, Reason)> = Vec::new();
        for mut item in self.map.iter_mut() {
            let (key, entry) = item.pair_mut();
            if let Some(reason) = f(key, entry) {
                out.push((*key, reason));
            }
        }
        for (key, reason) in out {
            if let Some((key, entry)) = self.map.remove(&key) {
                self.live.fetch_sub(1, Ordering::AcqRel);
                removed(key, *entry, reason);
            }
        }
    }

    /// Visit every flow (active timeout updates); the visitor must not call into the table.
    pub fn for_each_mut(&self, mut f: impl FnMut(&FlowKey, &mut FlowEntry)) {
        for mut item in self.map.iter_mut() {
            let (key, entry) = item.pair_mut();
            f(key, entry);
        }
    }
}

/// The new-flow path of the table alone, for the benches (`internal::flow`): no stability promise.
#[doc(hidden)]
pub struct TableBench(FlowTable);

impl TableBench {
    /// A table for `capacity` flows with `shards` eviction-order shards (0: the default for the
    /// capacity; 1: one global eviction order, as up to 0.2.0).
    pub fn new(capacity: usize, shards: usize) -> TableBench {
        TableBench(match shards {
            0 => FlowTable::new(capacity),
            n => FlowTable::with_order_shards(capacity, n),
        })
    }

    /// Create the flow `key` as the engine does (reserve a slot, evicting while full, insert, note
    /// it in the eviction order); returns how many flows were evicted for it.
    pub fn new_flow(&self, key: FlowKey, ts: u64) -> usize {
        let mut evicted = 0;
        self.0.reserve(ts, &mut |_, _| evicted += 1);
        let entry = FlowEntry::new(self.0.next_id(), ts);
        // A key created twice is a packet of a known flow: nothing to do for it here.
        let _ = self.0.insert_reserved(key, entry, |_, _| ());
        evicted
    }

    /// Flows held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no flow is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn key_is_canonical_both_ways() {
        let (k1, s1) = FlowKey::new(Transport::Tcp, ip("10.0.0.2"), 50000, ip("10.0.0.1"), 443);
        let (k2, s2) = FlowKey::new(Transport::Tcp, ip("10.0.0.1"), 443, ip("10.0.0.2"), 50000);
        assert_eq!(k1, k2);
        assert_eq!(s1, Side::B);
        assert_eq!(s2, Side::A);
        assert_eq!(k1.endpoint(Side::A), (ip("10.0.0.1"), 443));
    }

    #[test]
    fn stronger_evidence_wins_and_weaker_does_not() {
        let mut e = FlowEntry::new(1, 0);
        e.first_packet(Side::B, 443, 50000);
        assert_eq!(
            e.client_side,
            Side::A,
            "port rule: sender from 443 is the server"
        );
        e.tcp(Side::B, tcp_flags::SYN, 0, 0, 1);
        assert_eq!(e.client_side, Side::B);
        e.tcp(Side::B, tcp_flags::SYN | tcp_flags::ACK, 0, 0, 2);
        assert_eq!(e.client_side, Side::B, "a SYN-ACK does not override a SYN");
    }

    #[test]
    fn fins_from_both_sides_or_rst_end_the_connection() {
        let mut e = FlowEntry::new(1, 0);
        e.tcp(Side::A, tcp_flags::FIN | tcp_flags::ACK, 0, 0, 5);
        assert!(!e.ended());
        e.tcp(Side::A, tcp_flags::FIN | tcp_flags::ACK, 0, 0, 6);
        assert!(
            !e.ended(),
            "a retransmitted FIN from one side does not end it"
        );
        e.tcp(Side::B, tcp_flags::FIN | tcp_flags::ACK, 0, 0, 7);
        assert!(e.ended());
        assert_eq!(e.ended_at, 7);
        assert_eq!(e.end_reason(), Reason::Fin);

        let mut r = FlowEntry::new(2, 0);
        r.tcp(Side::B, tcp_flags::RST, 0, 0, 9);
        assert!(r.ended());
        assert_eq!(r.end_reason(), Reason::Rst);
    }

    #[test]
    fn table_never_exceeds_capacity() {
        let table = FlowTable::new(16);
        let mut evicted = 0;
        for i in 0..1000u32 {
            let (key, _) = FlowKey::new(
                Transport::Udp,
                IpAddr::from(i.to_be_bytes()),
                1,
                ip("1.1.1.1"),
                2,
            );
            table.reserve(u64::from(i) * 2_000_000_000, &mut |_, _| evicted += 1);
            let entry = FlowEntry::new(table.next_id(), u64::from(i));
            assert!(table.insert_reserved(key, entry, |_, _| ()).is_ok());
            assert!(table.len() <= 16);
        }
        assert_eq!(evicted, 1000 - 16);
        assert_eq!(table.map.len(), 16);
    }

    fn udp_key(i: u32) -> FlowKey {
        FlowKey::new(
            Transport::Udp,
            IpAddr::from(i.to_be_bytes()),
            1,
            ip("1.1.1.1"),
            2,
        )
        .0
    }

    fn add(table: &FlowTable, i: u32, ts: u64) -> usize {
        let mut evicted = 0;
        table.reserve(ts, &mut |_, _| evicted += 1);
        let entry = FlowEntry::new(table.next_id(), ts);
        assert!(table.insert_reserved(udp_key(i), entry, |_, _| ()).is_ok());
        evicted
    }

    #[test]
    fn a_sharded_table_evicts_the_oldest_flows_first() {
        // From threads whose eviction cursors start at different shards.
        for _ in 0..3 {
            std::thread::spawn(oldest_flows_go_first).join().unwrap();
        }
    }

    fn oldest_flows_go_first() {
        let table = FlowTable::new(8192);
        assert_eq!(table.order.len(), 8);
        let mut evicted = 0;
        for i in 0..20_000u32 {
            evicted += add(&table, i, 1_000 + u64::from(i));
            assert!(table.len() <= 8192);
        }
        assert_eq!(evicted, 20_000 - 8192);
        assert_eq!(table.map.len(), 8192);
        // Ids go over the shards in runs and eviction takes the shards in turn, in runs: the
        // flows kept are the newest, give or take one round of the shards (each thread's cursor
        // starts at its own shard).
        let round = (table.order.len() * ORDER_RUN) as u32;
        for i in 1..20_000 - 8192 - round {
            assert!(
                !table.map.contains_key(&udp_key(i)),
                "old flow {i} was kept"
            );
        }
        for i in 20_000 - 8192 + round..20_000u32 {
            assert!(table.map.contains_key(&udp_key(i)), "flow {i} was evicted");
        }
    }

    #[test]
    fn unnamed_or_unanswered_flows_of_a_few_packets_are_cheap_to_evict() {
        let flow = |named: bool, packets: [u32; 2], verdict: Verdict| {
            let mut e = FlowEntry::new(1, 1_000);
            e.packets = packets;
            e.verdict = verdict;
            if named {
                e.name = Some(Arc::new(crate::naming::FlowName {
                    server_name: Some("www.example.com".into()),
                    ..Default::default()
                }));
            }
            e.cheap_to_evict(2_000)
        };
        // What floods are made of: a new 5-tuple, a hello or Initial nobody answered.
        assert!(flow(false, [1, 0], Verdict::Allow));
        assert!(flow(false, [2, 1], Verdict::Allow));
        assert!(flow(true, [1, 0], Verdict::Allow));
        assert!(flow(true, [0, 3], Verdict::Allow));
        // Worth keeping: named and answered, blocked, more packets.
        assert!(!flow(true, [1, 1], Verdict::Allow));
        assert!(!flow(true, [1, 0], Verdict::Block));
        assert!(!flow(false, [1, 0], Verdict::Monitor));
        assert!(!flow(false, [4, 0], Verdict::Allow));
        assert!(!flow(true, [4, 0], Verdict::Allow));
    }

    #[test]
    fn drain_all_empties_the_table_and_it_fills_again() {
        let table = FlowTable::new(4096);
        for i in 0..3000u32 {
            add(&table, i, 1);
        }
        let mut seen = std::collections::HashSet::new();
        table.drain_all(&mut |key, _| assert!(seen.insert(key)));
        assert_eq!((seen.len(), table.len(), table.map.len()), (3000, 0, 0));
        // The stale order entries left behind are skipped: a full table evicts live flows only.
        let mut evicted = 0;
        for i in 10_000..10_000 + 5000u32 {
            evicted += add(&table, i, 2);
        }
        assert_eq!((table.len(), evicted), (4096, 5000 - 4096));
    }

    #[test]
    fn entries_of_ended_flows_do_not_pile_up_in_the_eviction_order() {
        let table = FlowTable::new(4096);
        let shards = table.order.len();
        // 500 long-lived flows, then a million short ones that each end (removed) right away.
        for i in 0..500u32 {
            add(&table, i, 1);
        }
        for i in 500..1_000_000u32 {
            assert_eq!(add(&table, i, 2), 0);
            assert!(table.remove(&udp_key(i)).is_some());
        }
        assert_eq!(table.len(), 500);
        let queued: usize = (0..shards).map(|s| table.order_shard(s).len()).sum();
        assert!(
            queued <= shards * (table.order_clean_above + 1),
            "{queued} entries queued for 500 flows"
        );
        // The long-lived flows are all still in the order, so eviction can find them.
        let mut live = 0;
        for s in 0..shards {
            live += table
                .order_shard(s)
                .iter()
                .filter(|(hash, id)| table.is_live(*hash, *id))
                .count();
        }
        assert_eq!(live, 500);
    }

    #[test]
    fn one_eviction_looks_at_a_bounded_number_of_entries() {
        // One shard whose front is all stale entries: one eviction stops after EVICTION_STEPS
        // of them and the next shard (none here) or a later eviction goes on.
        let table = FlowTable::with_order_shards(100_000, 1);
        for i in 0..10_000u32 {
            add(&table, i, 1);
            table.remove(&udp_key(i));
        }
        add(&table, 10_000_000, 1);
        let before = table.order_shard(0).len();
        assert!(table.evict_one(2).is_none());
        assert_eq!(before - table.order_shard(0).len(), EVICTION_STEPS);
    }

    #[test]
    fn threads_creating_flows_at_once_keep_the_bound_and_the_count() {
        let table = FlowTable::new(4096);
        let evicted = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let (table, evicted) = (&table, &evicted);
                s.spawn(move || {
                    for i in 0..25_000u32 {
                        let n = add(table, t << 24 | i, 1 + u64::from(i));
                        evicted.fetch_add(n, Ordering::Relaxed);
                        assert!(table.len() <= 4096);
                    }
                });
            }
        });
        assert_eq!(table.len(), 4096);
        assert_eq!(table.map.len(), 4096);
        assert_eq!(evicted.into_inner(), 100_000 - 4096);
    }
}
