//! The C ABI: thin wrappers over the Rust API, and the only place with `unsafe` code.
//!
//! Conventions (rustls-ffi's, README "C API conventions"): every symbol carries the `cloudsight_`
//! prefix; fallible calls return a [`cloudsight_result`]; every pointer is checked for NULL; no
//! panic crosses the boundary (each export catches it, returns `CLOUDSIGHT_RESULT_PANIC` and
//! poisons the engine). Every struct the caller allocates starts with `struct_size` (see
//! [`abi`](self)'s `read_input` and `write_output`): an old caller and a new library, or a new
//! caller and an old library, each read and write only what the other knows.
//!
//! The exports are `unsafe extern "C" fn`: they dereference the caller's pointers, so safe Rust
//! must not be able to call them with dangling ones. Each one's `# Safety` section says what the
//! caller promises.

#![allow(non_camel_case_types)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, CStr};

mod abi;
mod catalog;
mod engine;
mod handle;
mod record;
mod stream;
mod types;
mod usage;

pub use catalog::*;
pub use engine::*;
pub use handle::cloudsight_engine;
pub use record::*;
pub use stream::*;
pub use types::*;
pub use usage::*;

#[doc(hidden)]
pub use handle::panic_inside_for_tests;

// The panic guarantee of every export needs unwinding: with `panic = "abort"` a bug would take the
// sensor's whole process down instead of returning CLOUDSIGHT_RESULT_PANIC.
#[cfg(all(panic = "abort", not(fuzzing)))]
compile_error!(
    "cloudsight's C ABI catches panics at its boundary and needs panic = \"unwind\" \
     (set [profile.*] panic = \"unwind\")"
);

/// Major version of this header (semver of the library).
pub const CLOUDSIGHT_VERSION_MAJOR: u32 = 0;
/// Minor version of this header. While the major is 0, a minor release may change the ABI (and
/// the shared library's SONAME says so: libcloudsight.so.0.MINOR).
pub const CLOUDSIGHT_VERSION_MINOR: u32 = 2;
/// Patch version of this header.
pub const CLOUDSIGHT_VERSION_PATCH: u32 = 0;
/// This header's version as one number: major * 1000000 + minor * 1000 + patch. Compare it with
/// `cloudsight_version_number()` to tell the header a caller was compiled with from the library
/// it runs with.
pub const CLOUDSIGHT_VERSION_NUMBER: u32 = CLOUDSIGHT_VERSION_MAJOR * 1_000_000
    + CLOUDSIGHT_VERSION_MINOR * 1_000
    + CLOUDSIGHT_VERSION_PATCH;

/// Result of every fallible call. Numbers are stable; retired numbers are never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_result {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 1,
    /// The library panicked; the call had no effect that can be relied on, and the engine is now
    /// poisoned (later calls return CLOUDSIGHT_RESULT_POISONED). Please report it.
    Panic = 2,
    /// A configuration value is out of range (for example a zero flow bound).
    InvalidConfig = 3,
    /// The pcap LINKTYPE is not one this library decodes.
    UnknownLinkType = 4,
    /// An argument is out of range: an unknown enum value, a length too large, text that must be
    /// UTF-8 and is not.
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
    /// The engine was freed: the call did nothing (calls racing or following
    /// `cloudsight_engine_free` get this instead of touching freed memory).
    ShutDown = 10,
    /// An earlier call panicked inside the library (CLOUDSIGHT_RESULT_PANIC), so the engine's
    /// state can no longer be trusted: every call but `cloudsight_engine_stats` and
    /// `cloudsight_engine_free` returns this. Free the engine and create a new one.
    Poisoned = 11,
    /// A struct's `struct_size` is one this library cannot serve: smaller than the fields it
    /// needs, or larger with a field this library does not know set to non-zero.
    StructSize = 12,
}

