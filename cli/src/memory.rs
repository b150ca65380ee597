//! This process's memory, from `/proc/self/status` (Linux; 0 elsewhere).

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`, ...), in KiB; 0 when unreadable.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident set size of this process in KiB (`VmRSS`).
pub fn rss_kib() -> u64 {
    status_kib("VmRSS")
}

/// Peak resident set size of this process in KiB (`VmHWM`).
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM")
}

/// Reset the peak RSS to the current RSS (Linux: "5" to `/proc/self/clear_refs`), so that a
/// measurement that follows sees only its own peak.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
