//! `cloudsight_engine`: create, feed, drain, free.

use std::ffi::c_char;

use super::types::{
    cloudsight_config, cloudsight_context, cloudsight_encoding, cloudsight_flow_tuple,
    cloudsight_stats, cloudsight_verdict, read_context, read_tuple,
};
use super::{cloudsight_record, cloudsight_result, ffi_boundary, non_null};
use crate::{Config, EncodeError, Encoding, Engine, LinkType};

/// The engine: one per sensor, shared by all its threads. Every call on it is thread-safe, except
/// `cloudsight_engine_free`, which must be the last call on it.
pub struct cloudsight_engine {
    _private: [u8; 0],
}

/// Borrow the engine behind a handle.
///
/// # Safety
/// `engine` is a non-NULL handle from `cloudsight_engine_new` that has not been freed.
pub(crate) unsafe fn engine_ref<'a>(engine: *const cloudsight_engine) -> &'a Engine {
    // SAFETY: handles are `Box<Engine>` pointers cast to the opaque type (see engine_new).
    unsafe { &*(engine as *const Engine) }
}

/// Write the default configuration to `*out` (device strings NULL).
#[no_mangle]
pub extern "C" fn cloudsight_config_default(out: *mut cloudsight_config) -> cloudsight_result {
    ffi_boundary!({
        non_null!(out);
        let config = cloudsight_config::from_config(&Config::default());
        // SAFETY: `out` is non-NULL and points to writable memory for one config (caller contract).
        unsafe { out.write(config) };
        cloudsight_result::Ok
    })
}

/// Create an engine. `config` may be NULL for the defaults. On success `*out` holds the handle,
/// to be released with `cloudsight_engine_free`; on failure `*out` is left unchanged.
/// Returns `CLOUDSIGHT_RESULT_INVALID_CONFIG` for out-of-range values (zero flow bound, zero queue,
/// zero timeouts) and `CLOUDSIGHT_RESULT_INVALID_ARGUMENT` for device strings that are not UTF-8.
#[no_mangle]
pub extern "C" fn cloudsight_engine_new(
    config: *const cloudsight_config,
    out: *mut *mut cloudsight_engine,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(out);
        let config = if config.is_null() {
            Config::default()
        } else {
            // SAFETY: non-NULL; points to a config whose strings are NULL or NUL-terminated.
            match unsafe { (*config).rust_config() } {
                Ok(c) => c,
                Err(e) => return e,
            }
        };
        let engine = match Engine::new(config) {
            Ok(e) => e,
            Err(_) => return cloudsight_result::InvalidConfig,
        };
        let handle = Box::into_raw(Box::new(engine)) as *mut cloudsight_engine;
        // SAFETY: `out` is non-NULL and writable (caller contract).
        unsafe { out.write(handle) };
        cloudsight_result::Ok
    })
}

/// Free an engine and every record it still holds. NULL is a no-op. No other call on the engine
/// may be running or follow.
#[no_mangle]
pub extern "C" fn cloudsight_engine_free(engine: *mut cloudsight_engine) {
    ffi_boundary!((), {
        if !engine.is_null() {
            // SAFETY: a handle from cloudsight_engine_new, freed once (caller contract).
            drop(unsafe { Box::from_raw(engine as *mut Engine) });
        }
    })
}

/// Feed one captured frame. `link_type` is a pcap LINKTYPE number (0, 1, 101, 108, 113, 228, 229,
/// 276); `ts_ns` the capture time in ns since the Unix epoch; `ctx` the process and user behind the
/// packet, or NULL. On success `*verdict` (if `verdict` is not NULL) holds the verdict for the
/// packet's flow. Frames that are not TCP/UDP over IP, or malformed, are counted in the stats and
/// succeed with `CLOUDSIGHT_VERDICT_ALLOW`. `data` may be NULL only when `len` is 0.
#[no_mangle]
pub extern "C" fn cloudsight_engine_process_packet(
    engine: *const cloudsight_engine,
    link_type: u32,
    data: *const u8,
    len: usize,
    ts_ns: u64,
    ctx: *const cloudsight_context,
    verdict: *mut cloudsight_verdict,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        if data.is_null() && len != 0 {
            return cloudsight_result::NullParameter;
        }
        if len > isize::MAX as usize {
            return cloudsight_result::InvalidArgument;
        }
        let Some(link) = LinkType::from_linktype(link_type) else {
            return cloudsight_result::UnknownLinkType;
        };
        // SAFETY: a live handle (caller contract).
        let engine = unsafe { engine_ref(engine) };
        let frame: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: `data` is non-NULL and readable for `len` bytes (caller contract).
            unsafe { std::slice::from_raw_parts(data, len) }
        };
        // SAFETY: NULL or a context whose strings are NULL or NUL-terminated (caller contract).
        let context = match unsafe { read_context(ctx) } {
            Ok(c) => c,
            Err(e) => return e,
        };
        let v = engine.process_packet(link, frame, ts_ns, context);
        if !verdict.is_null() {
            // SAFETY: non-NULL and writable (caller contract).
            unsafe { verdict.write(v.into()) };
        }
        cloudsight_result::Ok
    })
}

