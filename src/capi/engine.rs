//! `cloudsight_engine`: create, feed, drain, free.

use super::abi::{check_output_size, read_input, write_output, write_sized};
use super::handle::{shut_down, with_engine, Shell};
use super::types::{
    cloudsight_config, cloudsight_context, cloudsight_encoding, cloudsight_flow_tuple,
    cloudsight_stats, cloudsight_verdict, read_context, read_tuple, OwnedContext,
};
use super::{
    cloudsight_engine, cloudsight_record, cloudsight_result, ffi_boundary, input_slice, non_null,
    try_c, write_opt,
};
use crate::{Config, EncodeError, Encoding, Engine, LinkType};

/// Run an export body on the engine behind `engine` (NULL, freed and poisoned handles refused).
macro_rules! on_engine {
    ($handle:expr, |$e:ident, $shell:pat_param| $body:block) => {{
        let body = |$e: &$crate::Engine,
                    $shell: &$crate::capi::handle::Shell|
         -> cloudsight_result { $body };
        // SAFETY: `$handle` is NULL or came from cloudsight_engine_new (every export's contract).
        unsafe { $crate::capi::handle::with_engine($handle, false, |r| r, body) }
    }};
}
pub(crate) use on_engine;

/// Read a context for a packet or stream call: a context that cannot be read costs only itself
/// (counted), never the packet.
///
/// # Safety
/// As `read_context`.
pub(crate) unsafe fn packet_context<'a>(
    ctx: *const cloudsight_context,
    shell: &Shell,
) -> Option<OwnedContext<'a>> {
    // SAFETY: forwarded from the caller's contract.
    match unsafe { read_context(ctx) } {
        Ok(c) => c,
        Err(_) => {
            shell.count_invalid_context();
            None
        }
    }
}

/// Fill `*out` with the default configuration, up to `out->struct_size` (which the caller sets
/// first; fields past it are left alone). Device strings are NULL.
///
/// Errors: `NULL_PARAMETER` for a NULL `out`; `STRUCT_SIZE` for a `struct_size` under 4.
/// Thread-safe; needs no engine.
///
/// # Safety
/// `out` is NULL or points to a config writable for its `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_config_default(
    out: *mut cloudsight_config,
) -> cloudsight_result {
    ffi_boundary!({
        let config = cloudsight_config::from_config(&Config::default());
        // SAFETY: forwarded from the caller's contract.
        try_c!(unsafe { write_output(out, &config) });
        cloudsight_result::Ok
    })
}

/// Create an engine. `config` may be NULL for the defaults; fields past its `struct_size` take
/// their defaults. On success `*out` holds the handle, to be released with
/// `cloudsight_engine_free`; on failure `*out` is left unchanged.
///
/// Errors: `NULL_PARAMETER` (`out`); `STRUCT_SIZE` (config's `struct_size`);
/// `INVALID_CONFIG` for out-of-range values (zero flow bound, zero queue, zero timeouts, a seed
/// over 65535); `INVALID_ARGUMENT` for device strings that are not UTF-8 or over 1024 bytes.
/// Thread-safe. Allocates the engine's fixed structures (record queue, table).
///
/// # Safety
/// `config` is NULL or a config readable for its `struct_size` bytes whose device strings are
/// NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_new(
    config: *const cloudsight_config,
    out: *mut *mut cloudsight_engine,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(out);
        let config = if config.is_null() {
            Config::default()
        } else {
            let defaults = cloudsight_config::from_config(&Config::default());
            // SAFETY: forwarded from the caller's contract.
            let c = try_c!(unsafe { read_input(config, defaults) });
            // SAFETY: the device strings are NULL or NUL-terminated (caller contract).
            try_c!(unsafe { c.rust_config() })
        };
        let engine = match Engine::new(config) {
            Ok(e) => e,
            Err(_) => return cloudsight_result::InvalidConfig,
        };
        // SAFETY: `out` is non-NULL and writable (caller contract).
        unsafe { out.write(Shell::create(engine)) };
        cloudsight_result::Ok
    })
}

/// Free an engine and every record it still holds. NULL, and a handle already freed, are no-ops.
/// Safe to call while other threads are inside calls on the engine: it returns at once, those
/// calls finish normally, the memory is released when the last of them returns, and every later
/// call on the handle returns `SHUT_DOWN` (the handle's ~1 KiB shell stays allocated so that late
/// calls never touch freed memory).
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_free(engine: *mut cloudsight_engine) {
    ffi_boundary!((), {
        if !engine.is_null() {
            // SAFETY: a handle from cloudsight_engine_new (caller contract).
            unsafe { shut_down(engine) };
        }
    })
}

