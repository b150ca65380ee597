//! The bounded record queue between the packet path and the sensor's draining thread.
//!
//! Pushing never blocks: when the queue is full the oldest record is dropped and counted, so the
//! packet thread keeps its pace and the newest activity survives.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;

use crate::record::ActivityRecord;

pub(crate) struct RecordQueue {
    queue: ArrayQueue<Box<ActivityRecord>>,
    dropped: AtomicU64,
    pushed: AtomicU64,
}

impl RecordQueue {
    pub fn new(capacity: usize) -> RecordQueue {
        RecordQueue {
            queue: ArrayQueue::new(capacity.max(1)),
            dropped: AtomicU64::new(0),
            pushed: AtomicU64::new(0),
        }
    }

    pub fn push(&self, record: ActivityRecord) {
        self.pushed.fetch_add(1, Ordering::Relaxed);
        if self.queue.force_push(Box::new(record)).is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Push unless the queue is full; a full queue hands the record back (for callers that must
    /// not lose it). The record counts as produced either way.
    pub fn try_push(&self, record: ActivityRecord) -> Result<(), Box<ActivityRecord>> {
        self.pushed.fetch_add(1, Ordering::Relaxed);
        self.queue.push(Box::new(record))
    }

    /// Count records dropped outside the queue (a flush's overflow past its bound).
    pub fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    pub fn pop(&self) -> Option<ActivityRecord> {
        self.queue.pop().map(|b| *b)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
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
        let q = RecordQueue::new(2);
        for id in 1..=5 {
            q.push(record(id));
        }
        assert_eq!(q.dropped(), 3);
        assert_eq!(q.pop().map(|r| r.flow_id), Some(4));
        assert_eq!(q.pop().map(|r| r.flow_id), Some(5));
        assert!(q.pop().is_none());
    }
}
