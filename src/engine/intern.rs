//! Interned per-flow values: flows with an identical process context share one
//! `Arc<FlowContext>` (the 131k flows of one process hold one copy of its path), and flows with an
//! identical name (same server name, source, ALPN, JA4, app: the flows one browser opens to one
//! site) share one `Arc<FlowName>`, so a named flow costs its table slot and nothing more.
//! Each interner is bounded in entries and string bytes; when either bound would be passed it is
//! emptied (flows keep their `Arc`s) and starts over, so a peer sending a new name per flow costs
//! what an uninterned name would.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use super::stats::bump;
use super::Engine;
use crate::context::{ContextRef, FlowContext};
use crate::flow::SeededState;
use crate::naming::FlowName;

/// Most values an interner holds.
pub(super) const MAX_INTERNED: usize = 4096;
/// Most string bytes (paths, user names and ids; names, ALPN) an interner holds.
pub(super) const MAX_INTERNED_BYTES: usize = 4 << 20;

/// Values by the hash of their identifying fields; a hash collision just replaces the entry.
pub(super) struct Interner<T> {
    map: DashMap<u64, Arc<T>, SeededState>,
    hasher: SeededState,
    bytes: AtomicUsize,
}

impl<T> Default for Interner<T> {
    fn default() -> Interner<T> {
        Interner {
            map: DashMap::with_hasher(SeededState::default()),
            hasher: SeededState::default(),
            bytes: AtomicUsize::new(0),
        }
    }
}

impl<T> Interner<T> {
    /// Values held now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The key of a value whose identifying fields are `fields` (this interner's seed).
    fn key(&self, fields: impl std::hash::Hash) -> u64 {
        self.hasher.hash_one(fields)
    }

    /// The shared value under `key`, if it is one for which `same` holds.
    fn find(&self, key: u64, same: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        let found = self.map.get(&key)?;
        same(&found).then(|| found.clone())
    }

    /// Remember `value` under `key` (its string bytes `size`d) and return it shared.
    fn insert(&self, key: u64, value: T, size: impl Fn(&T) -> usize) -> Arc<T> {
        let owned = Arc::new(value);
        let bytes = size(&owned);
        if self.map.len() >= MAX_INTERNED
            || self.bytes.load(Ordering::Relaxed) + bytes > MAX_INTERNED_BYTES
        {
            // Full: start over (flows keep the values they hold).
            self.map.retain(|_, old| {
                self.bytes.fetch_sub(size(old), Ordering::Relaxed);
                false
            });
        }
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(old) = self.map.insert(key, owned.clone()) {
            self.bytes.fetch_sub(size(&old), Ordering::Relaxed);
        }
        owned
    }
}

impl Interner<FlowContext> {
    /// The shared context equal to `ctx` (already capped), made and remembered if new.
    fn context(&self, ctx: ContextRef<'_>) -> Arc<FlowContext> {
        let key = self.key((
            ctx.pid,
            ctx.process_start_ns,
            ctx.process_path,
            ctx.user_name,
            ctx.user_id,
        ));
        self.find(key, |found| ctx.same_as(found))
            .unwrap_or_else(|| self.insert(key, ctx.to_owned(), FlowContext::string_bytes))
    }
}

impl Interner<FlowName> {
    /// The shared name equal to `name` (resolved: app and domain filled), remembered if new.
    /// The app is compared by identity: a name resolved against another catalog is another name.
    fn name(&self, name: FlowName) -> Arc<FlowName> {
        let app = name.app.as_ref().map(Arc::as_ptr);
        let key = self.key((
            name.server_name.as_deref(),
            name.source,
            name.sni.as_deref(),
            &name.alpn[..],
            name.ech,
            name.ja4,
            app,
        ));
        let same = |found: &FlowName| {
            found.app.as_ref().map(Arc::as_ptr) == app
                && found.server_name == name.server_name
                && found.source == name.source
                && found.sni == name.sni
                && found.alpn == name.alpn
                && found.ech == name.ech
                && found.ja4 == name.ja4
                && found.domain_start == name.domain_start
                && found.instance_at == name.instance_at
        };
        match self.find(key, same) {
            Some(shared) => shared,
            None => self.insert(key, name, FlowName::string_bytes),
        }
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
        self.contexts.context(capped)
    }

    /// The name a flow keeps: shared with every flow of the same (resolved) name.
    pub(super) fn take_name(&self, name: FlowName) -> Arc<FlowName> {
        self.names.name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(server: &str, alpn: &[u8]) -> FlowName {
        FlowName {
            server_name: Some(server.into()),
            source: Some(crate::record::NameSource::TlsSni),
            alpn: alpn.into(),
            ..FlowName::default()
        }
    }

    #[test]
    fn equal_names_are_shared_and_different_ones_are_not() {
        let names = Interner::<FlowName>::default();
        let a = names.name(name("app.slack.com", b"\x02h2"));
        let b = names.name(name("app.slack.com", b"\x02h2"));
        assert!(Arc::ptr_eq(&a, &b));
        let c = names.name(name("app.slack.com", b"\x08http/1.1"));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.alpn[..], b"\x08http/1.1"[..]);
        let d = names.name(name("files.slack.com", b"\x02h2"));
        assert_eq!(d.server_name.as_deref(), Some("files.slack.com"));
        // The same name under another app (another catalog's record) is another name.
        let mut e = name("app.slack.com", b"\x02h2");
        e.app = Some(Arc::new(crate::record::AppInfo {
            id: "slack".into(),
            name: "Slack".into(),
            category: "collaboration".into(),
            risk: 9,
        }));
        assert!(!Arc::ptr_eq(&a, &names.name(e)));
        assert_eq!(names.len(), 4);
    }

    #[test]
    fn a_name_per_flow_keeps_the_interner_bounded() {
        let names = Interner::<FlowName>::default();
        let mut held = Vec::new();
        for i in 0..MAX_INTERNED + 10 {
            held.push(names.name(name(&format!("h{i}.example.com"), b"")));
            assert!(names.len() <= MAX_INTERNED);
        }
        // Flows keep their names when the interner starts over.
        assert_eq!(held[0].server_name.as_deref(), Some("h0.example.com"));
        assert!(names.bytes.load(Ordering::Relaxed) <= MAX_INTERNED_BYTES);
    }
}