/// Integer-to-enum conversion for the enums the ABI passes as plain integers: the list must name
/// every variant (a missing one fails to compile), so a new variant cannot be forgotten here.
macro_rules! enum_from_u32 {
    ($t:ident { $($v:ident),+ $(,)? }) => {
        impl $t {
            /// The variant whose number is `value`, if any.
            pub(crate) fn from_u32(value: u32) -> Option<$t> {
                // Exhaustiveness check of the list (compile time only).
                #[allow(dead_code)]
                fn all_listed(x: $t) {
                    match x {
                        $($t::$v)|+ => {}
                    }
                }
                $(if value == $t::$v as u32 {
                    return Some($t::$v);
                })+
                None
            }
        }
    };
}
pub(crate) use enum_from_u32;

enum_from_u32!(cloudsight_result {
    Ok,
    NullParameter,
    Panic,
    InvalidConfig,
    UnknownLinkType,
    InvalidArgument,
    BufferTooSmall,
    InvalidCatalog,
    UnknownApp,
    NotFound,
    ShutDown,
    Poisoned,
    StructSize,
});

impl cloudsight_result {
    fn text(self) -> &'static CStr {
        match self {
            cloudsight_result::Ok => c"success",
            cloudsight_result::NullParameter => c"a required pointer argument was NULL",
            cloudsight_result::Panic => {
                c"internal error: the library panicked and the engine is poisoned (please report it)"
            }
            cloudsight_result::InvalidConfig => c"a configuration value is out of range",
            cloudsight_result::UnknownLinkType => c"unknown link type (pcap LINKTYPE number)",
            cloudsight_result::InvalidArgument => {
                c"an argument is out of range (unknown enum value, length, non-UTF-8 text)"
            }
            cloudsight_result::BufferTooSmall => {
                c"output buffer too small for one record; *written holds the size needed"
            }
            cloudsight_result::InvalidCatalog => {
                c"the catalog did not load; the catalog in force is unchanged"
            }
            cloudsight_result::UnknownApp => c"no app with that id in the catalog",
            cloudsight_result::NotFound => c"not found (no such app or flow)",
            cloudsight_result::ShutDown => c"the engine was freed; the call did nothing",
            cloudsight_result::Poisoned => {
                c"the engine is poisoned by an earlier internal error; free it and create another"
            }
            cloudsight_result::StructSize => {
                c"struct_size not served by this library (too small, or unknown fields set)"
            }
        }
    }
}

/// Run a body, turning a panic into `$on_panic` so it never unwinds into C.
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

/// Evaluate a `Result<T, cloudsight_result>`, returning the error from the export.
macro_rules! try_c {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return e,
        }
    };
}
pub(crate) use try_c;

/// Borrow `len` bytes at `data` (NULL allowed only when `len` is 0).
///
/// # Safety
/// `data` is NULL or readable for `len` bytes for `'a`.
unsafe fn input_slice<'a>(data: *const u8, len: usize) -> Result<&'a [u8], cloudsight_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(cloudsight_result::NullParameter);
    }
    if len > isize::MAX as usize {
        return Err(cloudsight_result::InvalidArgument);
    }
    // SAFETY: non-NULL, readable for `len` bytes (caller contract), len <= isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// Borrow `len` writable bytes at `data` (NULL allowed only when `len` is 0).
///
/// # Safety
/// `data` is NULL or writable for `len` bytes for `'a`, and nothing else accesses them meanwhile.
unsafe fn output_slice<'a, T>(data: *mut T, len: usize) -> Result<&'a mut [T], cloudsight_result> {
    if len == 0 {
        return Ok(&mut []);
    }
    if data.is_null() {
        return Err(cloudsight_result::NullParameter);
    }
    if len
        .checked_mul(std::mem::size_of::<T>().max(1))
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(cloudsight_result::InvalidArgument);
    }
    // SAFETY: non-NULL, writable and exclusively ours for `len` elements (caller contract).
    Ok(unsafe { std::slice::from_raw_parts_mut(data, len) })
}

