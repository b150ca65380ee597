//! Stream input: for sensors that see connections and stream bytes, not packets (Windows WFP
//! stream layer with ALE connect events, macOS NetworkExtension content filters).

use super::engine::engine_ref;
use super::types::{
    cloudsight_context, cloudsight_flow_tuple, cloudsight_verdict, read_context, read_tuple,
};
use super::{cloudsight_engine, cloudsight_result, ffi_boundary, non_null};
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

/// A connection opened (e.g. an ALE connect event): `tuple->src` is the client, `tuple->dst` the
/// server; `ctx` (nullable) the process and user behind it. On success `*verdict` (if not NULL)
/// holds the flow's verdict: a server named by an earlier DNS answer can already be `BLOCK`.
#[no_mangle]
pub extern "C" fn cloudsight_engine_open_flow(
    engine: *const cloudsight_engine,
    tuple: *const cloudsight_flow_tuple,
    ctx: *const cloudsight_context,
    ts_ns: u64,
    verdict: *mut cloudsight_verdict,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        // SAFETY: a live handle, a readable tuple, NULL or a context whose strings are NULL or
        // NUL-terminated (caller contract).
        let (engine, tuple, context) =
            unsafe { (engine_ref(engine), read_tuple(tuple), read_context(ctx)) };
        let (tuple, context) = match (tuple, context) {
            (Ok(t), Ok(c)) => (t, c),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let v = engine.open_flow(&tuple, context, ts_ns);
        if !verdict.is_null() {
            // SAFETY: non-NULL and writable (caller contract).
            unsafe { verdict.write(v.into()) };
        }
        cloudsight_result::Ok
    })
}

/// Bytes of a stream, in order: `data`/`len` are the bytes the OS handed over (the first few KiB
/// are all naming needs; later chunks may pass `len` 0 and only count), `wire_bytes` what this
/// chunk counts on the wire (records sum it into bytes up/down; each call counts as one packet).
/// `direction` is a `cloudsight_stream_direction`. A flow not opened yet is opened with
/// `tuple->src` as client. On success `*verdict` (if not NULL) holds the flow's verdict.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: one scalar per fact, no struct to fill
pub extern "C" fn cloudsight_engine_stream_data(
    engine: *const cloudsight_engine,
    tuple: *const cloudsight_flow_tuple,
    direction: u32,
    data: *const u8,
    len: usize,
    wire_bytes: u64,
    ts_ns: u64,
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
        let direction = match direction {
            1 => StreamDirection::ClientToServer,
            2 => StreamDirection::ServerToClient,
            _ => return cloudsight_result::InvalidArgument,
        };
        // SAFETY: a live handle and a readable tuple (caller contract).
        let (engine, tuple) = unsafe { (engine_ref(engine), read_tuple(tuple)) };
        let tuple = match tuple {
            Ok(t) => t,
            Err(e) => return e,
        };
        let bytes: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: `data` is non-NULL and readable for `len` bytes (caller contract).
            unsafe { std::slice::from_raw_parts(data, len) }
        };
        let v = engine.stream_data(&tuple, direction, bytes, wire_bytes, ts_ns);
        if !verdict.is_null() {
            // SAFETY: non-NULL and writable (caller contract).
            unsafe { verdict.write(v.into()) };
        }
        cloudsight_result::Ok
    })
}

/// A connection closed: the flow ends now (reason fin) and its record is queued.
/// `CLOUDSIGHT_RESULT_NOT_FOUND` when no such flow is tracked (never opened, or already ended).
#[no_mangle]
pub extern "C" fn cloudsight_engine_close_flow(
    engine: *const cloudsight_engine,
    tuple: *const cloudsight_flow_tuple,
    ts_ns: u64,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        // SAFETY: a live handle and a readable tuple (caller contract).
        let (engine, tuple) = unsafe { (engine_ref(engine), read_tuple(tuple)) };
        let tuple = match tuple {
            Ok(t) => t,
            Err(e) => return e,
        };
        if engine.close_flow(&tuple, ts_ns) {
            cloudsight_result::Ok
        } else {
            cloudsight_result::NotFound
        }
    })
}
