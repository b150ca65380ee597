//! Streaming capture reader: pcap and pcapng read through pcap-parser's streaming readers (one
//! reused buffer, `next` / `consume` / `refill`) into reusable [`Batch`]es, so memory does not
//! depend on the capture's size, and a reader thread that fills batches while the engine works
//! on the previous ones.
//!
//! Batches travel through two bounded channels: full ones to the consumer, emptied ones back to
//! the reader (recycled: once warm, no allocation per batch or per frame). The channels are
//! `std::sync::mpsc` ones, which are crossbeam-channel's implementation since Rust 1.67, so no
//! dependency is added for them.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

/// Frames per batch (the unit handed between threads).
pub const BATCH_FRAMES: usize = 1024;
/// Batches in flight between the reader and the consumer (and back).
const IN_FLIGHT: usize = 2;
/// Batches in all: the channel's, one being filled, and two being worked on. Giving one back
/// (`Stream::recycle`) never blocks.
pub const POOL: usize = IN_FLIGHT + 3;
/// pcap-parser's buffer; grown for a record larger than it.
const BUFFER: usize = 1 << 20;

/// Where one frame of a [`Batch`] is and what it is.
#[derive(Clone, Copy, Debug)]
pub struct FrameRef {
    /// pcap LINKTYPE of the interface it was captured on.
    pub linktype: u32,
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: u64,
    start: u32,
    end: u32,
}

/// Frames copied out of the reader's buffer, all bytes in one reused vector.
#[derive(Default)]
pub struct Batch {
    data: Vec<u8>,
    /// The frames, in capture order.
    pub frames: Vec<FrameRef>,
    /// Bytes of the capture files consumed when the batch was full (for a progress bar).
    pub position: u64,
}

impl Batch {
    /// The captured bytes of frame `f` of this batch.
    pub fn bytes(&self, f: &FrameRef) -> &[u8] {
        &self.data[f.start as usize..f.end as usize]
    }

    fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
    }

    fn push(&mut self, linktype: u32, ts_ns: u64, bytes: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.frames.push(FrameRef {
            linktype,
            ts_ns,
            start: start as u32,
            end: self.data.len() as u32,
        });
    }

    fn full(&self) -> bool {
        self.frames.len() >= BATCH_FRAMES || self.data.len() >= 1 << 20
    }
}

/// DLT_RAW is 12 (14 on OpenBSD) in some writers' files; LINKTYPE_RAW (101) is what they mean.
fn normalize_linktype(linktype: i32) -> u32 {
    // The upper 16 bits of the field can carry FCS flags (pcap LINKTYPE_ field layout).
    match linktype & 0xffff {
        12 | 14 => 101,
        other => other as u32,
    }
}

struct Interface {
    linktype: u32,
    units_per_second: u64,
    offset_s: i64,
}

/// One pcap or pcapng capture, read frame by frame from a reused buffer.
pub struct CaptureReader<'a> {
    name: String,
    reader: Box<dyn PcapReaderIterator + Send + 'a>,
    legacy: Option<(u32, bool)>,
    interfaces: Vec<Interface>,
    frames: u64,
    last_ts: u64,
}

impl CaptureReader<'static> {
    /// Open a capture file, or say clearly why not.
    pub fn open(path: &std::path::Path) -> Result<CaptureReader<'static>, String> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| format!("{name}: cannot open: {e}"))?;
        CaptureReader::new(&name, file)
    }
}