/// Bind process and user context to a flow's 5-tuple (either direction), before or after its first
/// packet; the latest binding wins. `ts_ns` is now, on the packets' clock.
#[no_mangle]
pub extern "C" fn cloudsight_engine_bind_context(
    engine: *const cloudsight_engine,
    tuple: *const cloudsight_flow_tuple,
    ctx: *const cloudsight_context,
    ts_ns: u64,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        non_null!(ctx);
        // SAFETY: a live handle, a readable tuple, a context whose strings are NULL or
        // NUL-terminated (caller contract).
        let (engine, tuple, context) =
            unsafe { (engine_ref(engine), read_tuple(tuple), read_context(ctx)) };
        let (tuple, context) = match (tuple, context) {
            (Ok(t), Ok(Some(c))) => (t, c),
            (Err(e), _) | (_, Err(e)) => return e,
            (_, Ok(None)) => return cloudsight_result::NullParameter,
        };
        engine.bind_context(&tuple, context, ts_ns);
        cloudsight_result::Ok
    })
}

/// Advance time to `now_ns`: ends idle flows and lingering closed connections, emits update records
/// for long flows. Call it about once a second from any thread.
#[no_mangle]
pub extern "C" fn cloudsight_engine_tick(
    engine: *const cloudsight_engine,
    now_ns: u64,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        // SAFETY: a live handle (caller contract).
        unsafe { engine_ref(engine) }.tick(now_ns);
        cloudsight_result::Ok
    })
}

/// End every flow now with reason flush (end of a capture, shutdown); their records can then be
/// drained.
#[no_mangle]
pub extern "C" fn cloudsight_engine_flush(
    engine: *const cloudsight_engine,
    now_ns: u64,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        // SAFETY: a live handle (caller contract).
        unsafe { engine_ref(engine) }.flush(now_ns);
        cloudsight_result::Ok
    })
}

/// Move up to `capacity` records into the caller's array `out`; `*written` gets how many. Records
/// not taken stay queued for the next call. `out` may be NULL only when `capacity` is 0.
#[no_mangle]
pub extern "C" fn cloudsight_engine_drain(
    engine: *const cloudsight_engine,
    out: *mut cloudsight_record,
    capacity: usize,
    written: *mut usize,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        non_null!(written);
        if out.is_null() && capacity != 0 {
            return cloudsight_result::NullParameter;
        }
        // SAFETY: a live handle (caller contract).
        let engine = unsafe { engine_ref(engine) };
        let mut n = 0usize;
        engine.drain_with(|record| {
            if n >= capacity {
                return false;
            }
            let mut slot = cloudsight_record::zeroed();
            slot.fill(record);
            // SAFETY: `out` holds `capacity` writable records and n < capacity.
            unsafe { out.add(n).write(slot) };
            n += 1;
            true
        });
        // SAFETY: non-NULL and writable (caller contract).
        unsafe { written.write(n) };
        cloudsight_result::Ok
    })
}

/// Move whole records into `buf` (`capacity` bytes) in `encoding`; `*written` gets the bytes used
/// (0 when no record waits). When not even one record fits, nothing is taken, the result is
/// `CLOUDSIGHT_RESULT_BUFFER_TOO_SMALL` and `*written` holds the size the next record needs.
/// JSON lines are not NUL-terminated.
#[no_mangle]
pub extern "C" fn cloudsight_engine_drain_encoded(
    engine: *const cloudsight_engine,
    encoding: u32,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        non_null!(written);
        if buf.is_null() && capacity != 0 {
            return cloudsight_result::NullParameter;
        }
        if capacity > isize::MAX as usize {
            return cloudsight_result::InvalidArgument;
        }
        let encoding = match encoding {
            x if x == cloudsight_encoding::JsonLines as u32 => Encoding::JsonLines,
            x if x == cloudsight_encoding::BincodeBatch as u32 => Encoding::BincodeBatch,
            _ => return cloudsight_result::InvalidArgument,
        };
        // SAFETY: a live handle (caller contract).
        let engine = unsafe { engine_ref(engine) };
        let out: &mut [u8] = if capacity == 0 {
            &mut []
        } else {
            // SAFETY: `buf` is non-NULL and writable for `capacity` bytes (caller contract).
            unsafe { std::slice::from_raw_parts_mut(buf, capacity) }
        };
        let (result, n) = match engine.drain_encoded(encoding, out) {
            Ok(n) => (cloudsight_result::Ok, n),
            Err(EncodeError::BufferTooSmall { needed }) => {
                (cloudsight_result::BufferTooSmall, needed)
            }
        };
        // SAFETY: non-NULL and writable (caller contract).
        unsafe { written.write(n) };
        result
    })
}

/// Copy the engine's counters into `*out`.
#[no_mangle]
pub extern "C" fn cloudsight_engine_stats(
    engine: *const cloudsight_engine,
    out: *mut cloudsight_stats,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        non_null!(out);
        // SAFETY: a live handle; `out` non-NULL and writable (caller contract).
        unsafe { out.write(engine_ref(engine).stats().into()) };
        cloudsight_result::Ok
    })
}

/// Test hook (not in the header): panics inside the export boundary, to show that a panic comes
/// back as `CLOUDSIGHT_RESULT_PANIC` instead of unwinding into C.
#[doc(hidden)]
#[no_mangle]
pub extern "C" fn cloudsight_test_panic(message: *const c_char) -> cloudsight_result {
    ffi_boundary!({
        let _ = message;
        panic!("cloudsight_test_panic called");
    })
}
