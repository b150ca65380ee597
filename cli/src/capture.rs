//! Reading pcap and pcapng files into memory, one allocation per frame (the replay benches);
//! the format rules are the streaming reader's ([`crate::reader`]).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::reader::{Batch, CaptureReader};

/// One captured frame.
pub struct Frame {
    /// pcap LINKTYPE of the interface it was captured on.
    pub linktype: u32,
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: u64,
    /// The bytes as captured.
    pub data: Vec<u8>,
}

/// Read every frame of a pcap or pcapng file, or say clearly why not.
pub fn read(path: &Path) -> Result<Vec<Frame>, String> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| format!("{name}: cannot open: {e}"))?;
    read_from(&name, file)
}

/// Read every frame of a pcap or pcapng capture from `input` (`name` names it in errors), with
/// the streaming reader's rules ([`CaptureReader`]).
pub fn read_from(name: &str, input: impl Read + Send) -> Result<Vec<Frame>, String> {
    let mut reader = CaptureReader::new(name, input)?;
    let mut frames = Vec::new();
    let mut batch = Batch::default();
    loop {
        let more = reader.fill(&mut batch)?;
        frames.extend(batch.frames.iter().map(|f| Frame {
            linktype: f.linktype,
            ts_ns: f.ts_ns,
            data: batch.bytes(f).to_vec(),
        }));
        batch.clear();
        if !more {
            // Strict: a capture cut inside a record is an error here (the `discover` stream
            // reads up to the cut and says so).
            return match reader.take_cut() {
                Some(cut) => Err(cut),
                None => Ok(frames),
            };
        }
    }
}
