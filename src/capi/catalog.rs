//! Catalog and policy: load a custom catalog, sanction apps and domains, look up a host's app.

use std::ffi::c_char;

use super::abi::{versioned, write_output, Zeroed};
use super::engine::on_engine;
use super::record::put;
use super::{
    cloudsight_engine, cloudsight_result, enum_from_u32, exact_str, input_slice, output_slice,
    try_c, MAX_ARG_TEXT,
};
use crate::{Catalog, Sanction};

/// Format of a catalog text given to `cloudsight_engine_load_catalog`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_catalog_format {
    /// TOML (the schema of the embedded catalog: `schema_version = 1`, `[[apps]]` or `apps = [...]`).
    Toml = 1,
    /// JSON with the same fields.
    Json = 2,
}

enum_from_u32!(cloudsight_catalog_format { Toml, Json });

/// What a loaded catalog does to the one in force.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_catalog_mode {
    /// The loaded catalog replaces the one in force (the embedded one included).
    Replace = 1,
    /// The loaded catalog extends the one in force; its apps override apps with the same id.
    Extend = 2,
}

enum_from_u32!(cloudsight_catalog_mode { Replace, Extend });

/// An admin's decision about an app or a registrable domain.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_sanction {
    /// Approved: verdict allow.
    Sanctioned = 0,
    /// Not approved: verdict block.
    Unsanctioned = 1,
    /// Watched: verdict monitor.
    Monitored = 2,
}

enum_from_u32!(cloudsight_sanction {
    Sanctioned,
    Unsanctioned,
    Monitored
});

impl cloudsight_sanction {
    fn rust(self) -> Sanction {
        match self {
            cloudsight_sanction::Sanctioned => Sanction::Sanctioned,
            cloudsight_sanction::Unsanctioned => Sanction::Unsanctioned,
            cloudsight_sanction::Monitored => Sanction::Monitored,
        }
    }
}

/// A catalog app, as `cloudsight_engine_lookup_app` returns it (fixed-size, nothing to free). Set
/// `struct_size` to `sizeof(cloudsight_app_info)` first; it comes back as the bytes filled.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cloudsight_app_info {
    /// In: `sizeof(cloudsight_app_info)` as the caller's header declares it. Out: bytes filled.
    pub struct_size: u32,
    /// Risk score 0-10 (10 = most trusted).
    pub risk: u8,
    /// Reserved (zero).
    pub reserved: [u8; 3],
    /// Stable app id (at most 63 bytes: never cut).
    pub id: [c_char; 64],
    /// Display name (at most 95 bytes: never cut).
    pub name: [c_char; 96],
    /// Category (Defender for Cloud Apps names).
    pub category: [c_char; 48],
}

impl Zeroed for cloudsight_app_info {
    fn zeroed() -> Self {
        cloudsight_app_info {
            struct_size: std::mem::size_of::<cloudsight_app_info>() as u32,
            risk: 0,
            reserved: [0; 3],
            id: [0; 64],
            name: [0; 96],
            category: [0; 48],
        }
    }
}

versioned!(
    cloudsight_app_info,
    min = struct_size,
    [struct_size, risk, reserved, id, name, category]
);