impl<'a> CaptureReader<'a> {
    /// Read a pcap or pcapng capture from `input` (`name` names it in errors).
    pub fn new(name: &str, input: impl Read + Send + 'a) -> Result<CaptureReader<'a>, String> {
        let reader = create_reader(BUFFER, input).map_err(|e| match e {
            PcapError::HeaderNotRecognized => format!("{name}: not a pcap or pcapng file"),
            PcapError::Eof | PcapError::UnexpectedEof | PcapError::Incomplete(_) => {
                format!("{name}: file is empty or truncated before its header ends")
            }
            other => format!("{name}: cannot read capture header: {other:?}"),
        })?;
        Ok(CaptureReader {
            name: name.to_owned(),
            reader,
            legacy: None,
            interfaces: Vec::new(),
            frames: 0,
            last_ts: 0,
        })
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.reader.consumed() as u64
    }

    /// Append frames to `batch` until it is full (`Ok(true)`) or the capture ends (`Ok(false)`).
    pub fn fill(&mut self, batch: &mut Batch) -> Result<bool, String> {
        let name = &self.name;
        let mut stalled = false;
        while !batch.full() {
            match self.reader.next() {
                Ok((offset, block)) => {
                    stalled = false;
                    match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            self.legacy = Some((
                                normalize_linktype(h.network.0),
                                h.is_nanosecond_precision(),
                            ));
                        }
                        PcapBlockOwned::Legacy(b) => {
                            let (linktype, nanos) = self.legacy.unwrap_or((1, false));
                            let frac = if nanos {
                                u64::from(b.ts_usec)
                            } else {
                                u64::from(b.ts_usec) * 1000
                            };
                            let ts = u64::from(b.ts_sec) * 1_000_000_000 + frac;
                            batch.push(linktype, ts, b.data);
                            self.frames += 1;
                            self.last_ts = ts;
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => self.interfaces.clear(),
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            self.interfaces.push(Interface {
                                linktype: normalize_linktype(idb.linktype.0),
                                units_per_second: idb.ts_resolution().unwrap_or(1_000_000),
                                offset_s: idb.ts_offset(),
                            });
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let iface =
                                self.interfaces.get(epb.if_id as usize).ok_or_else(|| {
                                    format!("{name}: packet on undeclared interface {}", epb.if_id)
                                })?;
                            let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                            let ns = u128::from(ticks) * 1_000_000_000
                                / u128::from(iface.units_per_second.max(1));
                            let ns = (ns as i128 + i128::from(iface.offset_s) * 1_000_000_000)
                                .clamp(0, i128::from(u64::MAX))
                                as u64;
                            let len = (epb.caplen as usize).min(epb.data.len());
                            batch.push(iface.linktype, ns, &epb.data[..len]);
                            self.frames += 1;
                            self.last_ts = ns;
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            let iface = self.interfaces.first().ok_or_else(|| {
                                format!("{name}: simple packet block before any interface")
                            })?;
                            batch.push(iface.linktype, self.last_ts, spb.data);
                            self.frames += 1;
                        }
                        PcapBlockOwned::NG(_) => {}
                    }
                    self.reader.consume(offset);
                }
                Err(PcapError::Eof) => return Ok(false),
                Err(PcapError::Incomplete(_)) => {
                    if stalled {
                        // A record larger than the buffer: make room for it.
                        let size = self.reader.data().len().max(BUFFER) * 2;
                        if size > 1 << 30 || !self.reader.grow(size) {
                            return Err(format!(
                                "{name}: malformed capture after {} frames: a record larger than 1 GiB",
                                self.frames
                            ));
                        }
                    }
                    self.reader
                        .refill()
                        .map_err(|e| format!("{name}: read error: {e:?}"))?;
                    stalled = true;
                }
                Err(PcapError::UnexpectedEof) => {
                    return Err(format!(
                        "{name}: truncated: the file ends inside a packet record (after {} frames)",
                        self.frames
                    ))
                }
                Err(e) => {
                    return Err(format!(
                        "{name}: malformed capture after {} frames: {e:?}",
                        self.frames
                    ))
                }
            }
        }
        Ok(true)
    }
}

/// A capture to read: a file, or bytes built into the binary.
pub enum Source {
    /// A capture file.
    File(PathBuf),
    /// Bytes in memory, with the name errors give them.
    Bytes(&'static str, &'static [u8]),
}

/// The consumer's side of a reader thread: full batches arrive on `batches` (an `Err` ends the
/// stream: that capture could not be read), emptied ones go back through `recycle`.
pub struct Stream {
    /// Full batches, in capture order; the channel closes after the last one.
    pub batches: Receiver<Result<Batch, String>>,
    /// Give a batch back once done with it (`try_send`: there is always room).
    pub recycle: SyncSender<Batch>,
    thread: JoinHandle<()>,
}

impl Stream {
    /// Wait for the reader thread (after the channel closed or was dropped).
    pub fn join(self) {
        drop(self.batches);
        drop(self.recycle);
        let _ = self.thread.join();
    }
}

/// Start a thread reading `sources` one after the other into batches.
pub fn spawn(sources: Vec<Source>) -> Stream {
    let (full_tx, full_rx) = sync_channel::<Result<Batch, String>>(IN_FLIGHT);
    let (empty_tx, empty_rx) = sync_channel::<Batch>(POOL);
    let thread = std::thread::Builder::new()
        .name("capture-reader".into())
        .spawn(move || {
            let mut allocated = 1;
            let mut base = 0u64;
            let mut batch = Batch::default();
            for source in sources {
                let opened = match &source {
                    Source::File(path) => CaptureReader::open(path),
                    Source::Bytes(name, bytes) => CaptureReader::new(name, *bytes),
                };
                let mut reader = match opened {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                };
                loop {
                    let more = match reader.fill(&mut batch) {
                        Ok(more) => more,
                        Err(e) => {
                            let _ = full_tx.send(Err(e));
                            return;
                        }
                    };
                    if !more {
                        break;
                    }
                    batch.position = base + reader.consumed();
                    if full_tx.send(Ok(batch)).is_err() {
                        return;
                    }
                    // A recycled batch, or a new one while fewer than POOL exist.
                    batch = match empty_rx.try_recv() {
                        Ok(b) => b,
                        Err(_) if allocated < POOL => {
                            allocated += 1;
                            Batch::default()
                        }
                        Err(_) => match empty_rx.recv() {
                            Ok(b) => b,
                            Err(_) => return,
                        },
                    };
                    batch.clear();
                }
                base += reader.consumed();
            }
            if !batch.frames.is_empty() {
                batch.position = base;
                let _ = full_tx.send(Ok(batch));
            }
        })
        .expect("spawn the capture reader thread");
    Stream {
        batches: full_rx,
        recycle: empty_tx,
        thread,
    }
}
