//! The bounded record queue between the packet path and the sensor's draining thread.
//!
//! Pushing never blocks: when the queue is full (in records, or in the bytes its records hold) the
//! oldest record is dropped and counted, so the packet thread keeps its pace and the newest
//! activity survives.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_queue::ArrayQueue;

use crate::record::ActivityRecord;

/// What one queued record costs in memory: the boxed record and the heap its strings hold (the
/// app is shared by every record of the app and not counted).
pub(crate) fn record_cost(r: &ActivityRecord) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
    std::mem::size_of::<ActivityRecord>()
        + r.community_id.capacity()
        + opt(&r.server_name)
        + opt(&r.sni)
        + r.alpn.capacity() * std::mem::size_of::<String>()
        + r.alpn.iter().map(String::capacity).sum::<usize>()
        + opt(&r.ja4)
        + opt(&r.registrable_domain)
        + r.process.as_ref().map_or(0, |p| opt(&p.path))
        + r.user.as_ref().map_or(0, |u| opt(&u.name) + opt(&u.id))
}

pub(crate) struct RecordQueue {
    queue: ArrayQueue<Box<ActivityRecord>>,
    /// Bytes the queued records cost ([`record_cost`]); at most `max_bytes` once a push returns.
    bytes: AtomicUsize,
    max_bytes: usize,
    dropped: AtomicU64,
    pushed: AtomicU64,
}

impl RecordQueue {
    pub fn new(capacity: usize, max_bytes: usize) -> RecordQueue {
        RecordQueue {
            queue: ArrayQueue::new(capacity.max(1)),
            bytes: AtomicUsize::new(0),
            max_bytes,
            dropped: AtomicU64::new(0),
            pushed: AtomicU64::new(0),
        }
    }

    pub fn push(&self, record: ActivityRecord) {
        self.pushed.fetch_add(1, Ordering::Relaxed);
        let cost = record_cost(&record);
        self.bytes.fetch_add(cost, Ordering::AcqRel);
        if let Some(old) = self.queue.force_push(Box::new(record)) {
            self.bytes.fetch_sub(record_cost(&old), Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.shed();
    }

    /// Drop the oldest records while the queue holds more bytes than its bound.
    fn shed(&self) {
        while self.bytes.load(Ordering::Acquire) > self.max_bytes {
            match self.queue.pop() {
                Some(old) => {
                    self.bytes.fetch_sub(record_cost(&old), Ordering::AcqRel);
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                // Another thread holds the cost of a record it is pushing; it sheds it.
                None => break,
            }
        }
    }

    /// Push unless the queue is full (in records or bytes); a full queue hands the record back (for
    /// callers that must not lose it). The record counts as produced either way.
    pub fn try_push(&self, record: ActivityRecord) -> Result<(), Box<ActivityRecord>> {
        self.pushed.fetch_add(1, Ordering::Relaxed);
        let cost = record_cost(&record);
        let before = self.bytes.fetch_add(cost, Ordering::AcqRel);
        let refused = if before.saturating_add(cost) > self.max_bytes {
            Err(Box::new(record))
        } else {
            self.queue.push(Box::new(record))
        };
        if refused.is_err() {
            self.bytes.fetch_sub(cost, Ordering::AcqRel);
        }
        refused
    }

    /// Count records dropped outside the queue (a flush's overflow past its bound).
    pub fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// The oldest record, still boxed (a drain hands it on by reference: no copy out).
    pub fn pop(&self) -> Option<Box<ActivityRecord>> {
        let record = self.queue.pop()?;
        self.bytes.fetch_sub(record_cost(&record), Ordering::AcqRel);
        Some(record)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Bytes the queued records cost now.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::*;

    fn record(flow_id: u64) -> ActivityRecord {
        ActivityRecord {
            flow_id,
            ..full_record()
        }
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts_it() {
        let q = RecordQueue::new(2, usize::MAX);
        for id in 1..=5 {
            q.push(record(id));
        }
        assert_eq!(q.dropped(), 3);
        assert_eq!(q.pop().map(|r| r.flow_id), Some(4));
        assert_eq!(q.pop().map(|r| r.flow_id), Some(5));
        assert!(q.pop().is_none());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn queue_over_its_bytes_drops_the_oldest_and_counts_it() {
        let cost = record_cost(&record(1));
        assert!(cost > std::mem::size_of::<ActivityRecord>());
        // Room for three records by bytes, a thousand by count.
        let q = RecordQueue::new(1000, 3 * cost + cost / 2);
        for id in 1..=10 {
            q.push(record(id));
            assert!(q.bytes() <= 3 * cost + cost / 2);
        }
        assert_eq!(q.len(), 3);
        assert_eq!(q.dropped(), 7);
        assert_eq!(q.pop().map(|r| r.flow_id), Some(8));
        // try_push refuses rather than drop when the bytes are taken.
        assert!(q.try_push(record(11)).is_ok());
        assert!(q.try_push(record(12)).is_err());
        assert_eq!(q.len(), 3);
        while q.pop().is_some() {}
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn a_record_costs_its_strings() {
        let small = record(1);
        let mut big = record(1);
        big.alpn = (0..8).map(|i| format!("{i:0>15}")).collect();
        big.server_name = Some("x".repeat(253));
        assert!(record_cost(&big) >= record_cost(&small) + 8 * 15 + 200);
    }
}
