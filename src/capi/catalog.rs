//! Catalog and policy: load a custom catalog, sanction apps, look an app up by host name.

use std::ffi::c_char;

use super::engine::engine_ref;
use super::record::put;
use super::{cloudsight_engine, cloudsight_result, ffi_boundary, non_null, opt_str};
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

/// What a loaded catalog does to the one in force.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_catalog_mode {
    /// The loaded catalog replaces the one in force (the embedded one included).
    Replace = 1,
    /// The loaded catalog extends the one in force; its apps override apps with the same id.
    Extend = 2,
}

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

/// A catalog app, as `cloudsight_engine_lookup_app` returns it (fixed-size, nothing to free).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cloudsight_app_info {
    /// Stable app id.
    pub id: [c_char; 64],
    /// Display name.
    pub name: [c_char; 96],
    /// Category (Defender for Cloud Apps names).
    pub category: [c_char; 48],
    /// Risk score 0-10 (10 = most trusted).
    pub risk: u8,
}

fn sanction(value: u32) -> Option<Sanction> {
    match value {
        0 => Some(Sanction::Sanctioned),
        1 => Some(Sanction::Unsanctioned),
        2 => Some(Sanction::Monitored),
        _ => None,
    }
}

/// Load a catalog from `text` (`len` bytes of UTF-8; `format` a `cloudsight_catalog_format`, `mode`
/// a `cloudsight_catalog_mode`) and swap it in without pausing the packet path; flows already named
/// keep their app. On a bad catalog the result is `CLOUDSIGHT_RESULT_INVALID_CATALOG`, the catalog
/// in force stays, and when `error` is not NULL the message (with line and field) is written there
/// as a NUL-terminated string cut to `error_len` bytes. `CLOUDSIGHT_RESULT_NULL_PARAMETER` for a
/// NULL `engine`, or a NULL `text` with a non-zero `len`; `CLOUDSIGHT_RESULT_INVALID_ARGUMENT` for an unknown `format` or `mode`
/// or a `len` over `PTRDIFF_MAX`.
#[no_mangle]
pub extern "C" fn cloudsight_engine_load_catalog(
    engine: *const cloudsight_engine,
    text: *const u8,
    len: usize,
    format: u32,
    mode: u32,
    error: *mut c_char,
    error_len: usize,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        non_null!(text);
        if len > isize::MAX as usize {
            return cloudsight_result::InvalidArgument;
        }
        // SAFETY: `text` is readable for `len` bytes; `engine` is a live handle (caller contract).
        let (engine, bytes) =
            unsafe { (engine_ref(engine), std::slice::from_raw_parts(text, len)) };
        let report = |message: &str| {
            if !error.is_null() && error_len > 0 {
                // SAFETY: `error` is writable for `error_len` bytes (caller contract).
                let out = unsafe { std::slice::from_raw_parts_mut(error, error_len) };
                put(out, message);
            }
        };
        if !matches!(format, 1 | 2) || !matches!(mode, 1 | 2) {
            return cloudsight_result::InvalidArgument;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            report("catalog is not UTF-8");
            return cloudsight_result::InvalidCatalog;
        };
        let loaded = match format {
            1 => Catalog::from_toml(text),
            2 => Catalog::from_json(text),
            _ => return cloudsight_result::InvalidArgument,
        };
        let catalog = match loaded {
            Ok(c) => c,
            Err(e) => {
                report(&e.to_string());
                return cloudsight_result::InvalidCatalog;
            }
        };
        match mode {
            1 => engine.set_catalog(catalog),
            2 => engine.extend_catalog(&catalog),
            _ => return cloudsight_result::InvalidArgument,
        }
        cloudsight_result::Ok
    })
}

/// Sanction an app by catalog id (`sanction_value` a `cloudsight_sanction`). Flows named from now
/// on get the new verdict. `CLOUDSIGHT_RESULT_UNKNOWN_APP` when the catalog in force has no such
/// id; `CLOUDSIGHT_RESULT_INVALID_ARGUMENT` for an id that is not UTF-8 or an unknown sanction.
#[no_mangle]
pub extern "C" fn cloudsight_engine_set_policy(
    engine: *const cloudsight_engine,
    app_id: *const c_char,
    sanction_value: u32,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        non_null!(app_id);
        // SAFETY: live handle; `app_id` NUL-terminated (caller contract).
        let (engine, id) = unsafe { (engine_ref(engine), opt_str(app_id)) };
        let Ok(Some(id)) = id else {
            return cloudsight_result::InvalidArgument;
        };
        let Some(s) = sanction(sanction_value) else {
            return cloudsight_result::InvalidArgument;
        };
        if engine.set_app_sanction(id, s).is_err() {
            return cloudsight_result::UnknownApp;
        }
        cloudsight_result::Ok
    })
}

/// Sanction a registrable domain (eTLD+1, e.g. "example.co.uk") for names no catalog app claims
/// (`sanction_value` a `cloudsight_sanction`). `CLOUDSIGHT_RESULT_INVALID_ARGUMENT` for a domain
/// that is not UTF-8 or an unknown sanction.
#[no_mangle]
pub extern "C" fn cloudsight_engine_set_domain_policy(
    engine: *const cloudsight_engine,
    registrable_domain: *const c_char,
    sanction_value: u32,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        non_null!(registrable_domain);
        // SAFETY: live handle; the domain is NUL-terminated (caller contract).
        let (engine, domain) = unsafe { (engine_ref(engine), opt_str(registrable_domain)) };
        let Ok(Some(domain)) = domain else {
            return cloudsight_result::InvalidArgument;
        };
        let Some(s) = sanction(sanction_value) else {
            return cloudsight_result::InvalidArgument;
        };
        engine.set_domain_sanction(domain, s);
        cloudsight_result::Ok
    })
}

/// Look up the app the catalog in force gives a host name (for the sensor's own UI). On success
/// `*out` holds it; `CLOUDSIGHT_RESULT_NOT_FOUND` when no app claims the name;
/// `CLOUDSIGHT_RESULT_INVALID_ARGUMENT` for a name that is not UTF-8.
#[no_mangle]
pub extern "C" fn cloudsight_engine_lookup_app(
    engine: *const cloudsight_engine,
    host: *const c_char,
    out: *mut cloudsight_app_info,
) -> cloudsight_result {
    ffi_boundary!({
        non_null!(engine);
        non_null!(host);
        non_null!(out);
        // SAFETY: live handle; `host` NUL-terminated (caller contract).
        let (engine, host) = unsafe { (engine_ref(engine), opt_str(host)) };
        let Ok(Some(host)) = host else {
            return cloudsight_result::InvalidArgument;
        };
        let catalog = engine.catalog();
        let Some(app) = catalog.lookup(host.as_bytes()) else {
            return cloudsight_result::NotFound;
        };
        let mut info = cloudsight_app_info {
            id: [0; 64],
            name: [0; 96],
            category: [0; 48],
            risk: app.risk,
        };
        put(&mut info.id, &app.id);
        put(&mut info.name, &app.name);
        put(&mut info.category, app.category.id());
        // SAFETY: `out` is non-NULL and writable (caller contract).
        unsafe { out.write(info) };
        cloudsight_result::Ok
    })
}
