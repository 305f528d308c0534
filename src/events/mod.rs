//! The event log: every decision and incident, appended to a crash-safe file
//! (`docs/event-log.md`). Records are length-prefixed and CRC-checked, each
//! appended with one write and made durable with `fdatasync` before it
//! counts as logged; a torn tail from a power cut is cut off when the log is
//! opened, and ignored by readers. The file rotates by size.

pub mod export;

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use export::{parse_since, time_text, to_csv, to_json};

/// File magic.
pub const MAGIC: [u8; 4] = *b"FGEV";
/// Format version written and read.
pub const FORMAT_VERSION: u16 = 1;
/// Header bytes: magic, version, reserved.
pub const HEADER: u64 = 8;
/// Largest record payload; longer details are shortened on write.
pub const MAX_PAYLOAD: usize = 4096;
/// Length and CRC before each payload.
const FRAME: usize = 8;

/// What happened. Variants are only ever added at the end: postcard stores
/// the variant's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// The terminal started.
    Started,
    /// The terminal stopped.
    Stopped,
    /// An enrolled person was let in.
    Granted,
    /// An enrolled person was refused (outside their validity window).
    Denied,
    /// A face matched nobody.
    Unknown,
    /// The exit button opened the door.
    ExitButton,
    /// The door opened during an unlock.
    DoorOpened,
    /// The door closed.
    DoorClosed,
    /// The door stayed open too long.
    DoorHeldOpen,
    /// The door opened while locked.
    DoorForced,
    /// The camera stopped delivering frames.
    CameraLost,
    /// The camera works again.
    CameraRecovered,
    /// A gallery update was installed.
    GalleryInstalled,
    /// A gallery update was refused.
    GalleryRefused,
    /// The previous gallery was restored.
    GalleryRolledBack,
    /// The event log was exported.
    LogExported,
    /// A door line could not be read or driven.
    DoorFault,
    /// The system clock was found before the time floor (set back, or not
    /// set after a power cut).
    ClockWentBack,
}

impl EventKind {
    /// Every kind, in index order.
    pub const ALL: [EventKind; 18] = [
        EventKind::Started,
        EventKind::Stopped,
        EventKind::Granted,
        EventKind::Denied,
        EventKind::Unknown,
        EventKind::ExitButton,
        EventKind::DoorOpened,
        EventKind::DoorClosed,
        EventKind::DoorHeldOpen,
        EventKind::DoorForced,
        EventKind::CameraLost,
        EventKind::CameraRecovered,
        EventKind::GalleryInstalled,
        EventKind::GalleryRefused,
        EventKind::GalleryRolledBack,
        EventKind::LogExported,
        EventKind::DoorFault,
        EventKind::ClockWentBack,
    ];

    /// Stable lower-case name for CSV, JSON and `--kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::Stopped => "stopped",
            EventKind::Granted => "granted",
            EventKind::Denied => "denied",
            EventKind::Unknown => "unknown",
            EventKind::ExitButton => "exit-button",
            EventKind::DoorOpened => "door-opened",
            EventKind::DoorClosed => "door-closed",
            EventKind::DoorHeldOpen => "door-held-open",
            EventKind::DoorForced => "door-forced",
            EventKind::CameraLost => "camera-lost",
            EventKind::CameraRecovered => "camera-recovered",
            EventKind::GalleryInstalled => "gallery-installed",
            EventKind::GalleryRefused => "gallery-refused",
            EventKind::GalleryRolledBack => "gallery-rolled-back",
            EventKind::LogExported => "log-exported",
            EventKind::DoorFault => "door-fault",
            EventKind::ClockWentBack => "clock-went-back",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown event kind {s:?}"))
    }
}

/// One logged event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unix time, milliseconds.
    pub time_ms: u64,
    /// What happened.
    pub kind: EventKind,
    /// Gallery person id, if any.
    pub person_id: Option<u32>,
    /// Person's name at the time, if any.
    pub name: Option<String>,
    /// Best cosine score, if any.
    pub score: Option<f32>,
    /// Frames the decision rests on.
    pub frames: u16,
    /// Free text: reason, error, gallery version …
    pub detail: Option<String>,
}

