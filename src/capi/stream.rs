//! Stream input: for sensors that see connections and stream bytes, not packets (Windows WFP
//! stream layer with ALE connect events, macOS NetworkExtension content filters).

use super::engine::{on_engine, packet_context};
use super::types::{cloudsight_context, cloudsight_flow_tuple, cloudsight_verdict, read_tuple};
use super::{cloudsight_engine, cloudsight_result, enum_from_u32, input_slice, try_c, write_opt};
use crate::StreamDirection;

/// Which way stream bytes go, relative to the tuple given to `cloudsight_engine_open_flow`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_stream_direction {
    /// From the tuple's `src` (the client) to its `dst` (the server).
    ClientToServer = 1,
    /// From the server to the client.
    ServerToClient = 2,
}

enum_from_u32!(cloudsight_stream_direction {
    ClientToServer,
    ServerToClient
});

/// A connection opened (e.g. an ALE connect event): `tuple->src` is the client, `tuple->dst` the
/// server; `ctx` (nullable) the process and user behind it. `*verdict` (if not NULL) gets the
/// flow's verdict (a server named by an earlier DNS answer can already be `BLOCK`), or `ALLOW` on
/// any error. A context is never a reason to fail (see `cloudsight_engine_process_packet`).
///
/// Errors: `NULL_PARAMETER` (`engine`, `tuple`); `STRUCT_SIZE` (tuple); `INVALID_ARGUMENT` (tuple
/// protocol or address family); `SHUT_DOWN`; `POISONED`; `PANIC`. Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `tuple` is NULL or a readable tuple;
/// `ctx` is NULL or a context as `cloudsight_context` describes; `verdict` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_open_flow(
    engine: *const cloudsight_engine,
    tuple: *const cloudsight_flow_tuple,
    ctx: *const cloudsight_context,
    ts_ns: u64,
    verdict: *mut cloudsight_verdict,
) -> cloudsight_result {
    // SAFETY: NULL or writable (caller contract). Written first so that errors leave ALLOW.
    unsafe { write_opt(verdict, cloudsight_verdict::Allow) };
    on_engine!(engine, |engine, shell| {
        // SAFETY: forwarded from the caller's contract.
        let tuple = try_c!(unsafe { read_tuple(tuple) });
        // SAFETY: forwarded from the caller's contract.
        let context = unsafe { packet_context(ctx, shell) };
        let v = engine.open_flow(&tuple, context.as_ref().map(|c| c.as_ref()), ts_ns);
        // SAFETY: NULL or writable (caller contract).
        unsafe { write_opt(verdict, v.into()) };
        cloudsight_result::Ok
    })
}

/// Bytes of a stream, in order: `data`/`len` are the bytes the OS handed over (the first few KiB
/// are all naming needs; later chunks may pass `len` 0 and only count), `wire_bytes` what this
/// chunk counts on the wire (records sum it into bytes up/down; each call counts as one packet).
/// `direction` is a `cloudsight_stream_direction`. A flow not opened yet is opened with
/// `tuple->src` as client. `*verdict` (if not NULL) gets the flow's verdict, or `ALLOW` on any
/// error.
///
/// Errors: `NULL_PARAMETER` (`engine`, `tuple`, `data` with `len` > 0); `STRUCT_SIZE` (tuple);
/// `INVALID_ARGUMENT` (direction, tuple, `len` over PTRDIFF_MAX); `SHUT_DOWN`; `POISONED`;
/// `PANIC`. Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `tuple` is NULL or a readable tuple;
/// `data` is readable for `len` bytes; `verdict` is NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: one scalar per fact, no struct to fill
pub unsafe extern "C" fn cloudsight_engine_stream_data(
    engine: *const cloudsight_engine,
    tuple: *const cloudsight_flow_tuple,
    direction: u32,
    data: *const u8,
    len: usize,
    wire_bytes: u64,
    ts_ns: u64,
    verdict: *mut cloudsight_verdict,
) -> cloudsight_result {
    // SAFETY: NULL or writable (caller contract). Written first so that errors leave ALLOW.
    unsafe { write_opt(verdict, cloudsight_verdict::Allow) };
    on_engine!(engine, |engine, _shell| {
        // SAFETY: readable for `len` bytes (caller contract).
        let bytes = try_c!(unsafe { input_slice(data, len) });
        let direction = match cloudsight_stream_direction::from_u32(direction) {
            Some(cloudsight_stream_direction::ClientToServer) => StreamDirection::ClientToServer,
            Some(cloudsight_stream_direction::ServerToClient) => StreamDirection::ServerToClient,
            None => return cloudsight_result::InvalidArgument,
        };
        // SAFETY: forwarded from the caller's contract.
        let tuple = try_c!(unsafe { read_tuple(tuple) });
        let v = engine.stream_data(&tuple, direction, bytes, wire_bytes, ts_ns);
        // SAFETY: NULL or writable (caller contract).
        unsafe { write_opt(verdict, v.into()) };
        cloudsight_result::Ok
    })
}

/// A connection closed: the flow ends now (reason fin) and its record is queued.
///
/// Errors: `NULL_PARAMETER`; `STRUCT_SIZE`; `INVALID_ARGUMENT` (tuple); `NOT_FOUND` (no such flow
/// is tracked: never opened, or already ended); `SHUT_DOWN`; `POISONED`; `PANIC`. Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `tuple` is NULL or a readable tuple.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_close_flow(
    engine: *const cloudsight_engine,
    tuple: *const cloudsight_flow_tuple,
    ts_ns: u64,
) -> cloudsight_result {
    on_engine!(engine, |engine, _shell| {
        // SAFETY: forwarded from the caller's contract.
        let tuple = try_c!(unsafe { read_tuple(tuple) });
        if engine.close_flow(&tuple, ts_ns) {
            cloudsight_result::Ok
        } else {
            cloudsight_result::NotFound
        }
    })
}