/// Load a catalog text (`len` bytes, not NUL-terminated, UTF-8) in `format` (a
/// `cloudsight_catalog_format`) and `mode` (a `cloudsight_catalog_mode`). Packets keep flowing;
/// flows already named keep their app. On `INVALID_CATALOG` the catalog in force is unchanged and
/// `error` (if not NULL, `error_len` bytes) gets the reason, NUL-terminated, with its line and
/// field: `line 12: apps[3].category: unknown category 'foo'`.
///
/// Errors: `NULL_PARAMETER` (`engine`, `text`); `INVALID_ARGUMENT`
/// (unknown format or mode, `len` or `error_len` over PTRDIFF_MAX); `INVALID_CATALOG`;
/// `SHUT_DOWN`; `POISONED`; `PANIC`. Thread-safe (concurrent loads are serialised).
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `text` is readable for `len` bytes;
/// `error` is NULL or writable for `error_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_load_catalog(
    engine: *const cloudsight_engine,
    text: *const u8,
    len: usize,
    format: u32,
    mode: u32,
    error: *mut c_char,
    error_len: usize,
) -> cloudsight_result {
    on_engine!(engine, |engine, _shell| {
        if text.is_null() {
            return cloudsight_result::NullParameter;
        }
        // SAFETY: readable for `len` bytes (caller contract).
        let bytes = try_c!(unsafe { input_slice(text, len) });
        // A NULL `error` means "no message wanted", whatever `error_len` says.
        let error_len = if error.is_null() { 0 } else { error_len };
        // SAFETY: writable for `error_len` bytes (caller contract).
        let error = try_c!(unsafe { output_slice(error, error_len) });
        let (Some(format), Some(mode)) = (
            cloudsight_catalog_format::from_u32(format),
            cloudsight_catalog_mode::from_u32(mode),
        ) else {
            return cloudsight_result::InvalidArgument;
        };
        let mut report = |message: &str| {
            if !error.is_empty() {
                put(error, message);
            }
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            report("catalog is not UTF-8");
            return cloudsight_result::InvalidCatalog;
        };
        let loaded = match format {
            cloudsight_catalog_format::Toml => Catalog::from_toml(text),
            cloudsight_catalog_format::Json => Catalog::from_json(text),
        };
        let catalog = match loaded {
            Ok(c) => c,
            Err(e) => {
                report(&e.to_string());
                return cloudsight_result::InvalidCatalog;
            }
        };
        match mode {
            cloudsight_catalog_mode::Replace => engine.set_catalog(catalog),
            cloudsight_catalog_mode::Extend => engine.extend_catalog(&catalog),
        }
        cloudsight_result::Ok
    })
}

/// Sanction an app of the catalog in force by id (`sanction_value` a `cloudsight_sanction`).
/// Flows named from now on get the verdict; flows already named keep theirs.
///
/// Errors: `NULL_PARAMETER`; `INVALID_ARGUMENT` (unknown sanction, id not UTF-8 or over 1024
/// bytes); `UNKNOWN_APP` (no such id: nothing changes); `SHUT_DOWN`; `POISONED`; `PANIC`.
/// Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `app_id` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_set_policy(
    engine: *const cloudsight_engine,
    app_id: *const c_char,
    sanction_value: u32,
) -> cloudsight_result {
    on_engine!(engine, |engine, _shell| {
        // SAFETY: NULL or NUL-terminated (caller contract).
        let Some(id) = try_c!(unsafe { exact_str(app_id, MAX_ARG_TEXT) }) else {
            return cloudsight_result::NullParameter;
        };
        let Some(s) = cloudsight_sanction::from_u32(sanction_value) else {
            return cloudsight_result::InvalidArgument;
        };
        if engine.set_app_sanction(id, s.rust()).is_err() {
            return cloudsight_result::UnknownApp;
        }
        cloudsight_result::Ok
    })
}

/// Sanction a registrable domain (eTLD+1, e.g. "example.co.uk") for names no catalog app claims
/// (`sanction_value` a `cloudsight_sanction`).
///
/// Errors: `NULL_PARAMETER`; `INVALID_ARGUMENT` (unknown sanction, domain not UTF-8 or over 1024
/// bytes); `SHUT_DOWN`; `POISONED`; `PANIC`. Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `registrable_domain` is NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_set_domain_policy(
    engine: *const cloudsight_engine,
    registrable_domain: *const c_char,
    sanction_value: u32,
) -> cloudsight_result {
    on_engine!(engine, |engine, _shell| {
        // SAFETY: NULL or NUL-terminated (caller contract).
        let Some(domain) = try_c!(unsafe { exact_str(registrable_domain, MAX_ARG_TEXT) }) else {
            return cloudsight_result::NullParameter;
        };
        let Some(s) = cloudsight_sanction::from_u32(sanction_value) else {
            return cloudsight_result::InvalidArgument;
        };
        engine.set_domain_sanction(domain, s.rust());
        cloudsight_result::Ok
    })
}

