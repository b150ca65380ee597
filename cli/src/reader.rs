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

    /// Empty it for reuse.
    pub fn clear(&mut self) {
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

impl Interface {
    /// A packet block's timestamp (high and low 32 bits, in the interface's units) in ns since
    /// the Unix epoch.
    fn ts_ns(&self, high: u32, low: u32) -> u64 {
        let ticks = (u64::from(high) << 32) | u64::from(low);
        let ns = u128::from(ticks) * 1_000_000_000 / u128::from(self.units_per_second.max(1));
        (ns as i128 + i128::from(self.offset_s) * 1_000_000_000).clamp(0, i128::from(u64::MAX))
            as u64
    }
}

/// One pcap or pcapng capture, read frame by frame from a reused buffer.
pub struct CaptureReader<'a> {
    name: String,
    reader: Box<dyn PcapReaderIterator + Send + 'a>,
    legacy: Option<(u32, bool)>,
    interfaces: Vec<Interface>,
    /// Byte order of the current pcapng section.
    big_endian: bool,
    frames: u64,
    last_ts: u64,
    /// Why reading stopped early: the file ends inside a record (a capture still being written,
    /// or copied short). The frames before the cut were read, as Wireshark and tcpdump read them.
    cut: Option<String>,
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
            big_endian: false,
            frames: 0,
            last_ts: 0,
            cut: None,
        })
    }

    /// Why the capture ended before its end of file, once [`CaptureReader::fill`] said it ended:
    /// it is cut inside a packet record. Taken, so it is reported once.
    pub fn take_cut(&mut self) -> Option<String> {
        self.cut.take()
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.reader.consumed() as u64
    }

    /// Append frames to `batch` until it is full (`Ok(true)`) or the capture ends (`Ok(false)`:
    /// at its end of file, or cut short inside a record, which [`CaptureReader::take_cut`] then
    /// tells).
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
                        PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                            // A section of another major version is unreadable, and so is
                            // everything after it (its blocks may differ): the capture ends
                            // there, as in Wireshark, with what came before.
                            if shb.major_version != 1 {
                                eprintln!(
                                    "{name}: pcapng section of version {}.{} after {} frames: \
                                     only 1.x is defined; reading stops there",
                                    shb.major_version, shb.minor_version, self.frames
                                );
                                return Ok(false);
                            }
                            self.big_endian = shb.big_endian();
                            self.interfaces.clear();
                        }
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
                            let ns = iface.ts_ns(epb.ts_high, epb.ts_low);
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
                        // The obsolete Packet Block (type 2, pcapng draft §A): interface id (2),
                        // drops count (2), timestamp high and low (4 + 4), captured length (4),
                        // packet length (4), data. pcap-parser hands it over as unknown.
                        PcapBlockOwned::NG(Block::Unknown(b))
                            if b.block_type == 2 || b.block_type == 2u32.swap_bytes() =>
                        {
                            let u16_at = |at: usize| {
                                let v = [b.data[at], b.data[at + 1]];
                                if self.big_endian {
                                    u16::from_be_bytes(v)
                                } else {
                                    u16::from_le_bytes(v)
                                }
                            };
                            let u32_at = |at: usize| {
                                let v =
                                    [b.data[at], b.data[at + 1], b.data[at + 2], b.data[at + 3]];
                                if self.big_endian {
                                    u32::from_be_bytes(v)
                                } else {
                                    u32::from_le_bytes(v)
                                }
                            };
                            if b.data.len() < 20 {
                                return Err(format!(
                                    "{name}: malformed capture after {} frames: a packet block of {} bytes",
                                    self.frames,
                                    b.data.len()
                                ));
                            }
                            let if_id = u16_at(0);
                            let iface =
                                self.interfaces.get(usize::from(if_id)).ok_or_else(|| {
                                    format!("{name}: packet on undeclared interface {if_id}")
                                })?;
                            let ns = iface.ts_ns(u32_at(4), u32_at(8));
                            let len = (u32_at(12) as usize).min(b.data.len() - 20);
                            batch.push(iface.linktype, ns, &b.data[20..20 + len]);
                            self.frames += 1;
                            self.last_ts = ns;
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
                    // The capture ends here, with what came before ([`CaptureReader::take_cut`]).
                    self.cut = Some(format!(
                        "{name}: truncated: the file ends inside a packet record (after {} frames)",
                        self.frames
                    ));
                    return Ok(false);
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
    thread: JoinHandle<Vec<String>>,
}

