//! The event log: every decision and incident, appended to a crash-safe file
//! (`docs/event-log.md`). Records are length-prefixed and CRC-checked, each
//! appended with one write and made durable with `fdatasync` before it
//! counts as logged; a torn tail from a power cut is cut off when the log is
//! opened, and ignored by readers. The file rotates by size and age, and
//! rotated files older than the retention window are deleted (`rotate.rs`).

pub mod export;
mod rotate;

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use export::{parse_since, time_text, to_csv, to_json};
pub use rotate::Rotation;
use rotate::numbered;

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
    /// A door line could not be read or driven, or the door thread stopped.
    DoorFault,
    /// A door line works again.
    DoorFaultCleared,
    /// The system clock was found before the time floor (set back, or not
    /// set after a power cut).
    ClockWentBack,
    /// No usable gallery is installed: nobody is let in by face until one
    /// arrives in the inbox.
    NoGallery,
    /// The display could not be opened or written.
    DisplayFault,
    /// An enrolled person's face matched but was not found live (a photo,
    /// a screen or a mask held up to the camera): refused.
    NotLive,
}

impl EventKind {
    /// Every kind, in index order.
    pub const ALL: [EventKind; 22] = [
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
        EventKind::DoorFaultCleared,
        EventKind::ClockWentBack,
        EventKind::NoGallery,
        EventKind::DisplayFault,
        EventKind::NotLive,
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
            EventKind::DoorFaultCleared => "door-fault-cleared",
            EventKind::ClockWentBack => "clock-went-back",
            EventKind::NoGallery => "no-gallery",
            EventKind::DisplayFault => "display-fault",
            EventKind::NotLive => "not-live",
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
    /// Time of the current file's first record.
    first_ms: Option<u64>,
    /// When the oldest rotated file falls out of the retention window (Unix
    /// ms); `Some(0)` after a rotation (check at the next append).
    prune_due: Option<u64>,
    /// Test hook: fail this many new-file creations with ENOSPC.
    #[cfg(test)]
    fail_creates: u32,
}

impl EventLog {
    /// Opens (creating) the log at `path`, cutting off a torn tail. A file
    /// that is damaged before its end, or is not an event log, is first
    /// copied (or moved) aside so nothing is lost. Rotated files older than
    /// the retention window are deleted (`rotate.rs`).
    pub fn open(path: &Path, rotation: Rotation) -> Result<Self, EventLogError> {
        Self::open_at(path, rotation, rotate::now_ms())
    }

    /// [`EventLog::open`] with the clock read as `now_ms`.
    fn open_at(path: &Path, rotation: Rotation, now_ms: u64) -> Result<Self, EventLogError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let mut recovery = Recovery::default();
        let mut first_ms = None;
        let existing = match std::fs::read(path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(path)(e)),
        };
        let file = match existing {
            Some(bytes) if check_header(&bytes, path).is_ok() => {
                let s = scan(&bytes);
                recovery.records = s.events.len();
                first_ms = s.events.first().map(|e| e.time_ms);
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
        let mut log = Self {
            path: path.to_path_buf(),
            file,
            len,
            rotation: Rotation {
                keep: rotation.keep.max(1),
                ..rotation
            },
            recovery,
            needs_new_file: false,
            first_ms,
            prune_due: Some(0),
            #[cfg(test)]
            fail_creates: 0,
        };
        log.enforce_retention(now_ms);
        Ok(log)
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
        } else if self.len > HEADER
            && (self.len + record.len() as u64 > self.rotation.max_bytes
                || self.spans_too_long(event.time_ms))
        {
            self.rotate()?;
        }
        if self.prune_due.is_some_and(|due| event.time_ms >= due) {
            self.enforce_retention(event.time_ms);
        }
        match write(&self.file, &record, self.len) {
            Ok(()) => {
                if self.len == HEADER {
                    self.first_ms = Some(event.time_ms);
                }
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
mod tests;
