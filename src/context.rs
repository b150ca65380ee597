//! Who is behind a flow: the device (fixed per engine), and the process and user (per flow).
//!
//! Context comes from the sensor, never from the wire. A flow keeps the latest context given for it,
//! whether it came with a packet or through a binding by 5-tuple, before or after the first packet.
//!
//! The engine bounds what it keeps: a process path of at most [`MAX_PROCESS_PATH`] bytes, a user
//! name and a user id of at most [`MAX_USER_FIELD`] bytes each (longer ones are cut at a character
//! boundary and counted in `Stats::context_cut`), and identical contexts share one
//! `Arc<FlowContext>` through a bounded interner (`Stats::contexts_interned`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::packet::Transport;

/// The device the engine runs on; copied into every record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Stable device id (e.g. the EDR's machine id).
    pub id: String,
    /// Human-readable device name.
    pub name: String,
}

/// The process that owns a flow's socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Process start time, ns since the Unix epoch (with `pid`, names the process uniquely).
    pub start_time_ns: u64,
    /// Image path, if known.
    pub path: Option<String>,
}

/// The user a flow's process runs as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct User {
    /// Account name (e.g. `CORP\alice`).
    pub name: Option<String>,
    /// Account id: a Windows SID or a Unix uid as text.
    pub id: Option<String>,
}

/// Process and user context for one flow, owned by the flow (the latest one given wins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FlowContext {
    /// Process id, if known.
    pub pid: Option<u32>,
    /// Process start time, ns since the Unix epoch (0 if unknown).
    pub process_start_ns: u64,
    /// Process image path.
    pub process_path: Option<String>,
    /// User account name.
    pub user_name: Option<String>,
    /// User id: a Windows SID or a Unix uid as text.
    pub user_id: Option<String>,
}

/// Longest process path the engine keeps, in bytes; a longer one is cut at a character boundary.
pub const MAX_PROCESS_PATH: usize = 4096;

/// Longest user name, and longest user id, the engine keeps, in bytes; longer ones are cut at a
/// character boundary.
pub const MAX_USER_FIELD: usize = 256;

/// Borrowed process and user context, as a sensor passes it with each packet. The engine copies it
/// only when it differs from what the flow already holds, so passing it with every packet is cheap;
/// when it does, it keeps at most [`MAX_PROCESS_PATH`] bytes of the path and [`MAX_USER_FIELD`]
/// bytes of the user name and id, and shares one copy between all flows with the same context.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextRef<'a> {
    /// Process id, if known.
    pub pid: Option<u32>,
    /// Process start time, ns since the Unix epoch (0 if unknown).
    pub process_start_ns: u64,
    /// Process image path.
    pub process_path: Option<&'a str>,
    /// User account name.
    pub user_name: Option<&'a str>,
    /// User id: a Windows SID or a Unix uid as text.
    pub user_id: Option<&'a str>,
    /// The sensor's strings were not valid UTF-8 and were decoded with U+FFFD replacement (the
    /// engine counts such packets and bindings in `Stats::context_lossy`).
    pub lossy: bool,
}

/// `s` cut to at most `max` bytes at a character boundary, and whether it was cut.
fn cap(s: Option<&str>, max: usize) -> (Option<&str>, bool) {
    match s {
        Some(s) if s.len() > max => (Some(&s[..s.floor_char_boundary(max)]), true),
        s => (s, false),
    }
}

impl<'a> ContextRef<'a> {
    /// The context as the engine keeps it: the process path cut to [`MAX_PROCESS_PATH`] bytes and
    /// the user name and id to [`MAX_USER_FIELD`] bytes, at character boundaries; and whether
    /// anything was cut.
    pub fn capped(&self) -> (ContextRef<'a>, bool) {
        let (process_path, a) = cap(self.process_path, MAX_PROCESS_PATH);
        let (user_name, b) = cap(self.user_name, MAX_USER_FIELD);
        let (user_id, c) = cap(self.user_id, MAX_USER_FIELD);
        let capped = ContextRef {
            process_path,
            user_name,
            user_id,
            ..*self
        };
        (capped, a || b || c)
    }
}

impl ContextRef<'_> {
    /// An owned copy (whole: the engine copies [`capped`](ContextRef::capped) contexts).
    pub fn to_owned(&self) -> FlowContext {
        FlowContext {
            pid: self.pid,
            process_start_ns: self.process_start_ns,
            process_path: self.process_path.map(str::to_owned),
            user_name: self.user_name.map(str::to_owned),
            user_id: self.user_id.map(str::to_owned),
        }
    }

    /// Whether `owned` holds the same context as the engine keeps it (compared after
    /// [`capped`](ContextRef::capped), so a context cut when it was taken still matches the
    /// packets that bring it again). Does not allocate.
    pub fn same_as(&self, owned: &FlowContext) -> bool {
        self.pid == owned.pid
            && self.process_start_ns == owned.process_start_ns
            && cap(self.process_path, MAX_PROCESS_PATH).0 == owned.process_path.as_deref()
            && cap(self.user_name, MAX_USER_FIELD).0 == owned.user_name.as_deref()
            && cap(self.user_id, MAX_USER_FIELD).0 == owned.user_id.as_deref()
    }
}

impl FlowContext {
    /// A borrowed view.
    pub fn as_ref(&self) -> ContextRef<'_> {
        ContextRef {
            pid: self.pid,
            process_start_ns: self.process_start_ns,
            process_path: self.process_path.as_deref(),
            user_name: self.user_name.as_deref(),
            user_id: self.user_id.as_deref(),
            lossy: false,
        }
    }

    /// Bytes of its strings (what the context interner budgets).
    pub(crate) fn string_bytes(&self) -> usize {
        [&self.process_path, &self.user_name, &self.user_id]
            .iter()
            .map(|s| s.as_ref().map_or(0, String::len))
            .sum()
    }

    /// The record's `process` object: present when a pid or a path is known.
    pub fn process(&self) -> Option<Process> {
        (self.pid.is_some() || self.process_path.is_some()).then(|| Process {
            pid: self.pid.unwrap_or(0),
            start_time_ns: self.process_start_ns,
            path: self.process_path.clone(),
        })
    }

    /// The record's `user` object: present when a name or an id is known.
    pub fn user(&self) -> Option<User> {
        (self.user_name.is_some() || self.user_id.is_some()).then(|| User {
            name: self.user_name.clone(),
            id: self.user_id.clone(),
        })
    }
}

/// A flow's 5-tuple as a sensor names it (either direction: the engine orders it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    /// TCP or UDP.
    pub transport: Transport,
    /// One endpoint's address.
    pub src: IpAddr,
    /// That endpoint's port.
    pub src_port: u16,
    /// The other endpoint's address.
    pub dst: IpAddr,
    /// The other endpoint's port.
    pub dst_port: u16,
}
