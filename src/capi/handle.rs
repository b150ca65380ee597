//! The engine handle: safe teardown and poisoning.
//!
//! A `cloudsight_engine *` points to a small shell that is never freed (about 1 KiB per engine
//! ever created). The shell counts the calls in flight (in per-thread-group counters, so packet
//! threads do not share one cache line) and holds the engine. `cloudsight_engine_free` marks the
//! shell shut down and returns at once; the engine itself is dropped by whichever leaves last:
//! `free`, or the last call that was still running. A call that races or follows `free` gets
//! `CLOUDSIGHT_RESULT_SHUT_DOWN` and never touches freed memory, so a WFP or NetworkExtension
//! callback that arrives during teardown is harmless.
//!
//! A panic caught inside a call poisons the shell: the engine's invariants may be broken (a table
//! slot reserved and never released, say), so every later call returns
//! `CLOUDSIGHT_RESULT_POISONED`, except `stats` (which says so) and `free`.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::cloudsight_result;
use crate::Engine;

/// The engine: one per sensor, shared by all its threads. Every call on it is thread-safe,
/// `cloudsight_engine_free` included (calls after it return `CLOUDSIGHT_RESULT_SHUT_DOWN`).
pub struct cloudsight_engine {
    _private: [u8; 0],
}

const SHARDS: usize = 16;
const SHUT_DOWN: u32 = 1;
const POISONED: u32 = 2;

#[repr(align(64))]
#[derive(Default)]
struct Counter(AtomicUsize);

/// What a `cloudsight_engine *` points to.
pub(crate) struct Shell {
    /// The shell created before this one: every shell stays on one list from a static, so leak
    /// checkers (LeakSanitizer, valgrind) see them as reachable, not lost.
    next: *mut Shell,
    state: AtomicU32,
    /// Contexts that could not be read (bad struct_size); their packets went on without them.
    invalid_contexts: AtomicU64,
    in_flight: [Counter; SHARDS],
    engine: AtomicPtr<Engine>,
}

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    SHARD.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
        }
        s.get()
    })
}

/// The most recent shell (see `Shell::next`).
static SHELLS: AtomicPtr<Shell> = AtomicPtr::new(std::ptr::null_mut());

impl Shell {
    /// A new shell holding `engine`; the caller gets it as a never-freed pointer.
    pub fn create(engine: Engine) -> *mut cloudsight_engine {
        let shell = Box::into_raw(Box::new(Shell {
            next: std::ptr::null_mut(),
            state: AtomicU32::new(0),
            invalid_contexts: AtomicU64::new(0),
            in_flight: Default::default(),
            engine: AtomicPtr::new(Box::into_raw(Box::new(engine))),
        }));
        let mut head = SHELLS.load(Ordering::Acquire);
        loop {
            // SAFETY: `shell` is ours alone until it is published by the exchange below.
            unsafe { (*shell).next = head };
            match SHELLS.compare_exchange_weak(head, shell, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        shell as *mut cloudsight_engine
    }

    /// Mark the engine freed; drop it now if no call is in flight, else when the last one leaves.
    pub fn shut_down(&self) {
        self.state.fetch_or(SHUT_DOWN, Ordering::SeqCst);
        self.drop_engine_if_idle();
    }

    fn poison(&self) {
        self.state.fetch_or(POISONED, Ordering::SeqCst);
    }

    fn drop_engine_if_idle(&self) {
        if self
            .in_flight
            .iter()
            .all(|c| c.0.load(Ordering::SeqCst) == 0)
        {
            let engine = self.engine.swap(std::ptr::null_mut(), Ordering::SeqCst);
            if !engine.is_null() {
                // SAFETY: the pointer came from Box::into_raw in `create`, and the swap hands it
                // to exactly one caller; no call is in flight and none can start (shut down).
                drop(unsafe { Box::from_raw(engine) });
            }
        }
    }

    /// Enter a call: the engine, unless it is shut down or (when `allow_poisoned` is false)
    /// poisoned.
    fn enter(&self, allow_poisoned: bool) -> Result<Guard<'_>, cloudsight_result> {
        let shard = shard();
        self.in_flight[shard].0.fetch_add(1, Ordering::SeqCst);
        let guard = Guard { shell: self, shard };
        let state = self.state.load(Ordering::SeqCst);
        if state & SHUT_DOWN != 0 {
            return Err(cloudsight_result::ShutDown);
        }
        if state & POISONED != 0 && !allow_poisoned {
            return Err(cloudsight_result::Poisoned);
        }
        Ok(guard)
    }

    pub fn count_invalid_context(&self) {
        self.invalid_contexts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn invalid_contexts(&self) -> u64 {
        self.invalid_contexts.load(Ordering::Relaxed)
    }

    pub fn is_poisoned(&self) -> bool {
        self.state.load(Ordering::SeqCst) & POISONED != 0
    }
}

/// A call in flight; leaving it may drop a shut-down engine.
struct Guard<'a> {
    shell: &'a Shell,
    shard: usize,
}

impl Guard<'_> {
    fn engine(&self) -> &Engine {
        let engine = self.shell.engine.load(Ordering::SeqCst);
        // SAFETY: this guard counted itself in flight before it saw the shell not shut down, so
        // `drop_engine_if_idle` cannot have taken the engine, and cannot until the guard leaves.
        unsafe { &*engine }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.shell.in_flight[self.shard]
            .0
            .fetch_sub(1, Ordering::SeqCst);
        if self.shell.state.load(Ordering::SeqCst) & SHUT_DOWN != 0 {
            self.shell.drop_engine_if_idle();
        }
    }
}