impl Stream {
    /// Wait for the reader thread (after the channel closed or was dropped); returns the
    /// captures it read only up to a cut inside a record ([`CaptureReader::take_cut`]), each
    /// followed by the next capture.
    pub fn join(self) -> Vec<String> {
        drop(self.batches);
        drop(self.recycle);
        self.thread.join().unwrap_or_default()
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
            let mut cut = Vec::new();
            for source in sources {
                let opened = match &source {
                    Source::File(path) => CaptureReader::open(path),
                    Source::Bytes(name, bytes) => CaptureReader::new(name, *bytes),
                };
                let mut reader = match opened {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return cut;
                    }
                };
                loop {
                    let more = match reader.fill(&mut batch) {
                        Ok(more) => more,
                        Err(e) => {
                            let _ = full_tx.send(Err(e));
                            return cut;
                        }
                    };
                    if !more {
                        break;
                    }
                    batch.position = base + reader.consumed();
                    if full_tx.send(Ok(batch)).is_err() {
                        return cut;
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
                            Err(_) => return cut,
                        },
                    };
                    batch.clear();
                }
                base += reader.consumed();
                cut.extend(reader.take_cut());
            }
            if !batch.frames.is_empty() {
                batch.position = base;
                let _ = full_tx.send(Ok(batch));
            }
            cut
        })
        .expect("spawn the capture reader thread");
    Stream {
        batches: full_rx,
        recycle: empty_tx,
        thread,
    }
}

#[cfg(test)]
mod tests {
    use crate::capture::read_from;

    /// A pcapng block of `kind` around `body` (padded to 4 bytes), in the given byte order.
    fn block(be: bool, kind: u32, body: &[u8]) -> Vec<u8> {
        let u32b = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let len = 12 + body.len() as u32;
        let mut out = u32b(kind).to_vec();
        out.extend_from_slice(&u32b(len));
        out.extend_from_slice(&body);
        out.extend_from_slice(&u32b(len));
        out
    }

    /// A section header (major version `major`) and one Ethernet interface (microseconds).
    fn section(be: bool, major: u16) -> Vec<u8> {
        let u16b = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let u32b = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut shb = u32b(0x1A2B_3C4D).to_vec();
        shb.extend_from_slice(&u16b(major));
        shb.extend_from_slice(&u16b(0));
        shb.extend_from_slice(&[0xff; 8]); // section length unknown
        let mut idb = u16b(1).to_vec(); // LINKTYPE_ETHERNET
        idb.extend_from_slice(&[0, 0]);
        idb.extend_from_slice(&u32b(0)); // snaplen
        let mut out = block(be, 0x0A0D_0D0A, &shb);
        out.extend(block(be, 1, &idb));
        out
    }

    /// An obsolete Packet Block (type 2) of `frame` on interface 0 at `ts_us`.
    fn packet_block(be: bool, ts_us: u64, frame: &[u8]) -> Vec<u8> {
        let u16b = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let u32b = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut body = u16b(0).to_vec(); // interface
        body.extend_from_slice(&u16b(0)); // drops
        body.extend_from_slice(&u32b((ts_us >> 32) as u32));
        body.extend_from_slice(&u32b(ts_us as u32));
        body.extend_from_slice(&u32b(frame.len() as u32));
        body.extend_from_slice(&u32b(frame.len() as u32));
        body.extend_from_slice(frame);
        block(be, 2, &body)
    }

    #[test]
    fn obsolete_packet_blocks_are_read_in_either_byte_order() {
        for be in [false, true] {
            let frame: Vec<u8> = (0..61u8).collect();
            let mut file = section(be, 1);
            file.extend(packet_block(be, 1_700_000_000_000_001, &frame));
            file.extend(packet_block(be, 1_700_000_000_000_002, &frame[..14]));
            let frames = read_from("test", &file[..]).unwrap();
            assert_eq!(frames.len(), 2, "big endian {be}");
            assert_eq!(frames[0].data, frame);
            assert_eq!(frames[0].linktype, 1);
            assert_eq!(frames[0].ts_ns, 1_700_000_000_000_001_000);
            assert_eq!(frames[1].data, &frame[..14]);
        }
    }

    #[test]
    fn a_section_of_another_major_version_ends_the_capture() {
        let frame = [0u8; 60];
        let mut file = section(false, 1);
        file.extend(packet_block(false, 1, &frame));
        file.extend(section(false, 2));
        file.extend(packet_block(false, 2, &frame));
        let frames = read_from("test", &file[..]).unwrap();
        assert_eq!(frames.len(), 1);
    }

    #[test]
    fn a_packet_block_too_short_for_its_header_is_an_error() {
        let mut file = section(false, 1);
        file.extend(block(false, 2, &[0; 8]));
        let err = read_from("test", &file[..]).err().unwrap();
        assert!(err.contains("a packet block of 8 bytes"), "{err}");
    }
}