/// The log could not be opened, read or appended to.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// File access failed.
    #[error("event log {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// An event could not be encoded (nothing was written).
    #[error("event log {path}: cannot encode event: {cause}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: postcard::Error,
    },
    /// The file is not an event log of a version this build reads.
    #[error("event log {path}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EventLogError + '_ {
    move |cause| EventLogError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// When to rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before the file would grow past this.
    pub max_bytes: u64,
    /// Rotated files kept (`log.1` newest … `log.N`).
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 20,
            keep: 4,
        }
    }
}

/// What opening found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Good records found.
    pub records: usize,
    /// Bytes cut off the end (a torn or damaged tail).
    pub truncated_bytes: u64,
    /// Where a damaged file was copied before it was cut (nothing is lost).
    pub saved_copy: Option<PathBuf>,
}

/// How far the good records of a log's bytes go.
#[derive(Debug, Clone, PartialEq)]
struct Scan {
    events: Vec<Event>,
    good_len: u64,
    /// A complete record failed its check (not just a cut-off tail).
    damaged: bool,
}

fn scan(bytes: &[u8]) -> Scan {
    let mut events = Vec::new();
    let mut at = HEADER as usize;
    let mut damaged = false;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < FRAME {
            break; // torn length/CRC
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len == 0 || len > MAX_PAYLOAD {
            // Zeros are what a power cut leaves after an extended file end.
            damaged = rest.iter().any(|&b| b != 0);
            break;
        }
        if rest.len() < FRAME + len {
            break; // torn payload
        }
        let payload = &rest[FRAME..FRAME + len];
        let decoded = (crc32fast::hash(payload) == crc)
            .then(|| postcard::from_bytes::<Event>(payload).ok())
            .flatten();
        match decoded {
            Some(e) => events.push(e),
            None => {
                damaged = rest.len() > FRAME + len || rest.iter().any(|&b| b != 0);
                break;
            }
        }
        at += FRAME + len;
    }
    Scan {
        events,
        good_len: at.min(bytes.len()) as u64,
        damaged,
    }
}

/// A file cut while its header was being written: it holds no records.
fn header_incomplete(bytes: &[u8]) -> bool {
    bytes.len() < HEADER as usize && header().starts_with(bytes)
}

fn check_header(bytes: &[u8], path: &Path) -> Result<(), EventLogError> {
    let bad = |msg: String| EventLogError::Format {
        path: path.to_path_buf(),
        msg,
    };
    if bytes.len() < HEADER as usize || bytes[..4] != MAGIC {
        return Err(bad("not a facegate event log (bad magic)".into()));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        )));
    }
    Ok(())
}

