//! Time, flush and draining: flows end on the caller's clock, and their records leave through the
//! queue to the sensor's draining thread (as values, or encoded into the caller's buffer).

use std::sync::atomic::Ordering;

use super::Engine;
use crate::encode::{BufferEncoder, EncodeError, Encoding};
use crate::packet::Transport;
use crate::record::{ActivityRecord, Event, Reason};
use crate::usage::UsageRow;

impl Engine {
    /// Advance time: end idle flows and lingering closed connections, emit `update` records for
    /// flows past the active timeout, forget stale bindings. Call it every second or so.
    pub fn tick(&self, now_ns: u64) {
        let c = &self.config;
        let mut given_up = Vec::new();
        self.defrag.expire(now_ns, &mut given_up);
        for up in given_up {
            self.give_up(up, None);
        }
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
        if self.config.usage_window_ns != 0 {
            self.usage_table().tick(now_ns);
        }
    }

    /// End every flow now (reason `flush`): end of a capture, or shutdown. Nothing is lost: records
    /// that do not fit in the queue wait beside it for the next drains (up to one per flow the
    /// table can hold).
    pub fn flush(&self, _now_ns: u64) {
        // Datagrams still being reassembled count toward their flows before these end.
        let mut given_up = Vec::new();
        self.defrag.flush(&mut given_up);
        for up in given_up {
            self.give_up(up, None);
        }
        let mut overflow = Vec::new();
        self.table.drain_all(&mut |key, mut e| {
            let record = self.record(&key, &mut e, Event::Close, Some(Reason::Flush));
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
            held.extend(overflow.into_iter().take(room));
            self.held_len.store(held.len(), Ordering::Relaxed);
        }
        // Every flow ended: every usage window closes.
        if self.config.usage_window_ns != 0 {
            self.usage_table().flush();
        }
    }

    fn usage_table(&self) -> std::sync::MutexGuard<'_, crate::usage::UsageTable> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hand usage rows of closed windows (README "Usage reports") to `deliver` until it returns
    /// `false` (that row is kept and comes first next time) or none is left; returns how many
    /// were taken. As [`drain_with`](Engine::drain_with), no lock is held while `deliver` runs.
    pub fn drain_usage_with(&self, mut deliver: impl FnMut(&UsageRow) -> bool) -> usize {
        let mut taken = 0;
        loop {
            let Some(row) = self.usage_table().pop() else {
                return taken;
            };
            if !deliver(&row) {
                self.usage_table().push_front(row);
                return taken;
            }
            taken += 1;
        }
    }

    /// Take up to `max` usage rows of closed windows.
    pub fn drain_usage(&self, max: usize) -> Vec<UsageRow> {
        let mut out = Vec::new();
        self.drain_usage_with(|r| {
            if out.len() >= max {
                return false;
            }
            out.push(r.clone());
            true
        });
        out
    }

    /// Hand queued records to `deliver` until it returns `false` (it could not take that record: it
    /// is kept and comes first next time) or none is left. Returns how many were taken. Records
    /// kept back (by a full caller buffer, or a flush that overflowed the queue) come before the
    /// queue's.
    ///
    /// `deliver` may call back into the engine, this method and the other drains, `flush` and
    /// `stats` included: no lock is held while it runs (a record is taken under the lock, handed
    /// over without it, and put back first under the lock if refused).
    pub fn drain_with(&self, mut deliver: impl FnMut(&ActivityRecord) -> bool) -> usize {
        let mut taken = 0;
        loop {
            let record = match self.take_held() {
                Some(r) => r,
                None => match self.queue.pop() {
                    Some(r) => r,
                    None => return taken,
                },
            };
            if !deliver(&record) {
                self.hold_first(record);
                return taken;
            }
            taken += 1;
        }
    }

    /// The first record kept back, if any (the lock is released on return).
    fn take_held(&self) -> Option<Box<ActivityRecord>> {
        if self.held_len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let record = held.pop_front();
        self.held_len.store(held.len(), Ordering::Relaxed);
        record
    }

    /// Keep back a record a caller could not take: it comes first next time.
    fn hold_first(&self, record: Box<ActivityRecord>) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.push_front(record);
        self.held_len.store(held.len(), Ordering::Relaxed);
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

    /// Drain whole records into `out` in `encoding`; returns the bytes written (0 when no record
    /// is waiting). When not even one record fits, nothing is taken and the error says how many
    /// bytes the next one needs.
    pub fn drain_encoded(&self, encoding: Encoding, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut encoder = BufferEncoder::new(encoding, &self.device, out.len());
        self.drain_with(|record| encoder.push(record));
        encoder.finish(out)
    }
}
