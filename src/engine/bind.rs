//! Process and user context bound to a 5-tuple, before or after the flow's first packet.

use std::sync::atomic::Ordering;

use super::stats::bump;
use super::Engine;
use crate::context::{ContextRef, FlowTuple};
use crate::flow::FlowKey;

impl Engine {
    /// Bind process and user context to a 5-tuple (either direction), before or after the flow's
    /// first packet. The latest binding wins; a binding waits `binding_ttl_ns` for its flow.
    pub fn bind_context(&self, tuple: &FlowTuple, context: ContextRef<'_>, ts_ns: u64) {
        bump(&self.counters.bindings);
        let (key, _) = FlowKey::from_tuple(tuple);
        if context.lossy {
            bump(&self.counters.context_lossy);
        }
        let owned = self.take_context(context);
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

    pub(super) fn apply_pending(&self, key: &FlowKey) {
        if let Some((_, (context, _))) = self.pending.remove(key) {
            self.pending_len.fetch_sub(1, Ordering::Relaxed);
            self.table.with_entry(key, |e| e.context = Some(context));
        }
    }
}