/// Write `value` to an optional output pointer (NULL: the caller does not want it).
///
/// # Safety
/// `out` is NULL or writable for one `T`.
unsafe fn write_opt<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable (caller contract).
        unsafe { out.write(value) };
    }
}

/// Read a NUL-terminated string of at most `max` bytes (longer ones are cut at `max`; `true`
/// says so). NULL gives `None`. Never reads past the NUL or past `max + 1` bytes.
///
/// # Safety
/// `ptr` is NULL or points to a string that is NUL-terminated or readable for `max + 1` bytes,
/// and outlives `'a`.
unsafe fn bounded_bytes<'a>(ptr: *const c_char, max: usize) -> (Option<&'a [u8]>, bool) {
    if ptr.is_null() {
        return (None, false);
    }
    let mut len = 0;
    // SAFETY: every byte read is at or before the NUL, and at most `max` + 1 bytes in.
    while len <= max && unsafe { *ptr.add(len) } != 0 {
        len += 1;
    }
    let cut = len > max;
    // SAFETY: the `len.min(max)` bytes before are readable (just read).
    let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len.min(max)) };
    (Some(bytes), cut)
}

/// Read an optional NUL-terminated UTF-8 string of at most `max` bytes: NULL is `Ok(None)`; text
/// that is not UTF-8 or longer is `InvalidArgument` (for names and ids that must be exact).
///
/// # Safety
/// As [`bounded_bytes`].
unsafe fn exact_str<'a>(
    ptr: *const c_char,
    max: usize,
) -> Result<Option<&'a str>, cloudsight_result> {
    // SAFETY: forwarded from the caller's contract.
    match unsafe { bounded_bytes(ptr, max) } {
        (None, _) => Ok(None),
        (Some(_), true) => Err(cloudsight_result::InvalidArgument),
        (Some(b), false) => std::str::from_utf8(b)
            .map(Some)
            .map_err(|_| cloudsight_result::InvalidArgument),
    }
}

/// Longest name, id or domain argument read from C (device id/name, app id, domain, host).
pub(crate) const MAX_ARG_TEXT: usize = 1024;

/// The text for a result code: a static NUL-terminated string, never NULL, never to be freed.
/// Unknown numbers give "unknown result code". Thread-safe; callable at any time, also without an
/// engine.
#[no_mangle]
pub extern "C" fn cloudsight_result_text(result: u32) -> *const c_char {
    match cloudsight_result::from_u32(result) {
        Some(r) => r.text().as_ptr(),
        None => c"unknown result code".as_ptr(),
    }
}

/// The library's version as text, e.g. "0.2.0": a static NUL-terminated string, never to be
/// freed. Thread-safe.
#[no_mangle]
pub extern "C" fn cloudsight_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// The library's version as a number (see `CLOUDSIGHT_VERSION_NUMBER`), for a caller to check at
/// run time that the library it loaded is the one its header describes: the same major and, while
/// the major is 0, the same minor. Thread-safe.
#[no_mangle]
pub extern "C" fn cloudsight_version_number() -> u32 {
    CLOUDSIGHT_VERSION_NUMBER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constants_are_the_crate_version() {
        assert_eq!(
            format!(
                "{CLOUDSIGHT_VERSION_MAJOR}.{CLOUDSIGHT_VERSION_MINOR}.{CLOUDSIGHT_VERSION_PATCH}"
            ),
            env!("CARGO_PKG_VERSION")
        );
    }

    #[test]
    fn every_result_code_has_distinct_text() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..64 {
            if let Some(r) = cloudsight_result::from_u32(n) {
                assert_eq!(r as u32, n);
                assert!(seen.insert(r.text().to_bytes()), "{r:?} repeats a text");
            }
        }
        assert_eq!(seen.len(), 13);
    }

    #[test]
    fn bounded_reads_stop_at_the_bound() {
        let long = [b'a' as c_char; 10];
        // SAFETY: `long` is readable for 10 bytes = max + 1.
        let (bytes, cut) = unsafe { bounded_bytes(long.as_ptr(), 9) };
        assert_eq!(bytes.map(<[u8]>::len), Some(9));
        assert!(cut);
        // SAFETY: a NUL-terminated literal.
        let (bytes, cut) = unsafe { bounded_bytes(c"abc".as_ptr(), 9) };
        assert_eq!(bytes, Some(&b"abc"[..]));
        assert!(!cut);
    }
}

