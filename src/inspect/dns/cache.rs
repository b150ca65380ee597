//! A bounded, concurrent IP -> name cache filled from DNS answers, which later names flows that
//! carry no name of their own. It never holds more than its capacity whatever the traffic, and
//! never reads a clock (the caller passes the time).

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use foldhash::fast::RandomState;

use super::MAX_NAME_WIRE;

const NS_PER_S: u64 = 1_000_000_000;
/// A full shard drops its expired entries at most this often (per shard).
const SWEEP_INTERVAL_NS: u64 = NS_PER_S;
/// Entries per shard at least, so small caches are not split into tiny FIFOs.
const MIN_SHARD_ENTRIES: usize = 64;
const MAX_SHARDS: usize = 16;

struct Entry {
    name: Arc<[u8]>,
    expires_ns: u64,
    seq: u64,
}

/// One lock's worth of the cache. `order` lists (ip, seq) in insertion order; an item whose seq no
/// longer matches the entry (overwritten, expired, evicted) is stale and skipped.
struct Shard {
    map: HashMap<IpAddr, Entry, RandomState>,
    order: VecDeque<(IpAddr, u64)>,
    cap: usize,
    seq: u64,
    last_sweep_ns: Option<u64>,
    name_bytes: usize,
}

impl Shard {
    fn remove(&mut self, ip: &IpAddr) -> bool {
        match self.map.remove(ip) {
            Some(e) => {
                self.name_bytes -= e.name.len();
                true
            }
            None => false,
        }
    }

    fn is_live(map: &HashMap<IpAddr, Entry, RandomState>, ip: &IpAddr, seq: u64) -> bool {
        map.get(ip).is_some_and(|e| e.seq == seq)
    }

    /// Keeps `order` within a constant factor of the live entries.
    fn compact_order(&mut self) {
        if self.order.len() > 2 * self.cap + 32 {
            let map = &self.map;
            self.order.retain(|(ip, seq)| Self::is_live(map, ip, *seq));
        }
    }
}

/// Bounded, TTL-aware, concurrent IP -> name cache; many packet threads insert and look up at once.
///
/// The map is split into up to 16 shards, each behind its own mutex and holding a fixed share of the
/// capacity, so the total never exceeds `capacity`. A full shard first drops its expired entries (a
/// sweep, at most once per second of caller time per shard), then evicts in FIFO order of the latest
/// insert for an IP: an approximate LRU on writes, counted by [`DnsCache::evictions`]. Lookups do not
/// refresh the order. Expired entries met by a lookup are removed. Hashing is seeded (foldhash).
/// Time is whatever the caller passes, in nanoseconds; time going backwards is tolerated.
pub struct DnsCache {
    shards: Box<[Mutex<Shard>]>,
    shard_hasher: RandomState,
    capacity: usize,
    ttl_floor_s: u32,
    ttl_ceiling_s: u32,
    len: AtomicUsize,
    evictions: AtomicU64,
}

