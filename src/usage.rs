//! Usage reports: the engine's records summed per (app, or registrable domain when no app;
//! instance; user name; process path; device) per reporting window (README "Usage reports").
//!
//! [`UsageRow`] is the one definition of a row: its serde derive is the bincode wire form and,
//! with the engine's device added once per line, the JSON form ([`JsonUsageRow`]); the C form
//! (`cloudsight_usage_row`) is filled from it.
//!
//! A record counts in the window that holds its `last_seen_ns` (a record is not split: the
//! engine does not know when within the record its bytes moved). Every record the engine makes
//! is folded in, records later dropped from a full record queue included, so the rows of a
//! window sum exactly to the records made for it. Rows per window are capped; past the cap new
//! keys fold into one overflow row (app `null`, domain `"(other)"`), so sums still hold.
//!
//! Windows close on the caller's clock: at `tick(now)` once `now` is past the window's end plus
//! a grace (the longest idle timeout plus the TCP linger: the latest a record of the window can
//! still be made), and at `flush`. A record that arrives for a window already emitted (ticks far
//! apart) opens it again: its rows are emitted at the next close, so one window's rows may come
//! in more than one batch; sums still hold.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::context::Device;
use crate::policy::Sanction;
use crate::record::{ActivityRecord, AppInfo, Event, Verdict};

/// The registrable domain of the overflow row of a window (its app is `None`).
pub const OVERFLOW_DOMAIN: &str = "(other)";

/// Most windows open at once; a record for another one closes the oldest early.
const MAX_OPEN_WINDOWS: usize = 4;

/// One usage row: what one (app or domain, instance, user, process) did in one window on the
/// engine's device. Field order is the wire order of the bincode batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    /// Window start (caller's clock, ns since the epoch), a multiple of the window length.
    pub window_start_ns: u64,
    /// Window end (exclusive).
    pub window_end_ns: u64,
    /// The cloud app (`None` for unknown names and the overflow row).
    pub app: Option<Arc<AppInfo>>,
    /// Registrable domain: the key when there is no app (`"(other)"` for the overflow row); with
    /// an app, the domain of the first record.
    pub registrable_domain: Option<String>,
    /// The app instance (tenant, workspace ...), part of the key.
    pub instance: Option<String>,
    /// User name, part of the key.
    pub user_name: Option<String>,
    /// Process image path, part of the key.
    pub process_path: Option<String>,
    /// Client address of the row's first record (Defender's `IpAddress`).
    pub client_ip: Option<IpAddr>,
    /// Earliest activity in the window: the earliest contributing `first_seen_ns`, not before
    /// the window start.
    pub first_seen_ns: u64,
    /// Latest contributing `last_seen_ns`.
    pub last_seen_ns: u64,
    /// Distinct flows that contributed (a flow counts once per row per window).
    pub flows: u64,
    /// Of those, flows with verdict `block`.
    pub blocked_flows: u64,
    /// IP bytes client to server.
    pub bytes_up: u64,
    /// IP bytes server to client.
    pub bytes_down: u64,
    /// IP packets client to server.
    pub packets_up: u64,
    /// IP packets server to client.
    pub packets_down: u64,
    /// App tags (Defender's `AppTags`): the admin's sanction of the row's app, instance or domain
    /// (`"sanctioned"`, `"unsanctioned"` or `"monitored"`, [`Sanction::as_str`]) under the policy
    /// in force when the row's latest record was folded in; empty when no rule applies
    /// (unreviewed) and in the overflow row.
    pub app_tags: Vec<String>,
}

impl UsageRow {
    /// `bytes_up + bytes_down` (Defender's `TotalBytes`).
    pub fn total_bytes(&self) -> u64 {
        self.bytes_up.saturating_add(self.bytes_down)
    }

    /// Whether this is a window's overflow row.
    pub fn is_overflow(&self) -> bool {
        self.app.is_none() && self.registrable_domain.as_deref() == Some(OVERFLOW_DOMAIN)
    }
}

/// A row as a JSON line carries it: the row's fields, then the device.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct JsonUsageRow<'a> {
    /// The row.
    #[serde(flatten)]
    pub row: &'a UsageRow,
    /// The engine's device.
    pub device: &'a Device,
}

/// The key of a row within a window (the device is the engine's, the same for every row).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// App id, or `None` with the domain as the key.
    app: Option<String>,
    domain: Option<String>,
    instance: Option<String>,
    user: Option<String>,
    process: Option<String>,
}

#[derive(Debug, Default)]
struct Window {
    index: HashMap<Key, u32>,
    rows: Vec<UsageRow>,
    overflow: Option<u32>,
    /// Flows that had an `update` record in this window, with the rows they counted in: a
    /// flow's later records do not count it again. Closed flows leave (their last record), so
    /// this holds at most the live flows.
    live: HashMap<u64, Vec<u32>>,
}

