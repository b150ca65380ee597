//! A counting global allocator for tests that pin allocations: each test binary that uses it
//! declares `#[global_allocator] static GLOBAL: Counting = Counting;` and measures with
//! [`during`]. Counts are per thread (tests run in parallel in one process) and only while a
//! measurement runs on that thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting the calls and bytes of the thread inside [`during`].
pub struct Counting;

thread_local! {
    // Const-initialised `Cell`s: reading and writing them never allocates.
    static ON: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<usize> = const { Cell::new(0) };
    static NET_BYTES: Cell<isize> = const { Cell::new(0) };
}

/// What a closure asked of the allocator on its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Allocations and reallocations.
    pub calls: usize,
    /// Bytes allocated net of those freed.
    pub net_bytes: isize,
}

/// Runs `f` and returns its result with what it allocated on this thread.
pub fn during<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    CALLS.with(|c| c.set(0));
    NET_BYTES.with(|b| b.set(0));
    ON.with(|on| on.set(true));
    let r = f();
    ON.with(|on| on.set(false));
    let usage = Usage {
        calls: CALLS.with(Cell::get),
        net_bytes: NET_BYTES.with(Cell::get),
    };
    (r, usage)
}

fn count(calls: usize, bytes: isize) {
    // `try_with`: an allocation during thread teardown is not an error.
    let _ = ON.try_with(|on| {
        if on.get() {
            CALLS.with(|c| c.set(c.get() + calls));
            NET_BYTES.with(|b| b.set(b.get() + bytes));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters
// are const-initialised thread-local `Cell`s, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(1, layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(1, layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(1, new_size as isize - layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(0, -(layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}