fn header() -> [u8; HEADER as usize] {
    let mut h = [0u8; HEADER as usize];
    h[..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => File::open(d)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    s.into()
}

/// `log.<tag>-<unix time>` beside `log`, with `-2`, `-3` … added if that name
/// is taken: an earlier copy is never replaced.
fn aside(path: &Path, tag: &str) -> PathBuf {
    let mut base = path.as_os_str().to_owned();
    base.push(format!(".{tag}-{}", crate::gallery::now_unix()));
    let base = PathBuf::from(base);
    let mut candidate = base.clone();
    for n in 2.. {
        if !candidate.exists() {
            break;
        }
        let mut s = base.as_os_str().to_owned();
        s.push(format!("-{n}"));
        candidate = s.into();
    }
    candidate
}

/// Frames one event: length, CRC, postcard payload (detail shortened to fit).
/// Never yields an empty payload: a zero length would end every reader's scan.
pub fn encode(event: &Event) -> Result<Vec<u8>, postcard::Error> {
    let mut event = event.clone();
    let mut payload = postcard::to_stdvec(&event)?;
    while payload.len() > MAX_PAYLOAD {
        let over = payload.len() - MAX_PAYLOAD;
        let detail = event.detail.get_or_insert_with(String::new);
        let mut keep = detail.len().saturating_sub(over + 4);
        while !detail.is_char_boundary(keep) {
            keep -= 1;
        }
        detail.truncate(keep);
        detail.push('…');
        if keep == 0 {
            event.name = event.name.map(|n| n.chars().take(64).collect());
        }
        payload = postcard::to_stdvec(&event)?;
    }
    let mut out = Vec::with_capacity(FRAME + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// An open log, appending.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    file: File,
    len: u64,
    rotation: Rotation,
    recovery: Recovery,
    /// Rotated away, new file not yet created.
    needs_new_file: bool,
    /// Test hook: fail this many new-file creations with ENOSPC.
    #[cfg(test)]
    fail_creates: u32,
}

impl EventLog {
    /// Opens (creating) the log at `path`, cutting off a torn tail. A file
    /// that is damaged before its end, or is not an event log, is first
    /// copied (or moved) aside so nothing is lost.
    pub fn open(path: &Path, rotation: Rotation) -> Result<Self, EventLogError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let mut recovery = Recovery::default();
        let existing = match std::fs::read(path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(path)(e)),
        };
        let file = match existing {
            Some(bytes) if check_header(&bytes, path).is_ok() => {
                let s = scan(&bytes);
                recovery.records = s.events.len();
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(io_err(path))?;
                if s.good_len < bytes.len() as u64 {
                    if s.damaged {
                        let copy = aside(path, "damaged");
                        crate::atomic::write(&copy, &bytes).map_err(io_err(&copy))?;
                        recovery.saved_copy = Some(copy);
                    }
                    recovery.truncated_bytes = bytes.len() as u64 - s.good_len;
                    file.set_len(s.good_len).map_err(io_err(path))?;
                    file.sync_all().map_err(io_err(path))?;
                }
                file
            }
            Some(bytes) if !header_incomplete(&bytes) => {
                let aside = aside(path, "corrupt");
                std::fs::rename(path, &aside).map_err(io_err(path))?;
                recovery.truncated_bytes = bytes.len() as u64;
                recovery.saved_copy = Some(aside);
                Self::create(path)?
            }
            // Empty, or cut while its header was written: start it afresh.
            Some(_) | None => Self::create(path)?,
        };
        let len = file.metadata().map_err(io_err(path))?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            len,
            rotation: Rotation {
                keep: rotation.keep.max(1),
                ..rotation
            },
            recovery,
            needs_new_file: false,
            #[cfg(test)]
            fail_creates: 0,
        })
    }

    fn create(path: &Path) -> Result<File, EventLogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io_err(path))?;
        file.write_all_at(&header(), 0).map_err(io_err(path))?;
        file.sync_all().map_err(io_err(path))?;
        sync_dir(path).map_err(io_err(path))?;
        Ok(file)
    }

    /// What opening found.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event and makes it durable; only `Ok` means it is logged.
    /// On failure (a full disk) the file is cut back, so no partial record
    /// remains, and a later append can succeed.
    pub fn append(&mut self, event: &Event) -> Result<(), EventLogError> {
        self.append_with(event, |file, bytes, at| {
            file.write_all_at(bytes, at)?;
            file.sync_data()
        })
    }

    fn append_with(
        &mut self,
        event: &Event,
        write: impl FnOnce(&File, &[u8], u64) -> std::io::Result<()>,
    ) -> Result<(), EventLogError> {
        let record = encode(event).map_err(|cause| EventLogError::Encode {
            path: self.path.clone(),
            cause,
        })?;
        if self.needs_new_file {
            // A rotation moved the file away but could not start a new one.
            self.start_new_file()?;
        } else if self.len > HEADER && self.len + record.len() as u64 > self.rotation.max_bytes {
            self.rotate()?;
        }
        match write(&self.file, &record, self.len) {
            Ok(()) => {
                self.len += record.len() as u64;
                Ok(())
            }
            Err(cause) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.sync_data();
                Err(io_err(&self.path)(cause))
            }
        }
    }

    /// `log` → `log.1` → … → `log.keep` (the oldest is dropped), new `log`.
    fn rotate(&mut self) -> Result<(), EventLogError> {
        let keep = self.rotation.keep;
        let oldest = numbered(&self.path, keep);
        match std::fs::remove_file(&oldest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(&oldest)(e)),
            _ => {}
        }
        for n in (1..keep).rev() {
            let from = numbered(&self.path, n);
            if from.exists() {
                let to = numbered(&self.path, n + 1);
                std::fs::rename(&from, &to).map_err(io_err(&from))?;
            }
        }
        let first = numbered(&self.path, 1);
        std::fs::rename(&self.path, &first).map_err(io_err(&self.path))?;
        // From here a failure must not rotate again on retry (each retry
        // would drop another old file): the next append only starts the file.
        self.needs_new_file = true;
        sync_dir(&self.path).map_err(io_err(&self.path))?;
        self.start_new_file()
    }

    /// Creates the new, empty log after a rotation.
    fn start_new_file(&mut self) -> Result<(), EventLogError> {
        #[cfg(test)]
        if self.fail_creates > 0 {
            self.fail_creates -= 1;
            return Err(io_err(&self.path)(std::io::Error::from_raw_os_error(28)));
        }
        self.file = Self::create(&self.path)?;
        self.len = HEADER;
        self.needs_new_file = false;
        Ok(())
    }
}

