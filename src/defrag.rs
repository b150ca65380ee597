//! IP fragment reassembly (IPv4, RFC 791 §3.2; IPv6, RFC 8200 §4.5) before inspection.
//!
//! Every fragment of a TCP or UDP datagram, the first one included, is held here until the
//! datagram is whole, in any arrival order; the whole datagram then goes through the packet path
//! as one packet that counts the sum of its fragments' IP lengths in as many packets as it had
//! fragments. A datagram given up (timed out, overlapping, over budget) is handed back with its
//! counts and, when its first fragment held the whole transport header, that header, so the
//! engine can count its fragments toward their flow exactly once: it does for a datagram dropped
//! by a policy below, and counts those of one that never became whole (timed out, or pending at a
//! flush) as orphans, as the receiver discards them and Wireshark leaves them undissected.
//!
//! Policies:
//! - **Overlap.** A fragment whose bytes are all already held, identical, is a duplicate: it counts
//!   and is otherwise ignored (RFC 8200 §4.5 allows this for IPv6). Any other overlap drops the
//!   whole datagram for IPv6 (RFC 5722). For IPv4 an overlap whose bytes agree with what is held
//!   is merged; one that disagrees drops the whole datagram (as Linux since 4.19 and Windows do,
//!   so no first-wins/last-wins ambiguity can show the sensor another payload than the server).
//!   The fragments that follow a dropped datagram are dropped too, until its timeout, and still
//!   count toward its flow when its first fragment was seen.
//! - **Malformed.** Data past 65,535 bytes (ping of death), a non-last fragment whose length is
//!   not a multiple of 8, two last fragments that disagree, or data past the end the last fragment
//!   set: the datagram is dropped like an overlap. Offsets are unsigned and every range is checked,
//!   so Teardrop-style fragments (one inside another, ends before starts) cannot panic.
//! - **Bounds.** At most [`MAX_DATAGRAM`] bytes and [`MAX_FRAGMENTS_PER_DATAGRAM`] fragments per
//!   datagram; `max_fragments` datagrams and `max_defrag_bytes` bytes in all, split evenly across
//!   shards. A new datagram in a full shard evicts that shard's oldest; a datagram that cannot
//!   grow within its shard's bytes is dropped. Both are counted as over budget.
//! - **Time.** A datagram not whole `defrag_timeout_ns` after its first fragment arrived (caller's
//!   timestamps) is given up at the next fragment into its shard or the next `tick`.
//!
//! The shards (by seeded hash of the datagram id) each have their own lock; no lock is held while
//! the engine uses what comes out.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::flow::SeededState;
use crate::packet::{Fragment, FragmentId};

/// Largest datagram payload reassembled: the IPv4 Total Length and IPv6 Payload Length fields
/// are 16 bits.
pub const MAX_DATAGRAM: u32 = 65_535;
/// Most fragments one datagram may have (8-byte fragments of an 8 KiB payload).
pub const MAX_FRAGMENTS_PER_DATAGRAM: u32 = 1024;
/// Most shards; each has its own lock, datagram bound and byte bound.
const MAX_SHARDS: usize = 16;
/// A shard's byte bound is at least this much when the total allows (two whole datagrams).
const MIN_SHARD_BYTES: usize = 128 << 10;
/// Bytes charged for a datagram besides its buffers (map slot, order entry, header).
const DATAGRAM_OVERHEAD: usize = 128;
/// Bytes of a given-up datagram's start kept to read its transport header (TCP's longest).
const HEAD: usize = 60;

/// Why a datagram was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// Not whole within the timeout.
    TimedOut,
    /// Overlapping or malformed fragments (see the module's policies).
    Overlap,
    /// Evicted from a full shard, or past a per-datagram or byte bound.
    OverBudget,
    /// A fragment of a datagram dropped before (counts only; already counted once as a give-up).
    AfterDrop,
    /// Handed back by a flush.
    Flushed,
}

/// A datagram given up, with what it still counts.
#[derive(Debug)]
pub(crate) struct GivenUp {
    pub id: FragmentId,
    pub why: GiveUp,
    /// The start of the datagram's payload, when its first fragment arrived (up to 60 bytes).
    pub head: Vec<u8>,
    /// Sum of the IP lengths of its fragments not counted yet.
    pub ip_bytes: u64,
    /// Its fragments not counted yet.
    pub fragments: u32,
    /// Timestamp of its last fragment.
    pub last_ts: u64,
}