impl DnsCache {
    /// A cache that holds at most `capacity` IPs (0 stores nothing) and keeps each for its TTL clamped
    /// to `ttl_floor_s..=ttl_ceiling_s` (a ceiling below the floor is raised to the floor).
    pub fn new(capacity: usize, ttl_floor_s: u32, ttl_ceiling_s: u32) -> Self {
        let wanted = (capacity / MIN_SHARD_ENTRIES).clamp(1, MAX_SHARDS);
        // Largest power of two <= wanted, so a mask picks the shard.
        let n = 1usize << (usize::BITS - 1 - wanted.leading_zeros());
        let shards = (0..n)
            .map(|i| {
                let cap = capacity / n + usize::from(i < capacity % n);
                Mutex::new(Shard {
                    map: HashMap::with_hasher(RandomState::default()),
                    order: VecDeque::new(),
                    cap,
                    seq: 0,
                    last_sweep_ns: None,
                    name_bytes: 0,
                })
            })
            .collect();
        DnsCache {
            shards,
            shard_hasher: RandomState::default(),
            capacity,
            ttl_floor_s,
            ttl_ceiling_s: ttl_ceiling_s.max(ttl_floor_s),
            len: AtomicUsize::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn shard(&self, ip: &IpAddr) -> MutexGuard<'_, Shard> {
        // High bits: the shard maps hash with their own seeds, but keep the choice independent anyway.
        let h = self.shard_hasher.hash_one(ip);
        let idx = (h >> 40) as usize & (self.shards.len() - 1);
        // A panic elsewhere while holding the lock leaves a consistent shard (no partial updates
        // outlive a single statement that can panic), so poisoning is ignored.
        self.shards[idx]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Remember that `ip` is `name` from `now_ns` for `ttl_s` clamped to the floor and ceiling. The
    /// latest insert for an IP wins, as the latest response before a flow names it. Names that are
    /// empty or longer than 255 octets are ignored. Allocates the name once per new (ip, name).
    pub fn insert(&self, ip: IpAddr, name: &[u8], ttl_s: u32, now_ns: u64) {
        if name.is_empty() || name.len() > MAX_NAME_WIRE || self.capacity == 0 {
            return;
        }
        let ttl = u64::from(ttl_s.clamp(self.ttl_floor_s, self.ttl_ceiling_s));
        let expires_ns = now_ns.saturating_add(ttl * NS_PER_S);
        let mut guard = self.shard(&ip);
        let shard = &mut *guard;
        if shard.cap == 0 {
            return;
        }
        shard.seq += 1;
        let seq = shard.seq;
        if let Some(e) = shard.map.get_mut(&ip) {
            if *e.name != *name {
                shard.name_bytes = shard.name_bytes - e.name.len() + name.len();
                e.name = Arc::from(name);
            }
            e.expires_ns = expires_ns;
            e.seq = seq;
        } else {
            if shard.map.len() >= shard.cap {
                self.make_room(shard, now_ns);
            }
            shard.map.insert(
                ip,
                Entry {
                    name: Arc::from(name),
                    expires_ns,
                    seq,
                },
            );
            shard.name_bytes += name.len();
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        shard.order.push_back((ip, seq));
        shard.compact_order();
    }

    /// Frees at least one slot in a full shard: expired entries first, then the oldest insert.
    fn make_room(&self, shard: &mut Shard, now_ns: u64) {
        let due = shard
            .last_sweep_ns
            .is_none_or(|last| now_ns.abs_diff(last) >= SWEEP_INTERVAL_NS);
        if due {
            shard.last_sweep_ns = Some(now_ns);
            let mut freed_bytes = 0;
            let before = shard.map.len();
            shard.map.retain(|_, e| {
                let keep = now_ns < e.expires_ns;
                if !keep {
                    freed_bytes += e.name.len();
                }
                keep
            });
            shard.name_bytes -= freed_bytes;
            self.len
                .fetch_sub(before - shard.map.len(), Ordering::Relaxed);
        }
        while shard.map.len() >= shard.cap {
            let Some((ip, seq)) = shard.order.pop_front() else {
                break; // Unreachable: every live entry has an item in `order`.
            };
            if Shard::is_live(&shard.map, &ip, seq) && shard.remove(&ip) {
                self.len.fetch_sub(1, Ordering::Relaxed);
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The name for `ip` if present and not expired at `now_ns` (bytes as inserted: for names from
    /// [`parse_response`](super::parse_response), lower-case ASCII text without trailing dot). Cloning the `Arc` does not
    /// allocate; the result stays valid after the entry is overwritten or evicted.
    pub fn lookup(&self, ip: IpAddr, now_ns: u64) -> Option<Arc<[u8]>> {
        let mut shard = self.shard(&ip);
        let e = shard.map.get(&ip)?;
        if now_ns < e.expires_ns {
            return Some(Arc::clone(&e.name));
        }
        if shard.remove(&ip) {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        None
    }

    /// Entries held, expired ones not yet dropped included; never more than [`DnsCache::capacity`].
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound given to [`DnsCache::new`].
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Live entries evicted to make room (expired entries dropped are not counted).
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Approximate heap and inline bytes used: table slots, order queues, names and their `Arc`
    /// headers. Takes each shard lock in turn.
    pub fn memory_estimate(&self) -> usize {
        let slot = std::mem::size_of::<(IpAddr, Entry)>() + 1;
        let item = std::mem::size_of::<(IpAddr, u64)>();
        let arc_header = 2 * std::mem::size_of::<usize>();
        let mut total = std::mem::size_of::<Self>();
        for m in self.shards.iter() {
            let s = m.lock().unwrap_or_else(PoisonError::into_inner);
            total += std::mem::size_of::<Mutex<Shard>>()
                + s.map.capacity() * slot
                + s.order.capacity() * item
                + s.name_bytes
                + s.map.len() * arc_header;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    const S: u64 = NS_PER_S;

    #[test]
    fn cache_ttl_floor_and_ceiling() {
        let c = DnsCache::new(100, 30, 3600);
        c.insert(v4(1), b"short.example", 1, 0);
        c.insert(v4(2), b"long.example", 1_000_000, 0);
        assert_eq!(
            c.lookup(v4(1), 29 * S).as_deref(),
            Some(&b"short.example"[..])
        );
        assert_eq!(c.lookup(v4(1), 30 * S), None);
        assert_eq!(
            c.lookup(v4(2), 3599 * S).as_deref(),
            Some(&b"long.example"[..])
        );
        assert_eq!(c.lookup(v4(2), 3600 * S), None);
        // Inverted range: ceiling raised to the floor.
        let c = DnsCache::new(10, 60, 5);
        c.insert(v4(1), b"x", 1, 0);
        assert!(c.lookup(v4(1), 59 * S).is_some());
        assert!(c.lookup(v4(1), 60 * S).is_none());
    }

    #[test]
    fn cache_expiry_removes_on_lookup() {
        let c = DnsCache::new(100, 0, 3600);
        c.insert(v4(1), b"a.example", 10, 5 * S);
        assert_eq!(c.len(), 1);
        assert!(c.lookup(v4(1), 14 * S).is_some());
        assert!(c.lookup(v4(1), 15 * S).is_none());
        assert_eq!(c.len(), 0);
        assert!(c.is_empty());
        assert!(c.lookup(v4(9), 0).is_none());
    }

    #[test]
    fn cache_latest_insert_wins() {
        let c = DnsCache::new(100, 0, 3600);
        c.insert(v4(1), b"first.example", 600, 0);
        c.insert(v4(1), b"second.example", 5, S);
        assert_eq!(
            c.lookup(v4(1), 2 * S).as_deref(),
            Some(&b"second.example"[..])
        );
        assert_eq!(c.len(), 1);
        // The later insert's shorter TTL applies too.
        assert_eq!(c.lookup(v4(1), 6 * S), None);
    }

    #[test]
    fn cache_ignores_empty_and_oversized_names_and_zero_capacity() {
        let c = DnsCache::new(100, 0, 3600);
        c.insert(v4(1), b"", 60, 0);
        c.insert(v4(2), &[b'a'; 256], 60, 0);
        assert!(c.is_empty());
        let z = DnsCache::new(0, 0, 3600);
        z.insert(v4(1), b"a.example", 60, 0);
        assert!(z.is_empty() && z.lookup(v4(1), 0).is_none());
    }

    #[test]
    fn cache_bounded_under_flood() {
        let c = DnsCache::new(1000, 60, 3600);
        for i in 0..100_000u32 {
            c.insert(
                v4(i),
                format!("h{i}.example").as_bytes(),
                3600,
                u64::from(i),
            );
            if i % 997 == 0 {
                assert!(c.len() <= 1000);
            }
        }
        assert!(c.len() <= 1000 && c.len() > 900, "{}", c.len());
        assert_eq!(c.evictions(), 100_000 - c.len() as u64);
        // FIFO: the newest survive, the oldest are gone.
        assert_eq!(
            c.lookup(v4(99_999), 0).as_deref(),
            Some(&b"h99999.example"[..])
        );
        assert!(c.lookup(v4(0), 0).is_none());
        let mem = c.memory_estimate();
        assert!(mem < 1000 * 400, "{mem}");
    }

    #[test]
    fn cache_drops_expired_before_evicting_live() {
        // Capacity under 128: a single shard, so the order is exact.
        let c = DnsCache::new(100, 1, 3600);
        for i in 0..100 {
            c.insert(v4(i), b"old.example", 10, 0);
        }
        for i in 100..200 {
            c.insert(v4(i), b"new.example", 10, 20 * S);
        }
        assert_eq!(c.evictions(), 0);
        assert_eq!(c.len(), 100);
        assert!((100..200).all(|i| c.lookup(v4(i), 21 * S).is_some()));
    }

    #[test]
    fn cache_evicts_oldest_insert_first() {
        let c = DnsCache::new(100, 1, 3600);
        for i in 0..100 {
            c.insert(v4(i), b"a.example", 3600, 0);
        }
        // Re-inserting 0 moves it to the back of the queue.
        c.insert(v4(0), b"a.example", 3600, 0);
        for i in 100..150 {
            c.insert(v4(i), b"b.example", 3600, 0);
        }
        assert_eq!(c.evictions(), 50);
        assert!(c.lookup(v4(0), 0).is_some());
        assert!((1..=50).all(|i| c.lookup(v4(i), 0).is_none()));
        assert!((51..150).all(|i| c.lookup(v4(i), 0).is_some()));
    }

    #[test]
    fn cache_tolerates_time_going_backwards() {
        let c = DnsCache::new(100, 1, 3600);
        c.insert(v4(1), b"a.example", 60, 1_000 * S);
        assert!(c.lookup(v4(1), 0).is_some());
        for i in 0..300u32 {
            c.insert(v4(i), b"b.example", 60, u64::from(300 - i) * S);
            c.insert(v4(i), b"b.example", u32::MAX, u64::MAX - u64::from(i));
        }
        assert!(c.len() <= 100);
        assert!(c.lookup(v4(299), u64::MAX - 1000).is_some());
        assert!(c.lookup(v4(299), u64::MAX).is_none());
    }

    #[test]
    fn cache_concurrent_insert_and_lookup() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<DnsCache>();
        let c = DnsCache::new(1000, 60, 3600);
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let c = &c;
                s.spawn(move || {
                    for i in 0..20_000u32 {
                        let n = t * 1_000_000 + i;
                        c.insert(v4(n), format!("n{n}").as_bytes(), 600, u64::from(i) * 1000);
                        let probe = t * 1_000_000 + i / 2;
                        if let Some(name) = c.lookup(v4(probe), u64::from(i) * 1000) {
                            assert_eq!(&*name, format!("n{probe}").as_bytes());
                        }
                        assert!(c.len() <= 1000);
                    }
                });
            }
        });
        assert!(c.len() <= 1000);
        assert_eq!(c.evictions() + c.len() as u64, 80_000);
    }
}