/// Counters of the usage table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UsageCounts {
    pub folded: u64,
    pub dropped: u64,
    pub emitted: u64,
}

/// The engine's usage aggregation: open windows, and rows of closed windows waiting to be drained.
#[derive(Debug)]
pub(crate) struct UsageTable {
    window_ns: u64,
    max_rows: usize,
    grace_ns: u64,
    open: BTreeMap<u64, Window>,
    ready: VecDeque<UsageRow>,
    pub counts: UsageCounts,
}

impl UsageTable {
    /// A table with windows of `window_ns` (0: off), `max_rows` rows per window (the overflow
    /// row aside) and windows closed `grace_ns` after their end.
    pub fn new(window_ns: u64, max_rows: usize, grace_ns: u64) -> UsageTable {
        UsageTable {
            window_ns,
            max_rows: max_rows.max(1),
            grace_ns,
            open: BTreeMap::new(),
            ready: VecDeque::new(),
            counts: UsageCounts::default(),
        }
    }

    /// Whether usage reports are on.
    pub fn enabled(&self) -> bool {
        self.window_ns != 0
    }

    /// Most rows waiting to be drained; past it the oldest go (counted).
    fn max_ready(&self) -> usize {
        self.max_rows
            .saturating_mul(4)
            .saturating_add(MAX_OPEN_WINDOWS)
    }

    /// Fold one record in; `sanction` is the policy's sanction of its app, instance or domain
    /// ([`Policy::sanction`](crate::Policy::sanction)), the row's tag.
    pub fn add(&mut self, r: &ActivityRecord, sanction: Option<Sanction>) {
        if !self.enabled() {
            return;
        }
        let start = r.last_seen_ns - r.last_seen_ns % self.window_ns;
        if !self.open.contains_key(&start) && self.open.len() >= MAX_OPEN_WINDOWS {
            if let Some((&oldest, _)) = self.open.iter().next() {
                self.close(oldest);
            }
        }
        let end = start.saturating_add(self.window_ns);
        let max_rows = self.max_rows;
        let w = self.open.entry(start).or_default();
        let key = Key {
            app: r.app.as_ref().map(|a| a.id.clone()),
            domain: if r.app.is_some() {
                None
            } else {
                r.registrable_domain.clone()
            },
            instance: r.instance.clone(),
            user: r.user.as_ref().and_then(|u| u.name.clone()),
            process: r.process.as_ref().and_then(|p| p.path.clone()),
        };
        let idx = match w.index.get(&key) {
            Some(&i) => i,
            None if w.index.len() < max_rows => {
                let i = w.rows.len() as u32;
                w.rows.push(UsageRow {
                    window_start_ns: start,
                    window_end_ns: end,
                    app: r.app.clone(),
                    registrable_domain: r.registrable_domain.clone(),
                    instance: key.instance.clone(),
                    user_name: key.user.clone(),
                    process_path: key.process.clone(),
                    client_ip: Some(r.client_ip),
                    first_seen_ns: u64::MAX,
                    last_seen_ns: 0,
                    flows: 0,
                    blocked_flows: 0,
                    bytes_up: 0,
                    bytes_down: 0,
                    packets_up: 0,
                    packets_down: 0,
                    app_tags: Vec::new(),
                });
                w.index.insert(key, i);
                i
            }
            None => {
                self.counts.folded += 1;
                match w.overflow {
                    Some(i) => i,
                    None => {
                        let i = w.rows.len() as u32;
                        w.rows.push(UsageRow {
                            window_start_ns: start,
                            window_end_ns: end,
                            app: None,
                            registrable_domain: Some(OVERFLOW_DOMAIN.into()),
                            instance: None,
                            user_name: None,
                            process_path: None,
                            client_ip: Some(r.client_ip),
                            first_seen_ns: u64::MAX,
                            last_seen_ns: 0,
                            flows: 0,
                            blocked_flows: 0,
                            bytes_up: 0,
                            bytes_down: 0,
                            packets_up: 0,
                            packets_down: 0,
                            app_tags: Vec::new(),
                        });
                        w.overflow = Some(i);
                        i
                    }
                }
            }
        };
        let seen = w
            .live
            .get(&r.flow_id)
            .is_some_and(|rows| rows.contains(&idx));
        match r.event {
            Event::Update => {
                if !seen {
                    w.live.entry(r.flow_id).or_default().push(idx);
                }
            }
            Event::Close => {
                w.live.remove(&r.flow_id);
            }
        }
        let overflow = w.overflow == Some(idx);
        let row = &mut w.rows[idx as usize];
        let tag = sanction.filter(|_| !overflow).map(Sanction::as_str);
        if row.app_tags.first().map(String::as_str) != tag {
            row.app_tags = tag.map(str::to_owned).into_iter().collect();
        }
        if !seen {
            row.flows += 1;
            if r.verdict == Verdict::Block {
                row.blocked_flows += 1;
            }
        }
        row.first_seen_ns = row.first_seen_ns.min(r.first_seen_ns.max(start));
        row.last_seen_ns = row.last_seen_ns.max(r.last_seen_ns);
        row.bytes_up += r.bytes_up;
        row.bytes_down += r.bytes_down;
        row.packets_up += r.packets_up;
        row.packets_down += r.packets_down;
    }