/// A whole datagram.
#[derive(Debug)]
pub(crate) struct Whole {
    pub id: FragmentId,
    /// The datagram's payload (transport header first); cut where a fragment was cut by the
    /// capture's snaplen.
    pub data: Vec<u8>,
    pub ip_bytes: u64,
    pub fragments: u32,
}

/// What a fragment did.
#[derive(Debug)]
pub(crate) enum Added {
    /// Held, waiting for the rest.
    Held,
    /// Its datagram is whole.
    Whole(Whole),
    /// Its datagram was given up now (or before: `GiveUp::AfterDrop`).
    GivenUp(GivenUp),
}

struct Datagram {
    serial: u64,
    first_ts: u64,
    last_ts: u64,
    /// Payload bytes received so far, at their offsets (zeros in the holes).
    data: Vec<u8>,
    /// Received ranges, sorted, disjoint and not adjacent.
    ranges: Vec<(u32, u32)>,
    /// The payload's end, once the last fragment set it.
    end: Option<u32>,
    /// Where the first fragment cut by the snaplen stops being captured.
    captured_to: u32,
    fragments: u32,
    ip_bytes: u64,
    /// Dropped (overlap, malformed, budget): later fragments only count.
    dropped: bool,
    charged: usize,
}

impl Datagram {
    fn new(serial: u64, ts: u64) -> Datagram {
        Datagram {
            serial,
            first_ts: ts,
            last_ts: ts,
            data: Vec::new(),
            ranges: Vec::new(),
            end: None,
            captured_to: u32::MAX,
            fragments: 0,
            ip_bytes: 0,
            dropped: false,
            charged: DATAGRAM_OVERHEAD,
        }
    }

    fn cost(&self) -> usize {
        DATAGRAM_OVERHEAD + self.data.capacity() + self.ranges.capacity() * 8
    }

    fn head(&self) -> Vec<u8> {
        match self.ranges.first() {
            Some(&(0, to)) => {
                let n = (to.min(self.captured_to) as usize)
                    .min(HEAD)
                    .min(self.data.len());
                self.data[..n].to_vec()
            }
            _ => Vec::new(),
        }
    }

    /// Counts not handed out yet, taken.
    fn take_counts(&mut self) -> (u64, u32) {
        let counts = (self.ip_bytes, self.fragments);
        self.ip_bytes = 0;
        self.fragments = 0;
        counts
    }

    fn give_up(&mut self, id: FragmentId, why: GiveUp) -> GivenUp {
        let head = self.head();
        let (ip_bytes, fragments) = self.take_counts();
        GivenUp {
            id,
            why,
            head,
            ip_bytes,
            fragments,
            last_ts: self.last_ts,
        }
    }

    /// Drop the datagram's bytes, keeping its head so that later fragments still find their flow.
    fn drop_data(&mut self) {
        let head = self.head();
        self.ranges = if head.is_empty() {
            Vec::new()
        } else {
            vec![(0, head.len() as u32)]
        };
        self.captured_to = u32::MAX;
        self.data = head;
        self.data.shrink_to_fit();
        self.dropped = true;
    }

    fn whole(&self) -> bool {
        matches!((self.end, self.ranges.as_slice()), (Some(end), [(0, to)]) if *to == end)
    }
}

/// Where a fragment's bytes fall against what is held.
enum Fit {
    /// No overlap.
    New,
    /// All held already, identical.
    Duplicate,
    /// Overlaps held bytes that agree.
    AgreeingOverlap,
    /// Overlaps held bytes that differ.
    Conflict,
}

fn fit(d: &Datagram, from: u32, to: u32, data: &[u8]) -> Fit {
    let mut overlap = false;
    let mut covered = 0u32;
    for &(a, b) in &d.ranges {
        let (s, e) = (a.max(from), b.min(to));
        if s >= e {
            continue;
        }
        overlap = true;
        covered += e - s;
        // Compare what both captured.
        let held_to = (e as usize).min(d.data.len());
        let new_to = (e - from) as usize;
        let new_to = new_to.min(data.len());
        let (s_held, s_new) = (s as usize, (s - from) as usize);
        let n = held_to
            .saturating_sub(s_held)
            .min(new_to.saturating_sub(s_new));
        if d.data.get(s_held..s_held + n) != data.get(s_new..s_new + n) {
            return Fit::Conflict;
        }
    }
    if !overlap {
        Fit::New
    } else if covered == to - from {
        Fit::Duplicate
    } else {
        Fit::AgreeingOverlap
    }
}