#[cfg(test)]
mod layout {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// The layout checks at the end of the header are the Rust layout.
    #[test]
    fn header_layout_asserts_are_the_rust_layout() {
        let rust: Vec<(&str, usize)> = vec![
            ("sizeof(cloudsight_ip)", size_of::<cloudsight_ip>()),
            (
                "sizeof(cloudsight_flow_tuple)",
                size_of::<cloudsight_flow_tuple>(),
            ),
            (
                "offsetof(cloudsight_flow_tuple, src)",
                offset_of!(cloudsight_flow_tuple, src),
            ),
            (
                "sizeof(cloudsight_context)",
                size_of::<cloudsight_context>(),
            ),
            (
                "offsetof(cloudsight_context, pid)",
                offset_of!(cloudsight_context, pid),
            ),
            (
                "offsetof(cloudsight_context, process_path)",
                offset_of!(cloudsight_context, process_path),
            ),
            ("sizeof(cloudsight_config)", size_of::<cloudsight_config>()),
            (
                "offsetof(cloudsight_config, max_flows)",
                offset_of!(cloudsight_config, max_flows),
            ),
            ("sizeof(cloudsight_stats)", size_of::<cloudsight_stats>()),
            (
                "offsetof(cloudsight_stats, packets)",
                offset_of!(cloudsight_stats, packets),
            ),
            ("sizeof(cloudsight_record)", size_of::<cloudsight_record>()),
            (
                "offsetof(cloudsight_record, client_ip)",
                offset_of!(cloudsight_record, client_ip),
            ),
            (
                "offsetof(cloudsight_record, server_name)",
                offset_of!(cloudsight_record, server_name),
            ),
            (
                "offsetof(cloudsight_record, user_id)",
                offset_of!(cloudsight_record, user_id),
            ),
            (
                "offsetof(cloudsight_record, instance)",
                offset_of!(cloudsight_record, instance),
            ),
            (
                "sizeof(cloudsight_app_info)",
                size_of::<cloudsight_app_info>(),
            ),
            (
                "sizeof(cloudsight_usage_row)",
                size_of::<cloudsight_usage_row>(),
            ),
            (
                "offsetof(cloudsight_usage_row, client_ip)",
                offset_of!(cloudsight_usage_row, client_ip),
            ),
            (
                "offsetof(cloudsight_usage_row, app_id)",
                offset_of!(cloudsight_usage_row, app_id),
            ),
            (
                "offsetof(cloudsight_usage_row, process_path)",
                offset_of!(cloudsight_usage_row, process_path),
            ),
        ];
        let header = include_str!("../../include/cloudsight.h");
        let asserts: Vec<(String, usize)> = header
            .lines()
            .filter_map(|l| l.strip_prefix("CLOUDSIGHT_STATIC_ASSERT("))
            .filter_map(|l| {
                let (expr, rest) = l.rsplit_once(" == ")?;
                let n = rest.split(',').next()?.trim().parse().ok()?;
                Some((expr.to_owned(), n))
            })
            .collect();
        assert_eq!(
            asserts.len(),
            rust.len(),
            "every header layout check has a Rust twin"
        );
        for (expr, n) in &asserts {
            let (_, actual) = rust
                .iter()
                .find(|(e, _)| e == expr)
                .unwrap_or_else(|| panic!("no Rust twin for `{expr}`"));
            assert_eq!(actual, n, "{expr}: Rust says {actual}, the header {n}");
        }
    }
}