/// Feed one captured frame. `link_type` is a pcap LINKTYPE number (0, 1, 7, 9, 10, 50, 101, 104,
/// 105, 108, 113, 119, 127, 129, 163, 192, 228, 229, 239, 276); `ts_ns` the capture time in ns since the Unix epoch; `ctx` the process and user behind the
/// packet, or NULL. `*verdict` (if `verdict` is not NULL) gets the verdict for the packet's flow:
/// on success the policy's answer, on any error `CLOUDSIGHT_VERDICT_ALLOW` (fail open; initialise
/// it anyway). Frames that are not TCP/UDP over IP, or malformed, are counted in the stats and
/// succeed with ALLOW. A context is never a reason to fail: one that cannot be read is skipped and
/// counted (`context_invalid`), text that is not UTF-8 is decoded lossily (`context_lossy`).
///
/// Errors: `NULL_PARAMETER` (`engine`; `data` NULL with `len` > 0); `INVALID_ARGUMENT` (`len` over
/// PTRDIFF_MAX); `UNKNOWN_LINK_TYPE`; `SHUT_DOWN`; `POISONED`; `PANIC`. Thread-safe; never blocks
/// on other threads' draining; no allocation for packets of named flows.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `data` is readable for `len` bytes;
/// `ctx` is NULL or a context as `cloudsight_context` describes; `verdict` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_process_packet(
    engine: *const cloudsight_engine,
    link_type: u32,
    data: *const u8,
    len: usize,
    ts_ns: u64,
    ctx: *const cloudsight_context,
    verdict: *mut cloudsight_verdict,
) -> cloudsight_result {
    // SAFETY: NULL or writable (caller contract). Written first so that errors leave ALLOW.
    unsafe { write_opt(verdict, cloudsight_verdict::Allow) };
    on_engine!(engine, |engine, shell| {
        // SAFETY: readable for `len` bytes (caller contract).
        let frame = try_c!(unsafe { input_slice(data, len) });
        let Some(link) = LinkType::from_linktype(link_type) else {
            return cloudsight_result::UnknownLinkType;
        };
        // SAFETY: forwarded from the caller's contract.
        let context = unsafe { packet_context(ctx, shell) };
        let v = engine.process_packet(link, frame, ts_ns, context.as_ref().map(|c| c.as_ref()));
        // SAFETY: NULL or writable (caller contract).
        unsafe { write_opt(verdict, v.into()) };
        cloudsight_result::Ok
    })
}

/// Bind process and user context to a flow's 5-tuple (either direction), before or after its first
/// packet; the latest binding wins. `ts_ns` is now, on the packets' clock.
///
/// Errors: `NULL_PARAMETER` (`engine`, `tuple`, `ctx`); `STRUCT_SIZE` (tuple or context);
/// `INVALID_ARGUMENT` (tuple protocol or address family); `SHUT_DOWN`; `POISONED`; `PANIC`.
/// Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `tuple` is NULL or a readable tuple;
/// `ctx` is NULL or a context as `cloudsight_context` describes.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_bind_context(
    engine: *const cloudsight_engine,
    tuple: *const cloudsight_flow_tuple,
    ctx: *const cloudsight_context,
    ts_ns: u64,
) -> cloudsight_result {
    on_engine!(engine, |engine, _shell| {
        non_null!(ctx);
        // SAFETY: forwarded from the caller's contract.
        let tuple = try_c!(unsafe { read_tuple(tuple) });
        // SAFETY: forwarded from the caller's contract.
        let context = try_c!(unsafe { read_context(ctx) });
        let Some(context) = context else {
            return cloudsight_result::NullParameter;
        };
        engine.bind_context(&tuple, context.as_ref(), ts_ns);
        cloudsight_result::Ok
    })
}

/// Advance time to `now_ns`: ends idle flows and lingering closed connections, emits update records
/// for long flows. Call it about once a second from any thread.
///
/// Errors: `NULL_PARAMETER`; `SHUT_DOWN`; `POISONED`; `PANIC`. Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_tick(
    engine: *const cloudsight_engine,
    now_ns: u64,
) -> cloudsight_result {
    on_engine!(engine, |engine, _shell| {
        engine.tick(now_ns);
        cloudsight_result::Ok
    })
}

/// End every flow now with reason flush (end of a capture, shutdown); their records can then be
/// drained. Records that do not fit in the queue wait beside it (at most one per flow).
///
/// Errors: `NULL_PARAMETER`; `SHUT_DOWN`; `POISONED`; `PANIC`. Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_flush(
    engine: *const cloudsight_engine,
    now_ns: u64,
) -> cloudsight_result {
    on_engine!(engine, |engine, _shell| {
        engine.flush(now_ns);
        cloudsight_result::Ok
    })
}