    /// Emit the rows of the window starting at `start`.
    fn close(&mut self, start: u64) {
        let Some(w) = self.open.remove(&start) else {
            return;
        };
        self.counts.emitted += w.rows.len() as u64;
        self.ready.extend(w.rows);
        let max = self.max_ready();
        while self.ready.len() > max {
            self.ready.pop_front();
            self.counts.dropped += 1;
        }
    }

    /// Close the windows whose end plus the grace is at or before `now_ns`.
    pub fn tick(&mut self, now_ns: u64) {
        let due: Vec<u64> = self
            .open
            .keys()
            .copied()
            .filter(|&s| {
                s.saturating_add(self.window_ns)
                    .saturating_add(self.grace_ns)
                    <= now_ns
            })
            .collect();
        for s in due {
            self.close(s);
        }
    }

    /// Close every window.
    pub fn flush(&mut self) {
        let all: Vec<u64> = self.open.keys().copied().collect();
        for s in all {
            self.close(s);
        }
    }

    /// Take the first row waiting.
    pub fn pop(&mut self) -> Option<UsageRow> {
        self.ready.pop_front()
    }

    /// Put back a row a caller could not take.
    pub fn push_front(&mut self, row: UsageRow) {
        self.ready.push_front(row);
    }

    /// Rows waiting to be drained.
    #[cfg(test)]
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Process, User};
    use crate::record::full_record;

    const W: u64 = 1_000;

    fn rec(flow: u64, app: Option<&str>, last: u64, up: u64, event: Event) -> ActivityRecord {
        let mut r = full_record();
        r.flow_id = flow;
        r.app = app.map(|id| {
            Arc::new(AppInfo {
                id: id.into(),
                name: id.into(),
                category: "c".into(),
                risk: 5,
            })
        });
        r.registrable_domain = Some(format!("{}.example", app.unwrap_or("x")));
        r.first_seen_ns = last.saturating_sub(10);
        r.last_seen_ns = last;
        r.bytes_up = up;
        r.bytes_down = up * 2;
        r.packets_up = 1;
        r.packets_down = 2;
        r.event = event;
        r.verdict = Verdict::Allow;
        r
    }

    fn drain(t: &mut UsageTable) -> Vec<UsageRow> {
        std::iter::from_fn(|| t.pop()).collect()
    }

    #[test]
    fn records_fall_into_the_window_of_their_last_seen_and_close_after_the_grace() {
        let mut t = UsageTable::new(W, 16, 100);
        t.add(&rec(1, Some("a"), 500, 10, Event::Close), None);
        let mut long = rec(2, Some("a"), 1_500, 20, Event::Close);
        long.first_seen_ns = 100;
        t.add(&long, None);
        t.tick(1_099);
        assert!(drain(&mut t).is_empty(), "not before end + grace");
        t.tick(1_100);
        let rows = drain(&mut t);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].window_start_ns, rows[0].window_end_ns), (0, W));
        assert_eq!(rows[0].bytes_up, 10);
        assert_eq!(rows[0].first_seen_ns, 490);
        t.flush();
        let rows = drain(&mut t);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].window_start_ns, W);
        assert_eq!(rows[0].first_seen_ns, W, "not before the window start");
    }

    #[test]
    fn keys_split_by_app_domain_instance_user_and_process() {
        let mut t = UsageTable::new(W, 16, 0);
        let base = rec(1, Some("a"), 5, 1, Event::Close);
        t.add(&base, None);
        let mut other_user = rec(2, Some("a"), 5, 1, Event::Close);
        other_user.user = Some(User {
            name: Some("bob".into()),
            id: None,
        });
        t.add(&other_user, None);
        let mut other_proc = rec(3, Some("a"), 5, 1, Event::Close);
        other_proc.process = Some(Process {
            pid: 1,
            start_time_ns: 0,
            path: Some("/bin/x".into()),
        });
        t.add(&other_proc, None);
        let mut other_instance = rec(4, Some("a"), 5, 1, Event::Close);
        other_instance.instance = Some("other".into());
        t.add(&other_instance, None);
        // Same app, another domain of it: same row.
        let mut same = rec(5, Some("a"), 5, 1, Event::Close);
        same.registrable_domain = Some("a-cdn.example".into());
        t.add(&same, None);
        // No app: the domain is the key.
        t.add(&rec(6, None, 5, 1, Event::Close), None);
        let mut other_domain = rec(7, None, 5, 1, Event::Close);
        other_domain.registrable_domain = Some("y.example".into());
        t.add(&other_domain, None);
        t.flush();
        let rows = drain(&mut t);
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0].flows, 2);
        assert!(rows.iter().all(|r| r.app_tags.is_empty()));
    }

    #[test]
    fn rows_are_tagged_with_the_latest_sanction_and_the_overflow_row_never() {
        let mut t = UsageTable::new(W, 1, 0);
        t.add(
            &rec(1, Some("a"), 5, 1, Event::Close),
            Some(Sanction::Monitored),
        );
        t.add(
            &rec(2, Some("a"), 6, 1, Event::Close),
            Some(Sanction::Unsanctioned),
        );
        // Past the one-row cap: the overflow row, untagged whatever the sanction.
        t.add(
            &rec(3, Some("b"), 7, 1, Event::Close),
            Some(Sanction::Sanctioned),
        );
        t.add(&rec(4, Some("c"), 8, 1, Event::Close), None);
        t.flush();
        let rows = drain(&mut t);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].app_tags, ["unsanctioned"]);
        assert!(rows[1].is_overflow());
        assert!(rows[1].app_tags.is_empty());
        // A rule removed since: the row says so.
        let mut t = UsageTable::new(W, 4, 0);
        t.add(
            &rec(1, Some("a"), 5, 1, Event::Close),
            Some(Sanction::Sanctioned),
        );
        t.add(&rec(2, Some("a"), 6, 1, Event::Close), None);
        t.flush();
        assert!(drain(&mut t)[0].app_tags.is_empty());
    }

    #[test]
    fn a_flow_counts_once_per_row_per_window_and_blocked_flows_are_counted() {
        let mut t = UsageTable::new(W, 16, 0);
        let mut u1 = rec(1, Some("a"), 100, 1, Event::Update);
        u1.verdict = Verdict::Block;
        let mut u2 = u1.clone();
        u2.last_seen_ns = 200;
        let mut c = u1.clone();
        c.last_seen_ns = 300;
        c.event = Event::Close;
        t.add(&u1, None);
        t.add(&u2, None);
        t.add(&c, None);
        t.add(&rec(2, Some("a"), 400, 1, Event::Close), None);
        // The same flow in the next window counts there once more.
        let mut next = rec(3, Some("a"), 900, 1, Event::Update);
        t.add(&next, None);
        next.last_seen_ns = 1_100;
        next.event = Event::Close;
        t.add(&next, None);
        t.flush();
        let rows = drain(&mut t);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].flows, 3);
        assert_eq!(rows[0].blocked_flows, 1);
        assert_eq!(rows[0].bytes_up, 5);
        assert_eq!(rows[0].packets_up, 5);
        assert_eq!(rows[1].flows, 1);
        assert_eq!(rows[1].window_start_ns, W);
    }

    #[test]
    fn past_the_cap_new_keys_fold_into_one_overflow_row_with_sums_kept() {
        let mut t = UsageTable::new(W, 2, 0);
        let mut sum = 0;
        for i in 0..10u64 {
            let app = format!("app{i}");
            t.add(&rec(i, Some(&app), 5, i + 1, Event::Close), None);
            sum += i + 1;
        }
        // A key that has a row keeps it past the cap.
        t.add(&rec(100, Some("app0"), 6, 1, Event::Close), None);
        sum += 1;
        t.flush();
        let rows = drain(&mut t);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].flows, 2);
        let overflow = &rows[2];
        assert!(overflow.is_overflow());
        assert_eq!(overflow.flows, 8);
        assert_eq!(t.counts.folded, 8);
        assert_eq!(rows.iter().map(|r| r.bytes_up).sum::<u64>(), sum);
        assert_eq!(rows.iter().map(|r| r.flows).sum::<u64>(), 11);
    }

    #[test]
    fn off_when_the_window_is_zero() {
        let mut t = UsageTable::new(0, 16, 0);
        t.add(&rec(1, Some("a"), 5, 1, Event::Close), None);
        t.flush();
        assert_eq!(t.ready_len(), 0);
    }

    #[test]
    fn json_line_is_the_row_plus_the_device_and_round_trips() {
        let mut t = UsageTable::new(W, 16, 0);
        t.add(&rec(1, Some("a"), 5, 1, Event::Close), None);
        t.flush();
        let row = t.pop().unwrap();
        let device = Device {
            id: "d".into(),
            name: "n".into(),
        };
        let v = serde_json::to_value(JsonUsageRow {
            row: &row,
            device: &device,
        })
        .unwrap();
        assert_eq!(v["device"]["id"], "d");
        assert_eq!(v["bytes_down"], 2);
        let back: UsageRow = serde_json::from_value(v).unwrap();
        assert_eq!(back, row);
    }
}