/// Borrow the shell behind a handle.
///
/// # Safety
/// `engine` is non-NULL and came from `cloudsight_engine_new` (shells are never freed).
unsafe fn shell<'a>(engine: *const cloudsight_engine) -> &'a Shell {
    // SAFETY: handles are `Box<Shell>` pointers cast to the opaque type, never freed.
    unsafe { &*(engine as *const Shell) }
}

/// Run `body` with the engine behind `handle`: NULL, shut-down and poisoned handles are refused
/// with their result, a panic inside is caught, returned as `$on_panic` and poisons the engine.
///
/// # Safety
/// `handle` is NULL or came from `cloudsight_engine_new`.
pub(crate) unsafe fn with_engine<R>(
    handle: *const cloudsight_engine,
    allow_poisoned: bool,
    on_error: impl Fn(cloudsight_result) -> R,
    body: impl FnOnce(&Engine, &Shell) -> R,
) -> R {
    if handle.is_null() {
        return on_error(cloudsight_result::NullParameter);
    }
    // SAFETY: a handle from cloudsight_engine_new (caller contract); shells are never freed.
    let shell = unsafe { shell(handle) };
    let guard = match shell.enter(allow_poisoned) {
        Ok(g) => g,
        Err(e) => return on_error(e),
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(guard.engine(), shell))) {
        Ok(r) => r,
        Err(_) => {
            shell.poison();
            on_error(cloudsight_result::Panic)
        }
    }
}

/// Mark the engine behind `handle` freed (see the module docs).
///
/// # Safety
/// `handle` is non-NULL and came from `cloudsight_engine_new`.
pub(crate) unsafe fn shut_down(handle: *const cloudsight_engine) {
    // SAFETY: forwarded from the caller's contract.
    unsafe { shell(handle) }.shut_down();
}

/// Test hook, not a C export: panic inside a call on `handle`, as a bug in the engine would, and
/// return what the caller would get.
///
/// # Safety
/// `handle` is NULL or came from `cloudsight_engine_new`.
#[doc(hidden)]
pub unsafe fn panic_inside_for_tests(handle: *const cloudsight_engine) -> cloudsight_result {
    // SAFETY: forwarded from the caller's contract.
    unsafe {
        with_engine(
            handle,
            false,
            |e| e,
            |_, _| -> cloudsight_result { panic!("panic_inside_for_tests") },
        )
    }
}
