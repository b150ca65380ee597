//! `cloudsight_usage_row`: a usage row with fixed-size inline fields, nothing to free, and
//! `cloudsight_engine_drain_usage`.

use std::ffi::c_char;

use super::abi::{check_output_size, versioned, write_sized, Zeroed};
use super::engine::on_engine;
use super::record::{
    put, CLOUDSIGHT_TRUNCATED_APP, CLOUDSIGHT_TRUNCATED_INSTANCE,
    CLOUDSIGHT_TRUNCATED_PROCESS_PATH, CLOUDSIGHT_TRUNCATED_REGISTRABLE_DOMAIN,
    CLOUDSIGHT_TRUNCATED_USER,
};
use super::types::cloudsight_ip;
use super::{cloudsight_engine, cloudsight_result, non_null, try_c};
use crate::{Sanction, UsageRow};

/// One usage row (README "Usage reports"): what one (app, or registrable domain when no app;
/// instance; user; process) did on this engine's device in one reporting window. Text fields are
/// NUL-terminated UTF-8, empty when unknown, cut at a character boundary when too long (see
/// `truncated`, the `CLOUDSIGHT_TRUNCATED_*` bits of `cloudsight_record`). The overflow row of a
/// window has `has_app` 0 and `registrable_domain` "(other)".
///
/// `cloudsight_engine_drain_usage` writes rows `row_size` bytes apart and sets each one's
/// `struct_size` to the bytes it filled.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cloudsight_usage_row {
    /// Bytes of this row the library filled.
    pub struct_size: u32,
    /// Bit set of `CLOUDSIGHT_TRUNCATED_*`.
    pub truncated: u32,
    /// Window start (caller's clock), ns.
    pub window_start_ns: u64,
    /// Window end (exclusive), ns.
    pub window_end_ns: u64,
    /// Earliest activity in the window, ns (never before `window_start_ns`).
    pub first_seen_ns: u64,
    /// Latest activity, ns.
    pub last_seen_ns: u64,
    /// Distinct flows (Defender's TotalEvents).
    pub flows: u64,
    /// Flows with verdict block (BlockedEvents).
    pub blocked_flows: u64,
    /// IP bytes client to server (UploadedBytes).
    pub bytes_up: u64,
    /// IP bytes server to client (DownloadedBytes).
    pub bytes_down: u64,
    /// IP packets client to server.
    pub packets_up: u64,
    /// IP packets server to client.
    pub packets_down: u64,
    /// Client address of the row's first record (IpAddress); family 0 when none.
    pub client_ip: cloudsight_ip,
    /// 1 when an app matched (`app_*` fields are set).
    pub has_app: u8,
    /// App risk score 0-10 (AppScore), when `has_app`.
    pub app_risk: u8,
    /// App id (AppId).
    pub app_id: [c_char; 64],
    /// App display name (AppName).
    pub app_name: [c_char; 96],
    /// App category (AppCategory).
    pub app_category: [c_char; 48],
    /// Registrable domain: the key when there is no app.
    pub registrable_domain: [c_char; 256],
    /// App instance (tenant, workspace ...).
    pub instance: [c_char; 64],
    /// User account name (UserName).
    pub user_name: [c_char; 256],
    /// Process image path.
    pub process_path: [c_char; 1024],
    /// 1 when the policy has a rule for the row's app, instance or domain (`sanction` is set).
    pub has_sanction: u8,
    /// The admin's sanction (AppTags: Sanctioned, Unsanctioned, Monitored), a
    /// `cloudsight_sanction` value, when `has_sanction`; under the policy in force when the row's
    /// latest record was folded in.
    pub sanction: u8,
    /// Reserved (zero).
    pub reserved: [u8; 3],
}

versioned!(
    cloudsight_usage_row,
    min = struct_size,
    [
        struct_size,
        truncated,
        window_start_ns,
        window_end_ns,
        first_seen_ns,
        last_seen_ns,
        flows,
        blocked_flows,
        bytes_up,
        bytes_down,
        packets_up,
        packets_down,
        client_ip,
        has_app,
        app_risk,
        app_id,
        app_name,
        app_category,
        registrable_domain,
        instance,
        user_name,
        process_path,
        has_sanction,
        sanction,
        reserved,
    ]
);

impl Zeroed for cloudsight_usage_row {
    fn zeroed() -> Self {
        cloudsight_usage_row::zeroed()
    }
}

impl cloudsight_usage_row {
    /// A row with every field zero (empty strings, no address) but `struct_size`.
    pub fn zeroed() -> cloudsight_usage_row {
        cloudsight_usage_row {
            struct_size: std::mem::size_of::<cloudsight_usage_row>() as u32,
            truncated: 0,
            window_start_ns: 0,
            window_end_ns: 0,
            first_seen_ns: 0,
            last_seen_ns: 0,
            flows: 0,
            blocked_flows: 0,
            bytes_up: 0,
            bytes_down: 0,
            packets_up: 0,
            packets_down: 0,
            client_ip: cloudsight_ip {
                family: 0,
                addr: [0; 16],
            },
            has_app: 0,
            app_risk: 0,
            app_id: [0; 64],
            app_name: [0; 96],
            app_category: [0; 48],
            registrable_domain: [0; 256],
            instance: [0; 64],
            user_name: [0; 256],
            process_path: [0; 1024],
            has_sanction: 0,
            sanction: 0,
            reserved: [0; 3],
        }
    }

