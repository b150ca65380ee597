//! The engine's counters and their snapshot.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use super::Engine;

/// Counters since the engine was created (and two gauges: `flows_active`, `records_queued`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames given to the engine.
    pub packets: u64,
    /// IP bytes of the frames that parsed as IP (of the inner packet for a tunnelled frame).
    pub ip_bytes: u64,
    /// Frames whose link-layer header was cut short.
    pub drop_link_truncated: u64,
    /// Frames that were not IP (ARP, LLDP, PPPoE discovery, PPP control protocols ...).
    pub drop_not_ip: u64,
    /// Frames with a malformed or truncated IP header.
    pub drop_ip_malformed: u64,
    /// IP packets of other protocols than TCP and UDP (ICMP ...).
    pub drop_other_protocol: u64,
    /// TCP or UDP headers cut short before their ports (a TCP header with a bogus data offset
    /// counts toward its ports' flow instead).
    pub drop_transport_malformed: u64,
    /// IP fragments of TCP and UDP datagrams taken in (the first ones included).
    pub fragments: u64,
    /// IP fragments counted in no flow: their datagram never became whole (timed out, or still
    /// incomplete at a flush), or was dropped (overlapping, over budget) without a first fragment
    /// holding its transport header.
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
    /// Server names (SNI, HTTP Host, or a DNS name naming a flow) that held bytes shown escaped
    /// as `\xHH` (NUL, control characters, space, backslash, bidirectional formatting, bytes
    /// that are not UTF-8), counted each time a flow is named with one.
    pub names_escaped: u64,
    /// Server names longer than 253 bytes, cut to their rightmost labels (counted like
    /// `names_escaped`).
    pub names_cut: u64,
    /// Packets and bindings whose context strings were not valid UTF-8 and were decoded with
    /// U+FFFD replacement ([`ContextRef::lossy`](crate::ContextRef::lossy)).
    pub context_lossy: u64,
    /// Contexts taken with a process path over [`MAX_PROCESS_PATH`](crate::MAX_PROCESS_PATH) or a
    /// user name or id over [`MAX_USER_FIELD`](crate::MAX_USER_FIELD) bytes, kept cut.
    pub context_cut: u64,
    /// Distinct process contexts held by the engine's interner now (flows with identical context
    /// share one copy; at most 4096 contexts and 4 MiB of strings, then it starts over).
    pub contexts_interned: u64,
    /// Fragmented IP datagrams reassembled and inspected whole.
    pub defrag_reassembled: u64,
    /// Fragmented datagrams given up incomplete after `defrag_timeout_ns` (their fragments still
    /// count toward their flow when the first one was seen).
    pub defrag_timed_out: u64,
    /// Fragmented datagrams dropped for overlapping fragments (any overlap in IPv6, RFC 5722;
    /// disagreeing bytes in IPv4) or malformed ones (past 65,535 bytes, misaligned, ends that
    /// disagree).
    pub defrag_overlap_dropped: u64,
    /// Fragmented datagrams given up for the reassembly bounds (`max_fragments`,
    /// `max_defrag_bytes`, 1024 fragments per datagram).
    pub defrag_over_budget: u64,
    /// Bytes held by datagrams being reassembled now.
    pub defrag_memory: u64,
    /// ClientHello ALPN lists longer than 8 protocols or 128 bytes, kept cut to the protocols
    /// that fit (counted each time a flow is named with one).
    pub alpn_cut: u64,
    /// Bytes the records in the queue cost now (bounded by `Config::max_queue_bytes`).
    pub records_queued_bytes: u64,
    /// Usage rows emitted (their window closed).
    pub usage_rows: u64,
    /// Records folded into a window's overflow row because the window had `max_usage_rows` rows.
    pub usage_rows_folded: u64,
    /// Usage rows dropped undrained (more than four windows' worth waiting).
    pub usage_rows_dropped: u64,
    /// Frames whose tunnel or encapsulation header (PPPoE, PPP, NFLOG, GRE, MPLS, GTP-U, the
    /// Ethernet frame inside VXLAN or GRE) was malformed, unsupported or cut short.
    pub drop_encap_malformed: u64,
    /// Frames with more than [`MAX_ENCAP_DEPTH`](crate::MAX_ENCAP_DEPTH) encapsulation
    /// layers.
    pub drop_encap_too_deep: u64,
    /// TLS hellos or HTTP request headers whose bytes came twice with different values
    /// (overlapping segments, a decoy before or after the real one), read both ways: the
    /// stricter verdict holds.
    pub hellos_reread: u64,
}