/// Move up to `capacity` records into the caller's array `out`, whose elements are `record_size`
/// bytes apart (pass `sizeof(cloudsight_record)`); `*written` gets how many. Each record is
/// filled up to `record_size` bytes and its `struct_size` says how many the library filled.
/// Records not taken stay queued for the next call. `out` may be NULL only when `capacity` is 0.
///
/// Errors: `NULL_PARAMETER` (`engine`, `written`, `out`); `STRUCT_SIZE` (`record_size` under 8
/// or over 65536); `INVALID_ARGUMENT` (`capacity * record_size` over PTRDIFF_MAX); `SHUT_DOWN`;
/// `POISONED`; `PANIC`. `*written` is set to 0 on every error. Thread-safe; several threads may
/// drain at once (each record goes to one of them).
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `out` is writable for
/// `capacity * record_size` bytes; `written` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_drain(
    engine: *const cloudsight_engine,
    out: *mut cloudsight_record,
    capacity: usize,
    record_size: usize,
    written: *mut usize,
) -> cloudsight_result {
    non_null!(written);
    // SAFETY: non-NULL and writable (caller contract).
    unsafe { written.write(0) };
    on_engine!(engine, |engine, _shell| {
        if out.is_null() && capacity != 0 {
            return cloudsight_result::NullParameter;
        }
        try_c!(check_output_size::<cloudsight_record>(record_size));
        if capacity
            .checked_mul(record_size)
            .is_none_or(|b| b > isize::MAX as usize)
        {
            return cloudsight_result::InvalidArgument;
        }
        let base = out as *mut u8;
        let mut n = 0usize;
        engine.drain_with(|record| {
            if n >= capacity {
                return false;
            }
            let mut slot = cloudsight_record::zeroed();
            slot.fill(record);
            // SAFETY: `out` holds `capacity` writable elements `record_size` bytes apart and
            // n < capacity; record_size >= 8 (checked).
            unsafe {
                write_sized(
                    base.add(n * record_size) as *mut cloudsight_record,
                    record_size,
                    &slot,
                )
            };
            n += 1;
            true
        });
        // SAFETY: non-NULL and writable (caller contract).
        unsafe { written.write(n) };
        cloudsight_result::Ok
    })
}

/// Move whole records into `buf` (`capacity` bytes) in `encoding` (a `cloudsight_encoding`);
/// `*written` gets the bytes used (0 when no record waits). When not even one record fits,
/// nothing is taken, the result is `BUFFER_TOO_SMALL` and `*written` holds the size the next
/// record needs. JSON lines are not NUL-terminated.
///
/// Errors: `NULL_PARAMETER` (`engine`, `written`, `buf` with `capacity` > 0); `INVALID_ARGUMENT`
/// (unknown encoding, `capacity` over PTRDIFF_MAX); `BUFFER_TOO_SMALL`; `SHUT_DOWN`; `POISONED`;
/// `PANIC`. `*written` is 0 on every other error. Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `buf` is writable for `capacity` bytes;
/// `written` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_drain_encoded(
    engine: *const cloudsight_engine,
    encoding: u32,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> cloudsight_result {
    non_null!(written);
    // SAFETY: non-NULL and writable (caller contract).
    unsafe { written.write(0) };
    on_engine!(engine, |engine, _shell| {
        let encoding = match cloudsight_encoding::from_u32(encoding) {
            Some(cloudsight_encoding::JsonLines) => Encoding::JsonLines,
            Some(cloudsight_encoding::BincodeBatch) => Encoding::BincodeBatch,
            None => return cloudsight_result::InvalidArgument,
        };
        // SAFETY: writable for `capacity` bytes (caller contract).
        let out = try_c!(unsafe { super::output_slice(buf, capacity) });
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

/// Copy the engine's counters into `*out`, up to `out->struct_size` (set it first). Works on a
/// poisoned engine too: then it fills `*out` (with `poisoned` = 1) and returns `POISONED`.
///
/// Errors: `NULL_PARAMETER`; `STRUCT_SIZE`; `SHUT_DOWN`; `POISONED` (with `*out` filled);
/// `PANIC`. Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `out` is NULL or a stats struct
/// writable for its `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_stats(
    engine: *const cloudsight_engine,
    out: *mut cloudsight_stats,
) -> cloudsight_result {
    non_null!(out);
    let body = |engine: &Engine, shell: &Shell| -> cloudsight_result {
        let poisoned = shell.is_poisoned();
        let stats =
            cloudsight_stats::from_stats(&engine.stats(), poisoned, shell.invalid_contexts());
        // SAFETY: writable for its struct_size bytes (caller contract).
        try_c!(unsafe { write_output(out, &stats) });
        if poisoned {
            cloudsight_result::Poisoned
        } else {
            cloudsight_result::Ok
        }
    };
    // SAFETY: NULL or from cloudsight_engine_new (caller contract).
    unsafe { with_engine(engine, true, |r| r, body) }
}