/// Look up the app the catalog in force gives a host name (for the sensor's own UI). On success
/// `*out` holds it, up to `out->struct_size` (set it first).
///
/// Errors: `NULL_PARAMETER`; `STRUCT_SIZE`; `INVALID_ARGUMENT` (host not UTF-8 or over 1024
/// bytes); `NOT_FOUND` (no app claims the name); `SHUT_DOWN`; `POISONED`; `PANIC`. Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `host` is NULL or NUL-terminated;
/// `out` is NULL or writable for its `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_lookup_app(
    engine: *const cloudsight_engine,
    host: *const c_char,
    out: *mut cloudsight_app_info,
) -> cloudsight_result {
    on_engine!(engine, |engine, _shell| {
        if out.is_null() {
            return cloudsight_result::NullParameter;
        }
        // SAFETY: NULL or NUL-terminated (caller contract).
        let Some(host) = try_c!(unsafe { exact_str(host, MAX_ARG_TEXT) }) else {
            return cloudsight_result::NullParameter;
        };
        let catalog = engine.catalog();
        let Some(app) = catalog.lookup(host.as_bytes()) else {
            return cloudsight_result::NotFound;
        };
        let mut info = cloudsight_app_info::zeroed();
        info.risk = app.risk;
        put(&mut info.id, &app.id);
        put(&mut info.name, &app.name);
        put(&mut info.category, app.category.id());
        // SAFETY: writable for its struct_size bytes (caller contract).
        try_c!(unsafe { write_output(out, &info) });
        cloudsight_result::Ok
    })
}

/// Most instances one `cloudsight_engine_set_instance_policy` call accepts.
pub const CLOUDSIGHT_MAX_INSTANCES: usize = 4096;

/// Name the organisation's own instances of an app of the catalog in force (`app_id`) and the
/// sanction of its other instances (`others_sanction`, a `cloudsight_sanction`): a flow named
/// from now on whose server name carries an instance of the app (the catalog's `instances`
/// patterns: `fabrikam.sharepoint.com` is instance `fabrikam` of `sharepoint`) gets
/// `others_sanction` unless the instance is one of `instances` (compared ignoring ASCII case),
/// which gets the app's own sanction, or allow when the app has none. Flows of the app whose name
/// carries no instance (`app.slack.com`) are not affected. Replaces the app's previous instance
/// policy; `count` 0 (then `instances` may be NULL) gives every instance `others_sanction`. The
/// record's `instance` field shows what was matched. Flows already named keep their verdict.
///
/// Errors: `NULL_PARAMETER` (`engine`, `app_id`, `instances` with `count` > 0, or one of its
/// `count` pointers); `INVALID_ARGUMENT` (unknown sanction, `count` over
/// `CLOUDSIGHT_MAX_INSTANCES`, an id or instance not UTF-8 or over 1024 bytes, an empty
/// instance); `UNKNOWN_APP` (no such id: nothing changes); `SHUT_DOWN`; `POISONED`; `PANIC`.
/// Thread-safe.
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `app_id` is NULL or NUL-terminated;
/// `instances` is NULL or readable for `count` pointers, each NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_set_instance_policy(
    engine: *const cloudsight_engine,
    app_id: *const c_char,
    instances: *const *const c_char,
    count: usize,
    others_sanction: u32,
) -> cloudsight_result {
    on_engine!(engine, |engine, _shell| {
        // SAFETY: NULL or NUL-terminated (caller contract).
        let Some(id) = try_c!(unsafe { exact_str(app_id, MAX_ARG_TEXT) }) else {
            return cloudsight_result::NullParameter;
        };
        let Some(others) = cloudsight_sanction::from_u32(others_sanction) else {
            return cloudsight_result::InvalidArgument;
        };
        if count > CLOUDSIGHT_MAX_INSTANCES {
            return cloudsight_result::InvalidArgument;
        }
        let pointers: &[*const c_char] = if count == 0 {
            &[]
        } else if instances.is_null() {
            return cloudsight_result::NullParameter;
        } else {
            // SAFETY: non-NULL, readable for `count` pointers (caller contract); count is at most
            // CLOUDSIGHT_MAX_INSTANCES, so the slice is far below isize::MAX bytes.
            unsafe { std::slice::from_raw_parts(instances, count) }
        };
        let mut own = Vec::with_capacity(count);
        for &p in pointers {
            // SAFETY: each pointer is NULL or NUL-terminated (caller contract).
            let Some(instance) = try_c!(unsafe { exact_str(p, MAX_ARG_TEXT) }) else {
                return cloudsight_result::NullParameter;
            };
            if instance.is_empty() {
                return cloudsight_result::InvalidArgument;
            }
            own.push(instance);
        }
        if engine.set_app_instances(id, &own, others.rust()).is_err() {
            return cloudsight_result::UnknownApp;
        }
        cloudsight_result::Ok
    })
}