/// Stripes of the per-packet counters: a thread bumps its own stripe, on its own cache line.
const STRIPES: usize = 16;

/// Frames and IP bytes, bumped on every packet: striped so that threads feeding one engine do not
/// bounce one cache line between their cores; a snapshot sums the stripes.
#[derive(Default)]
pub(super) struct PacketCounters {
    stripes: [CachePadded<(AtomicU64, AtomicU64)>; STRIPES],
}

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's stripe, handed out round robin as threads first count a packet.
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
}

impl PacketCounters {
    /// One frame given to the engine.
    #[inline]
    pub fn frame(&self) -> &AtomicU64 {
        &self.stripe().0
    }

    /// IP bytes of a frame that parsed as IP.
    #[inline]
    pub fn ip_bytes(&self) -> &AtomicU64 {
        &self.stripe().1
    }

    #[inline]
    fn stripe(&self) -> &(AtomicU64, AtomicU64) {
        // A thread being torn down has no stripe of its own any more: it shares the first.
        let i = STRIPE.try_with(|i| *i).unwrap_or(0);
        &self.stripes[i]
    }

    /// (frames, IP bytes) over all stripes.
    pub fn sum(&self) -> (u64, u64) {
        self.stripes.iter().fold((0, 0), |(f, b), s| {
            (
                f + s.0.load(Ordering::Relaxed),
                b + s.1.load(Ordering::Relaxed),
            )
        })
    }
}

#[derive(Default)]
pub(super) struct Counters {
    pub per_packet: PacketCounters,
    pub drop_link_truncated: AtomicU64,
    pub drop_not_ip: AtomicU64,
    pub drop_ip_malformed: AtomicU64,
    pub drop_other_protocol: AtomicU64,
    pub drop_transport_malformed: AtomicU64,
    pub fragments: AtomicU64,
    pub fragments_orphaned: AtomicU64,
    pub flows_created: AtomicU64,
    pub flows_evicted: AtomicU64,
    pub flows_peak: AtomicU64,
    pub bindings: AtomicU64,
    pub bindings_dropped: AtomicU64,
    pub inspect_skipped: AtomicU64,
    pub names_escaped: AtomicU64,
    pub names_cut: AtomicU64,
    pub context_lossy: AtomicU64,
    pub context_cut: AtomicU64,
    pub defrag_reassembled: AtomicU64,
    pub defrag_timed_out: AtomicU64,
    pub defrag_overlap_dropped: AtomicU64,
    pub defrag_over_budget: AtomicU64,
    pub alpn_cut: AtomicU64,
    pub drop_encap_malformed: AtomicU64,
    pub drop_encap_too_deep: AtomicU64,
    pub hellos_reread: AtomicU64,
}

pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Engine {
    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        // Never the `held` lock: stats may be read from inside a drain's callback.
        let held = self.held_len.load(Ordering::Relaxed);
        // The usage lock is never held while a caller's callback runs.
        let usage = self.usage.lock().unwrap_or_else(|e| e.into_inner()).counts;
        let (packets, ip_bytes) = c.per_packet.sum();
        Stats {
            packets,
            ip_bytes,
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
            names_escaped: get(&c.names_escaped),
            names_cut: get(&c.names_cut),
            context_lossy: get(&c.context_lossy),
            context_cut: get(&c.context_cut),
            contexts_interned: self.contexts.len() as u64,
            defrag_reassembled: get(&c.defrag_reassembled),
            defrag_timed_out: get(&c.defrag_timed_out),
            defrag_overlap_dropped: get(&c.defrag_overlap_dropped),
            defrag_over_budget: get(&c.defrag_over_budget),
            defrag_memory: self.defrag.memory() as u64,
            alpn_cut: get(&c.alpn_cut),
            records_queued_bytes: self.queue.bytes() as u64,
            usage_rows: usage.emitted,
            usage_rows_folded: usage.folded,
            usage_rows_dropped: usage.dropped,
            drop_encap_malformed: get(&c.drop_encap_malformed),
            drop_encap_too_deep: get(&c.drop_encap_too_deep),
            hellos_reread: get(&c.hellos_reread),
        }
    }
}