/// Everything readable in a log and its rotated files.
#[derive(Debug, Clone, Default)]
pub struct LogContents {
    /// Good events, oldest first.
    pub events: Vec<Event>,
    /// Per file: (path, bytes after the last good record that were ignored).
    pub ignored: Vec<(PathBuf, u64)>,
}

/// Reads the log at `path` and its rotated files, oldest first. Never writes.
pub fn read(path: &Path) -> Result<LogContents, EventLogError> {
    let mut files: Vec<PathBuf> = (1..=1000)
        .map(|n| numbered(path, n))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    files.push(path.to_path_buf());
    let mut out = LogContents::default();
    let rotated = files.len() > 1;
    for file in files {
        let mut bytes = Vec::new();
        match File::open(&file).and_then(|mut f| f.read_to_end(&mut bytes)) {
            Ok(_) => {}
            // Cut between rotating the log away and creating the new one.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && rotated && file == path => {
                continue;
            }
            Err(e) => return Err(io_err(&file)(e)),
        }
        if header_incomplete(&bytes) {
            continue;
        }
        check_header(&bytes, &file)?;
        let s = scan(&bytes);
        out.events.extend(s.events);
        let ignored = bytes.len() as u64 - s.good_len;
        if ignored > 0 {
            out.ignored.push((file, ignored));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u32) -> Event {
        Event {
            time_ms: 1_764_300_000_000 + u64::from(i),
            kind: EventKind::ALL[i as usize % EventKind::ALL.len()],
            person_id: Some(i),
            name: Some(format!("José Müller {i}")),
            score: Some(0.5 + i as f32 / 1000.0),
            frames: 5,
            detail: i
                .is_multiple_of(3)
                .then(|| format!("detail, with \"quotes\" {i}")),
        }
    }

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("facegate-events-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn big() -> Rotation {
        Rotation {
            max_bytes: 1 << 30,
            keep: 2,
        }
    }

    #[test]
    fn round_trip_and_reopen_appends() {
        let path = dir("rt").join("events.log");
        let mut log = EventLog::open(&path, big()).unwrap();
        for i in 0..5 {
            log.append(&ev(i)).unwrap();
        }
        drop(log);
        let mut log = EventLog::open(&path, big()).unwrap();
        assert_eq!(log.recovery().records, 5);
        log.append(&ev(5)).unwrap();
        let read = read(&path).unwrap();
        assert_eq!(read.events, (0..6).map(ev).collect::<Vec<_>>());
        assert!(read.ignored.is_empty());
    }

    /// A cut anywhere in the last record: readers see the earlier records,
    /// opening cuts the tail off and appends continue cleanly.
    #[test]
    fn torn_tail_at_every_byte() {
        let d = dir("torn");
        let path = d.join("events.log");
        let mut log = EventLog::open(&path, big()).unwrap();
        for i in 0..3 {
            log.append(&ev(i)).unwrap();
        }
        drop(log);
        let full = std::fs::read(&path).unwrap();
        let last = encode(&ev(2)).unwrap().len();
        for cut in full.len() - last..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let r = read(&path).unwrap();
            assert_eq!(r.events, vec![ev(0), ev(1)], "cut at {cut}");
            let mut log = EventLog::open(&path, big()).unwrap();
            assert_eq!(
                log.recovery().truncated_bytes,
                (cut - (full.len() - last)) as u64
            );
            assert!(log.recovery().saved_copy.is_none());
            log.append(&ev(9)).unwrap();
            assert_eq!(read(&path).unwrap().events, vec![ev(0), ev(1), ev(9)]);
        }
    }

    #[test]
    fn zero_filled_tail_is_a_torn_tail() {
        let path = dir("zeros").join("events.log");
        let mut log = EventLog::open(&path, big()).unwrap();
        log.append(&ev(1)).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0; 300]);
        std::fs::write(&path, &bytes).unwrap();
        let log = EventLog::open(&path, big()).unwrap();
        assert_eq!(log.recovery().truncated_bytes, 300);
        assert!(log.recovery().saved_copy.is_none());
    }

    /// A flipped bit in a middle record: reading stops there and reports the
    /// rest; opening keeps a copy of the damaged file before cutting.
    #[test]
    fn damage_in_the_middle_is_reported_and_kept() {
        let d = dir("middle");
        let path = d.join("events.log");
        let mut log = EventLog::open(&path, big()).unwrap();
        for i in 0..4 {
            log.append(&ev(i)).unwrap();
        }
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        let second = HEADER as usize + encode(&ev(0)).unwrap().len();
        bytes[second + FRAME + 3] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let r = read(&path).unwrap();
        assert_eq!(r.events, vec![ev(0)]);
        assert_eq!(r.ignored[0].1, (bytes.len() - second) as u64);
        let log = EventLog::open(&path, big()).unwrap();
        let copy = log.recovery().saved_copy.clone().unwrap();
        assert_eq!(std::fs::read(copy).unwrap(), bytes);
        assert_eq!(read(&path).unwrap().events, vec![ev(0)]);
    }

    #[test]
    fn not_an_event_log_is_moved_aside() {
        let d = dir("foreign");
        let path = d.join("events.log");
        std::fs::write(&path, b"hello, this is not a log").unwrap();
        assert!(read(&path).is_err());
        let mut log = EventLog::open(&path, big()).unwrap();
        let aside = log.recovery().saved_copy.clone().unwrap();
        assert_eq!(std::fs::read(aside).unwrap(), b"hello, this is not a log");
        log.append(&ev(1)).unwrap();
        assert_eq!(read(&path).unwrap().events, vec![ev(1)]);
    }

    #[test]
    fn log_cut_while_writing_its_header_is_empty() {
        let path = dir("header").join("events.log");
        for cut in 0..HEADER as usize {
            std::fs::write(&path, &header()[..cut]).unwrap();
            assert!(read(&path).unwrap().events.is_empty());
            let mut log = EventLog::open(&path, big()).unwrap();
            assert!(log.recovery().saved_copy.is_none());
            log.append(&ev(1)).unwrap();
            assert_eq!(read(&path).unwrap().events, vec![ev(1)]);
        }
    }

    #[test]
    fn huge_length_field_reads_as_damage_without_allocating() {
        let path = dir("len").join("events.log");
        let mut log = EventLog::open(&path, big()).unwrap();
        log.append(&ev(1)).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&path).unwrap().events, vec![ev(1)]);
    }

    #[test]
    fn rotation_keeps_n_files_and_reads_in_order() {
        let d = dir("rotate");
        let path = d.join("events.log");
        let rotation = Rotation {
            max_bytes: 400,
            keep: 3,
        };
        let mut log = EventLog::open(&path, rotation).unwrap();
        for i in 0..60 {
            log.append(&ev(i)).unwrap();
        }
        assert!(numbered(&path, 3).exists() && !numbered(&path, 4).exists());
        for n in 1..=3 {
            assert!(std::fs::metadata(numbered(&path, n)).unwrap().len() <= 400);
        }
        let events = read(&path).unwrap().events;
        let first = events[0].person_id.unwrap();
        assert!(first > 0, "the oldest file should have been dropped");
        let expected: Vec<Event> = (first..60).map(ev).collect();
        assert_eq!(events, expected);
    }

    /// A rotation that cannot start the new file (full disk) is finished by
    /// the next append instead of rotating again, which would drop another
    /// old file on every retry.
    #[test]
    fn failed_rotation_is_finished_not_repeated() {
        let path = dir("rotfail").join("events.log");
        let rotation = Rotation {
            max_bytes: 300,
            keep: 3,
        };
        let mut log = EventLog::open(&path, rotation).unwrap();
        let mut i = 0;
        while !numbered(&path, 2).exists() {
            log.append(&ev(i)).unwrap();
            i += 1;
        }
        let before = read(&path).unwrap().events;
        log.fail_creates = 3;
        for _ in 0..3 {
            // Fill the current file until an append has to rotate and fails.
            while log.append(&ev(i)).is_ok() {
                i += 1;
            }
        }
        log.append(&ev(i)).unwrap();
        assert!(!numbered(&path, 4).exists());
        let after = read(&path).unwrap().events;
        // Nothing logged before the failures was dropped by the retries.
        let first = after[0].person_id.unwrap();
        assert!(first <= before[0].person_id.unwrap() + 8, "{first}");
        assert_eq!(after.last(), Some(&ev(i)));
        let ids: Vec<u32> = after.iter().map(|e| e.person_id.unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    }

    #[test]
    fn copies_aside_never_replace_each_other() {
        let path = dir("aside").join("events.log");
        for n in 0..3u8 {
            std::fs::write(&path, [b'x', n]).unwrap();
            let log = EventLog::open(&path, big()).unwrap();
            let aside = log.recovery().saved_copy.clone().unwrap();
            assert_eq!(std::fs::read(&aside).unwrap(), [b'x', n]);
        }
        let kept = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("events.log.corrupt-")
            })
            .count();
        assert_eq!(kept, 3);
    }

    #[test]
    fn failed_append_leaves_no_partial_record() {
        let path = dir("enospc").join("events.log");
        let mut log = EventLog::open(&path, big()).unwrap();
        log.append(&ev(1)).unwrap();
        let err = log
            .append_with(&ev(2), |file, bytes, at| {
                file.write_all_at(&bytes[..bytes.len() / 2], at)?;
                Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
            })
            .unwrap_err();
        assert!(err.to_string().contains("No space left"), "{err}");
        assert_eq!(read(&path).unwrap().ignored, vec![]);
        log.append(&ev(3)).unwrap();
        assert_eq!(read(&path).unwrap().events, vec![ev(1), ev(3)]);
    }

    #[test]
    fn long_details_are_shortened_to_fit() {
        let mut e = ev(3);
        e.detail = Some("é".repeat(10_000));
        let record = encode(&e).unwrap();
        assert!(record.len() <= FRAME + MAX_PAYLOAD);
        let path = dir("long").join("events.log");
        let mut log = EventLog::open(&path, big()).unwrap();
        log.append(&e).unwrap();
        let back = &read(&path).unwrap().events[0];
        assert!(back.detail.as_ref().unwrap().ends_with('…'));
    }

    #[test]
    fn kinds_have_stable_names() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>().unwrap(), k);
        }
        assert!("door-exploded".parse::<EventKind>().is_err());
    }
}
