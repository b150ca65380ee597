//! The C ABI: thin wrappers over the Rust API, and the only place with `unsafe` code.
//!
//! Conventions (rustls-ffi's): every symbol carries the `cloudsight_` prefix; fallible calls return a
//! [`cloudsight_result`]; outputs are written only on success; every pointer is checked for NULL; no
//! panic crosses the boundary (each export catches it and returns `CLOUDSIGHT_RESULT_PANIC`).

#![allow(non_camel_case_types)]
// Exports take raw pointers from C by design; each dereference is checked and has a SAFETY note.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::{c_char, CStr};

mod catalog;
mod engine;
mod record;
mod stream;
mod types;

pub use catalog::*;
pub use engine::*;
pub use record::*;
pub use stream::*;
pub use types::*;

/// Result of every fallible call. Numbers are stable; retired numbers are never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_result {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 1,
    /// The library panicked; the call had no effect that can be relied on. Please report it.
    Panic = 2,
    /// A configuration value is out of range (for example a zero flow bound).
    InvalidConfig = 3,
    /// The pcap LINKTYPE is not one this library decodes.
    UnknownLinkType = 4,
    /// An argument is out of range: an unknown enum value, a string that is not UTF-8, a length
    /// too large.
    InvalidArgument = 5,
    /// The output buffer cannot hold even one record; `*written` holds the size needed.
    BufferTooSmall = 6,
    /// A catalog text did not load (syntax, unknown category, duplicate id or domain ...); the
    /// catalog in force is unchanged.
    InvalidCatalog = 7,
    /// No app with that id in the catalog in force.
    UnknownApp = 8,
    /// Nothing found: no app claims that name, or no such flow is tracked.
    NotFound = 9,
}

impl cloudsight_result {
    fn text(self) -> &'static CStr {
        match self {
            cloudsight_result::Ok => c"success",
            cloudsight_result::NullParameter => c"a required pointer argument was NULL",
            cloudsight_result::Panic => c"internal error: the library panicked (please report it)",
            cloudsight_result::InvalidConfig => c"a configuration value is out of range",
            cloudsight_result::UnknownLinkType => c"unknown link type (pcap LINKTYPE number)",
            cloudsight_result::InvalidArgument => {
                c"an argument is out of range (unknown enum value, non-UTF-8 text, length)"
            }
            cloudsight_result::BufferTooSmall => {
                c"output buffer too small for one record; *written holds the size needed"
            }
            cloudsight_result::InvalidCatalog => {
                c"the catalog did not load; the catalog in force is unchanged"
            }
            cloudsight_result::UnknownApp => c"no app with that id in the catalog",
            cloudsight_result::NotFound => c"not found (no such app or flow)",
        }
    }
}

/// Run an export's body, turning a panic into `$on_panic` so it never unwinds into C.
macro_rules! ffi_boundary {
    ($on_panic:expr, $body:block) => {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(_) => $on_panic,
        }
    };
    ($body:block) => {
        ffi_boundary!($crate::capi::cloudsight_result::Panic, $body)
    };
}
pub(crate) use ffi_boundary;

/// Return `CLOUDSIGHT_RESULT_NULL_PARAMETER` from the export when the pointer is NULL.
macro_rules! non_null {
    ($ptr:expr) => {
        if $ptr.is_null() {
            return $crate::capi::cloudsight_result::NullParameter;
        }
    };
}
pub(crate) use non_null;

/// Read an optional NUL-terminated UTF-8 string. NULL gives `Ok(None)`.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
unsafe fn opt_str<'a>(ptr: *const c_char) -> Result<Option<&'a str>, cloudsight_result> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str()
        .map(Some)
        .map_err(|_| cloudsight_result::InvalidArgument)
}

/// The text for a result code: a static NUL-terminated string, never NULL, never to be freed.
/// Unknown numbers give "unknown result code".
#[no_mangle]
pub extern "C" fn cloudsight_result_text(result: u32) -> *const c_char {
    let known = [
        cloudsight_result::Ok,
        cloudsight_result::NullParameter,
        cloudsight_result::Panic,
        cloudsight_result::InvalidConfig,
        cloudsight_result::UnknownLinkType,
        cloudsight_result::InvalidArgument,
        cloudsight_result::BufferTooSmall,
        cloudsight_result::InvalidCatalog,
        cloudsight_result::UnknownApp,
        cloudsight_result::NotFound,
    ];
    match known.iter().find(|r| **r as u32 == result) {
        Some(r) => r.text().as_ptr(),
        None => c"unknown result code".as_ptr(),
    }
}

/// The library version, e.g. "0.1.0": a static NUL-terminated string, never to be freed.
#[no_mangle]
pub extern "C" fn cloudsight_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}