fn insert_range(ranges: &mut Vec<(u32, u32)>, from: u32, to: u32) {
    let (mut from, mut to) = (from, to);
    // Merge with every range that overlaps or touches [from, to).
    ranges.retain(|&(a, b)| {
        if b < from || a > to {
            true
        } else {
            from = from.min(a);
            to = to.max(b);
            false
        }
    });
    let at = ranges.partition_point(|&(a, _)| a < from);
    ranges.insert(at, (from, to));
}

struct Shard {
    map: HashMap<FragmentId, Datagram, SeededState>,
    /// Datagrams by arrival of their first fragment (stale entries skipped by serial).
    order: VecDeque<(FragmentId, u64)>,
    bytes: usize,
    serial: u64,
}

impl Shard {
    fn remove(&mut self, id: &FragmentId) -> Option<Datagram> {
        let d = self.map.remove(id)?;
        self.bytes -= d.charged;
        Some(d)
    }

    /// The oldest datagram, removed.
    fn pop_oldest(&mut self) -> Option<(FragmentId, Datagram)> {
        while let Some((id, serial)) = self.order.pop_front() {
            if self.map.get(&id).is_some_and(|d| d.serial == serial) {
                let d = self.remove(&id)?;
                return Some((id, d));
            }
        }
        None
    }