    /// Fill every field of `self` from `r` (destructured: a field added to `UsageRow` fails to
    /// compile here until C carries it).
    pub(crate) fn fill(&mut self, r: &UsageRow) {
        let UsageRow {
            window_start_ns,
            window_end_ns,
            app,
            registrable_domain,
            instance,
            user_name,
            process_path,
            client_ip,
            first_seen_ns,
            last_seen_ns,
            flows,
            blocked_flows,
            bytes_up,
            bytes_down,
            packets_up,
            packets_down,
            app_tags,
        } = r;
        let mut truncated = 0;
        let mut flag = |cut: bool, bit: u32| {
            if cut {
                truncated |= bit;
            }
        };
        self.window_start_ns = *window_start_ns;
        self.window_end_ns = *window_end_ns;
        self.first_seen_ns = *first_seen_ns;
        self.last_seen_ns = *last_seen_ns;
        self.flows = *flows;
        self.blocked_flows = *blocked_flows;
        self.bytes_up = *bytes_up;
        self.bytes_down = *bytes_down;
        self.packets_up = *packets_up;
        self.packets_down = *packets_down;
        if let Some(ip) = client_ip {
            self.client_ip = cloudsight_ip::from_ip(*ip);
        }
        let sanction = app_tags.first().and_then(|t| t.parse::<Sanction>().ok());
        self.has_sanction = u8::from(sanction.is_some());
        self.sanction = sanction.map_or(0, |s| s as u8);
        self.has_app = u8::from(app.is_some());
        let app = app.as_ref();
        self.app_risk = app.map_or(0, |a| a.risk);
        let cut = put(&mut self.app_id, app.map_or("", |a| &a.id))
            | put(&mut self.app_name, app.map_or("", |a| &a.name))
            | put(&mut self.app_category, app.map_or("", |a| &a.category));
        flag(cut, CLOUDSIGHT_TRUNCATED_APP);
        let text = |o: &Option<String>| o.clone().unwrap_or_default();
        flag(
            put(&mut self.registrable_domain, &text(registrable_domain)),
            CLOUDSIGHT_TRUNCATED_REGISTRABLE_DOMAIN,
        );
        flag(
            put(&mut self.instance, &text(instance)),
            CLOUDSIGHT_TRUNCATED_INSTANCE,
        );
        flag(
            put(&mut self.user_name, &text(user_name)),
            CLOUDSIGHT_TRUNCATED_USER,
        );
        flag(
            put(&mut self.process_path, &text(process_path)),
            CLOUDSIGHT_TRUNCATED_PROCESS_PATH,
        );
        self.truncated = truncated;
    }
}

/// Move up to `capacity` usage rows of closed windows into the caller's array `out`, whose
/// elements are `row_size` bytes apart (pass `sizeof(cloudsight_usage_row)`); `*written` gets how
/// many. Each row is filled up to `row_size` bytes and its `struct_size` says how many the library
/// filled. Rows not taken stay queued for the next call. `out` may be NULL only when `capacity`
/// is 0. Windows close on `cloudsight_engine_tick` (past their end plus the longest idle timeout
/// and the TCP linger) and on `cloudsight_engine_flush`.
///
/// Errors: `NULL_PARAMETER` (`engine`, `written`, `out`); `STRUCT_SIZE` (`row_size` under 8 or
/// over 65536); `INVALID_ARGUMENT` (`capacity * row_size` over PTRDIFF_MAX); `SHUT_DOWN`;
/// `POISONED`; `PANIC`. `*written` is set to 0 on every error. Thread-safe; several threads may
/// drain at once (each row goes to one of them).
///
/// # Safety
/// `engine` is NULL or came from `cloudsight_engine_new`; `out` is writable for
/// `capacity * row_size` bytes; `written` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn cloudsight_engine_drain_usage(
    engine: *const cloudsight_engine,
    out: *mut cloudsight_usage_row,
    capacity: usize,
    row_size: usize,
    written: *mut usize,
) -> cloudsight_result {
    non_null!(written);
    // SAFETY: non-NULL and writable (caller contract).
    unsafe { written.write(0) };
    on_engine!(engine, |engine, _shell| {
        if out.is_null() && capacity != 0 {
            return cloudsight_result::NullParameter;
        }
        try_c!(check_output_size::<cloudsight_usage_row>(row_size));
        if capacity
            .checked_mul(row_size)
            .is_none_or(|b| b > isize::MAX as usize)
        {
            return cloudsight_result::InvalidArgument;
        }
        let base = out as *mut u8;
        let mut n = 0usize;
        engine.drain_usage_with(|row| {
            if n >= capacity {
                return false;
            }
            let mut slot = cloudsight_usage_row::zeroed();
            slot.fill(row);
            // SAFETY: `out` holds `capacity` writable elements `row_size` bytes apart and
            // n < capacity; row_size >= 8 (checked).
            unsafe {
                write_sized(
                    base.add(n * row_size) as *mut cloudsight_usage_row,
                    row_size,
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
