//! Interned process context: flows with identical context share one `Arc<FlowContext>`, so the
//! 131k flows of one process hold one copy of its path. Bounded in entries and string bytes; when
//! either bound would be passed the interner is emptied (flows keep their `Arc`s) and starts over.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use super::stats::bump;
use super::Engine;
use crate::context::{ContextRef, FlowContext};
use crate::flow::SeededState;

/// Most contexts the interner holds.
pub(super) const MAX_INTERNED: usize = 4096;
/// Most string bytes (paths, user names and ids) the interner holds.
pub(super) const MAX_INTERNED_BYTES: usize = 4 << 20;

/// Contexts by the hash of their (capped) fields; a hash collision just replaces the entry.
pub(super) struct Interner {
    map: DashMap<u64, Arc<FlowContext>, SeededState>,
    hasher: SeededState,
    bytes: AtomicUsize,
}

impl Default for Interner {
    fn default() -> Interner {
        Interner {
            map: DashMap::with_hasher(SeededState::default()),
            hasher: SeededState::default(),
            bytes: AtomicUsize::new(0),
        }
    }
}

impl Interner {
    /// Contexts held now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The shared context equal to `ctx` (already capped), made and remembered if new.
    fn get_or_insert(&self, ctx: ContextRef<'_>) -> Arc<FlowContext> {
        let key = self.hasher.hash_one((
            ctx.pid,
            ctx.process_start_ns,
            ctx.process_path,
            ctx.user_name,
            ctx.user_id,
        ));
        if let Some(found) = self.map.get(&key) {
            if ctx.same_as(&found) {
                return found.clone();
            }
        }
        let owned = Arc::new(ctx.to_owned());
        let size = owned.string_bytes();
        if self.map.len() >= MAX_INTERNED
            || self.bytes.load(Ordering::Relaxed) + size > MAX_INTERNED_BYTES
        {
            // Full: start over (flows keep the contexts they hold).
            self.map.retain(|_, old| {
                self.bytes.fetch_sub(old.string_bytes(), Ordering::Relaxed);
                false
            });
        }
        self.bytes.fetch_add(size, Ordering::Relaxed);
        if let Some(old) = self.map.insert(key, owned.clone()) {
            self.bytes.fetch_sub(old.string_bytes(), Ordering::Relaxed);
        }
        owned
    }
}

impl Engine {
    /// The context a flow or binding keeps for `ctx`: capped (`context_cut`), shared with every
    /// flow of the same context. Counts a lossy context (`context_lossy`).
    pub(super) fn take_context(&self, ctx: ContextRef<'_>) -> Arc<FlowContext> {
        let (capped, cut) = ctx.capped();
        if cut {
            bump(&self.counters.context_cut);
        }
        self.contexts.get_or_insert(capped)
    }
}