    /// Give up the datagrams older than the timeout.
    fn expire(&mut self, now: u64, timeout: u64, out: &mut Vec<GivenUp>) {
        while let Some(&(id, serial)) = self.order.front() {
            match self.map.get(&id) {
                Some(d) if d.serial == serial => {
                    if now.saturating_sub(d.first_ts) < timeout {
                        return;
                    }
                    if let Some(mut d) = self.remove(&id) {
                        let up = d.give_up(id, GiveUp::TimedOut);
                        // A dropped datagram's own give-up was counted when it was dropped.
                        if !d.dropped || up.fragments > 0 {
                            out.push(GivenUp {
                                why: if d.dropped {
                                    GiveUp::AfterDrop
                                } else {
                                    GiveUp::TimedOut
                                },
                                ..up
                            });
                        }
                    }
                    self.order.pop_front();
                }
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }
}

/// The fragments of datagrams being reassembled, sharded.
pub(crate) struct Defrag {
    shards: Box<[Mutex<Shard>]>,
    hasher: SeededState,
    datagrams_per_shard: usize,
    bytes_per_shard: usize,
    timeout_ns: u64,
    /// Bytes held by all shards (a gauge for `Stats::defrag_memory`).
    memory: AtomicUsize,
}

impl Defrag {
    /// `max_datagrams` datagrams and `max_bytes` bytes in all (0 datagrams: every fragment is
    /// given up at once), each given up `timeout_ns` after its first fragment.
    pub fn new(max_datagrams: usize, max_bytes: usize, timeout_ns: u64) -> Defrag {
        let n = (max_bytes / MIN_SHARD_BYTES)
            .clamp(1, MAX_SHARDS)
            .min(max_datagrams.max(1));
        let shards = (0..n)
            .map(|_| {
                Mutex::new(Shard {
                    map: HashMap::with_hasher(SeededState::default()),
                    order: VecDeque::new(),
                    bytes: 0,
                    serial: 0,
                })
            })
            .collect();
        Defrag {
            shards,
            hasher: SeededState::default(),
            datagrams_per_shard: max_datagrams / n,
            bytes_per_shard: max_bytes / n,
            timeout_ns,
            memory: AtomicUsize::new(0),
        }
    }

    /// Bytes held now.
    pub fn memory(&self) -> usize {
        self.memory.load(Ordering::Relaxed)
    }

    fn shard(&self, id: &FragmentId) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(id) % self.shards.len() as u64) as usize;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take one fragment at `ts`. Datagrams of the same shard given up on the way (timed out,
    /// evicted) are pushed to `out`.
    pub fn add(&self, f: &Fragment<'_>, ts: u64, out: &mut Vec<GivenUp>) -> Added {
        let mut shard = self.shard(&f.id);
        let before = shard.bytes;
        let added = self.add_locked(&mut shard, f, ts, out);
        let after = shard.bytes;
        drop(shard);
        if after >= before {
            self.memory.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.memory.fetch_sub(before - after, Ordering::Relaxed);
        }
        added
    }

    fn add_locked(
        &self,
        shard: &mut Shard,
        f: &Fragment<'_>,
        ts: u64,
        out: &mut Vec<GivenUp>,
    ) -> Added {
        shard.expire(ts, self.timeout_ns, out);
        let lone = |why| GivenUp {
            id: f.id,
            why,
            head: if f.offset == 0 {
                f.data[..f.data.len().min(HEAD)].to_vec()
            } else {
                Vec::new()
            },
            ip_bytes: u64::from(f.ip_len),
            fragments: 1,
            last_ts: ts,
        };
        if self.datagrams_per_shard == 0 {
            return Added::GivenUp(lone(GiveUp::OverBudget));
        }
        if !shard.map.contains_key(&f.id) {
            while shard.map.len() >= self.datagrams_per_shard
                || shard.bytes + DATAGRAM_OVERHEAD > self.bytes_per_shard
            {
                match shard.pop_oldest() {
                    Some((id, mut d)) => {
                        let why = if d.dropped {
                            GiveUp::AfterDrop
                        } else {
                            GiveUp::OverBudget
                        };
                        let up = d.give_up(id, why);
                        if !d.dropped || up.fragments > 0 {
                            out.push(up);
                        }
                    }
                    None => return Added::GivenUp(lone(GiveUp::OverBudget)),
                }
            }
            shard.serial += 1;
            let serial = shard.serial;
            shard.map.insert(f.id, Datagram::new(serial, ts));
            shard.order.push_back((f.id, serial));
            shard.bytes += DATAGRAM_OVERHEAD;
            if shard.order.len() > 2 * self.datagrams_per_shard + 16 {
                let Shard { map, order, .. } = &mut *shard;
                order.retain(|(id, serial)| map.get(id).is_some_and(|d| d.serial == *serial));
            }
        }
        let room = self.bytes_per_shard;
        let Shard { map, bytes, .. } = &mut *shard;
        let Some(d) = map.get_mut(&f.id) else {
            return Added::Held;
        };
        d.fragments += 1;
        d.ip_bytes += u64::from(f.ip_len);
        d.last_ts = d.last_ts.max(ts);
        if d.dropped {
            let (ip_bytes, fragments) = d.take_counts();
            return Added::GivenUp(GivenUp {
                id: f.id,
                why: GiveUp::AfterDrop,
                head: d.head(),
                ip_bytes,
                fragments,
                last_ts: ts,
            });
        }
        let verdict = place(d, f, room);
        let verdict = match verdict {
            Err(why) => {
                let up = d.give_up(f.id, why);
                d.drop_data();
                Err(up)
            }
            Ok(()) => Ok(d.whole()),
        };
        let cost = d.cost();
        let charged = std::mem::replace(&mut d.charged, cost);
        *bytes = *bytes - charged + cost;
        match verdict {
            Err(up) => Added::GivenUp(up),
            Ok(true) => {
                let Some(mut d) = shard.remove(&f.id) else {
                    return Added::Held;
                };
                let end = d.end.unwrap_or(0).min(d.captured_to) as usize;
                d.data.truncate(end);
                Added::Whole(Whole {
                    id: f.id,
                    data: d.data,
                    ip_bytes: d.ip_bytes,
                    fragments: d.fragments,
                })
            }
            Ok(false) => {
                if shard.bytes > self.bytes_per_shard {
                    // Make room by evicting older datagrams, never this one.
                    let mut skipped = Vec::new();
                    while shard.bytes > self.bytes_per_shard {
                        match shard.pop_oldest() {
                            Some((id, d)) if id == f.id => skipped.push((id, d)),
                            Some((id, mut d)) => {
                                let why = if d.dropped {
                                    GiveUp::AfterDrop
                                } else {
                                    GiveUp::OverBudget
                                };
                                let up = d.give_up(id, why);
                                if !d.dropped || up.fragments > 0 {
                                    out.push(up);
                                }
                            }
                            None => break,
                        }
                    }
                    for (id, d) in skipped {
                        shard.bytes += d.charged;
                        shard.order.push_front((id, d.serial));
                        shard.map.insert(id, d);
                    }
                }
                Added::Held
            }
        }
    }

    /// Give up every datagram older than the timeout at `now`.
    pub fn expire(&self, now: u64, out: &mut Vec<GivenUp>) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            let before = shard.bytes;
            shard.expire(now, self.timeout_ns, out);
            let freed = before - shard.bytes;
            drop(shard);
            self.memory.fetch_sub(freed, Ordering::Relaxed);
        }
    }

    /// Give up every datagram.
    pub fn flush(&self, out: &mut Vec<GivenUp>) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            let before = shard.bytes;
            while let Some((id, mut d)) = shard.pop_oldest() {
                let up = d.give_up(id, GiveUp::Flushed);
                if up.fragments > 0 {
                    out.push(up);
                }
            }
            shard.order.clear();
            let freed = before - shard.bytes;
            drop(shard);
            self.memory.fetch_sub(freed, Ordering::Relaxed);
        }
    }
}

/// Put a fragment's bytes in its datagram, or say why the datagram must be dropped. The
/// datagram's buffer may grow to at most `room` bytes.
fn place(d: &mut Datagram, f: &Fragment<'_>, room: usize) -> Result<(), GiveUp> {
    let from = f.offset;
    let to = from.checked_add(f.len).ok_or(GiveUp::Overlap)?;
    if to > MAX_DATAGRAM || (f.more && !f.len.is_multiple_of(8)) {
        return Err(GiveUp::Overlap);
    }
    if d.fragments > MAX_FRAGMENTS_PER_DATAGRAM {
        return Err(GiveUp::OverBudget);
    }
    match (f.more, d.end) {
        (false, Some(end)) if end != to => return Err(GiveUp::Overlap),
        (false, _) if d.ranges.last().is_some_and(|&(_, b)| b > to) => return Err(GiveUp::Overlap),
        (true, Some(end)) if to > end => return Err(GiveUp::Overlap),
        (false, _) => d.end = Some(to),
        _ => {}
    }
    if from == to {
        return Ok(());
    }
    let data = &f.data[..f.data.len().min(f.len as usize)];
    match fit(d, from, to, data) {
        Fit::Duplicate => return Ok(()),
        Fit::Conflict => return Err(GiveUp::Overlap),
        Fit::AgreeingOverlap if f.id.src.is_ipv6() => return Err(GiveUp::Overlap),
        Fit::AgreeingOverlap | Fit::New => {}
    }
    // The range list may take one more entry; charge it before growing anything.
    d.ranges.reserve_exact(1);
    let need = (to as usize).max(d.data.len());
    if DATAGRAM_OVERHEAD + need + d.ranges.capacity() * 8 > room {
        return Err(GiveUp::OverBudget);
    }
    if need > d.data.len() {
        d.data.reserve_exact(need - d.data.len());
        d.data.resize(need, 0);
    }
    d.data[from as usize..from as usize + data.len()].copy_from_slice(data);
    if data.len() < f.len as usize {
        d.captured_to = d.captured_to.min(from + data.len() as u32);
    }
    insert_range(&mut d.ranges, from, to);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn id() -> FragmentId {
        FragmentId {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            protocol: 17,
            id: 7,
        }
    }

    fn frag(offset: u32, data: &[u8], more: bool) -> Fragment<'_> {
        Fragment {
            id: id(),
            ip_len: 20 + data.len() as u32,
            offset,
            len: data.len() as u32,
            more,
            data,
        }
    }

    #[test]
    fn ranges_merge() {
        let mut r = Vec::new();
        insert_range(&mut r, 16, 24);
        insert_range(&mut r, 0, 8);
        assert_eq!(r, [(0, 8), (16, 24)]);
        insert_range(&mut r, 8, 16);
        assert_eq!(r, [(0, 24)]);
    }

    #[test]
    fn any_order_and_memory_given_back() {
        let d = Defrag::new(16, 1 << 20, 1_000);
        let bytes: Vec<u8> = (0..24).collect();
        let mut out = Vec::new();
        assert!(matches!(
            d.add(&frag(16, &bytes[16..], false), 0, &mut out),
            Added::Held
        ));
        assert!(matches!(
            d.add(&frag(0, &bytes[..8], true), 0, &mut out),
            Added::Held
        ));
        assert!(d.memory() > 0);
        match d.add(&frag(8, &bytes[8..16], true), 0, &mut out) {
            Added::Whole(w) => {
                assert_eq!(w.data, bytes);
                assert_eq!((w.fragments, w.ip_bytes), (3, 60 + 24));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.memory(), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn teardrop_and_nonsense_never_panic() {
        let d = Defrag::new(16, 1 << 20, 1_000);
        let mut out = Vec::new();
        let bytes = [1u8; 64];
        for (offset, len, more) in [
            (0, 64, true),
            (8, 8, false),
            (65_528, 64, false),
            (u32::MAX - 3, 8, true),
            (24, 0, false),
            (0, 7, true),
            (4, 64, false),
        ] {
            let f = Fragment {
                len,
                ..frag(offset, &bytes[..(len as usize).min(64)], more)
            };
            let _ = d.add(&f, 0, &mut out);
        }
        d.expire(10_000, &mut out);
        assert_eq!(d.memory(), 0);
    }
}
