//! Rotation by size and age, and retention: `events.log` → `events.log.1` →
//! … → `events.log.keep`, and rotated files whose records are all older
//! than the retention window deleted.
//!
//! With a window of `max_age`, the live file is also rotated once it would
//! span `max_age / (keep + 1)` (its *span*), and a rotated file is deleted
//! once its newest record is older than `max_age - span`. So no record older
//! than `max_age` is kept (checked at open and at every append), while on a
//! quiet door `keep + 1` files still cover the whole window: records are
//! deleted between `max_age - span` and `max_age` after they were written.
//! A busy door reaches `keep` files sooner and drops its oldest file by size.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::warn;

use super::{EventLog, EventLogError, HEADER, check_header, io_err, scan, sync_dir};

/// Retried this long after a failed clean-up (not at every append).
const RETRY_MS: u64 = 3_600_000;

/// When to rotate, and how long to keep records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before the file would grow past this.
    pub max_bytes: u64,
    /// Rotated files kept (`log.1` newest … `log.N`).
    pub keep: u32,
    /// Delete records older than this (whole files at a time); `None` keeps
    /// them until `keep` pushes them out.
    pub max_age: Option<Duration>,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 20,
            keep: 4,
            max_age: Some(Duration::from_secs(90 * 86_400)),
        }
    }
}

impl Rotation {
    /// Longest time between the first and the last record of one file, ms.
    fn span_ms(&self) -> Option<u64> {
        let age = self.max_age?.as_millis();
        let span = age / (u128::from(self.keep.max(1)) + 1);
        Some(u64::try_from(span).unwrap_or(u64::MAX).max(1))
    }

    /// A rotated file whose newest record is older than this is deleted, ms.
    fn horizon_ms(&self) -> Option<u64> {
        let age = u64::try_from(self.max_age?.as_millis()).unwrap_or(u64::MAX);
        Some(age.saturating_sub(self.span_ms()?))
    }
}

/// The system clock, Unix milliseconds (0 before 1970).
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `log.<n>`.
pub(super) fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    s.into()
}

/// The newest record time in a rotated file, ms; the file's modification
/// time if it holds no readable record; `None` if neither can be had.
fn newest_ms(path: &Path) -> Option<u64> {
    let newest = std::fs::read(path).ok().and_then(|bytes| {
        check_header(&bytes, path).ok()?;
        scan(&bytes).events.iter().map(|e| e.time_ms).max()
    });
    newest.or_else(|| {
        let modified = std::fs::metadata(path).ok()?.modified().ok()?;
        let since = modified.duration_since(UNIX_EPOCH).ok()?;
        u64::try_from(since.as_millis()).ok()
    })
}

impl EventLog {
    /// Whether a record at `time_ms` would make the live file span longer
    /// than the retention window allows. A clock gone backwards never does.
    pub(super) fn spans_too_long(&self, time_ms: u64) -> bool {
        match (self.rotation.span_ms(), self.first_ms) {
            (Some(span), Some(first)) => time_ms >= first && time_ms - first >= span,
            _ => false,
        }
    }

    /// `log` → `log.1` → … → `log.keep` (the oldest is dropped), new `log`.
    pub(super) fn rotate(&mut self) -> Result<(), EventLogError> {
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
        self.first_ms = None;
        self.prune_due = Some(0);
        sync_dir(&self.path).map_err(io_err(&self.path))?;
        self.start_new_file()
    }

    /// Creates the new, empty log after a rotation.
    pub(super) fn start_new_file(&mut self) -> Result<(), EventLogError> {
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

    /// Deletes the rotated files whose records are all past the retention
    /// horizon at `now_ms`, oldest first (so the rest stays numbered without
    /// gaps), and notes when the next one will be. A failure is reported in
    /// the journal and retried later: the log itself keeps working.
    pub(super) fn enforce_retention(&mut self, now_ms: u64) {
        let Some(horizon) = self.rotation.horizon_ms() else {
            self.prune_due = None;
            return;
        };
        match self.prune(now_ms.saturating_sub(horizon)) {
            Ok(oldest_kept) => {
                self.prune_due = oldest_kept.map(|t| t.saturating_add(horizon).saturating_add(1));
            }
            Err(err) => {
                warn!(%err, "event log: cannot delete records past their retention");
                self.prune_due = Some(now_ms.saturating_add(RETRY_MS));
            }
        }
    }

    /// Deletes rotated files, from the oldest, while their newest record is
    /// before `cutoff_ms`; returns the newest record time of the oldest file
    /// left, if any.
    fn prune(&self, cutoff_ms: u64) -> Result<Option<u64>, EventLogError> {
        let files: Vec<PathBuf> = (1..=1000)
            .map(|n| numbered(&self.path, n))
            .take_while(|p| p.exists())
            .collect();
        let mut deleted = false;
        let mut oldest_kept = None;
        for file in files.iter().rev() {
            match newest_ms(file) {
                Some(t) if t < cutoff_ms => {
                    std::fs::remove_file(file).map_err(io_err(file))?;
                    deleted = true;
                }
                Some(t) => {
                    oldest_kept = Some(t);
                    break;
                }
                None => {
                    // Unknown age: kept, and looked at again in a while.
                    oldest_kept = Some(cutoff_ms.saturating_add(RETRY_MS));
                    break;
                }
            }
        }
        if deleted {
            sync_dir(&self.path).map_err(io_err(&self.path))?;
        }
        Ok(oldest_kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::tests::{dir, ev};
    use crate::events::{Event, read};

    const DAY: u64 = 86_400_000;
    /// 2026-01-01T00:00:00Z.
    const T0: u64 = 1_767_225_600_000;

    fn at(i: u32, time_ms: u64) -> Event {
        Event { time_ms, ..ev(i) }
    }

    fn days(keep: u32, max_age_days: u64) -> Rotation {
        Rotation {
            max_bytes: 1 << 30,
            keep,
            max_age: Some(Duration::from_millis(max_age_days * DAY)),
        }
    }

    fn times(path: &Path) -> Vec<u64> {
        read(path)
            .unwrap()
            .events
            .iter()
            .map(|e| e.time_ms)
            .collect()
    }

    #[test]
    fn rotation_keeps_n_files_and_reads_in_order() {
        let d = dir("rotate");
        let path = d.join("events.log");
        let rotation = Rotation {
            max_bytes: 400,
            keep: 3,
            max_age: None,
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
            max_age: None,
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
    fn span_and_horizon() {
        let r = days(4, 90);
        assert_eq!(r.span_ms(), Some(18 * DAY));
        assert_eq!(r.horizon_ms(), Some(72 * DAY));
        assert_eq!(days(8, 90).span_ms(), Some(10 * DAY));
        let forever = Rotation { max_age: None, ..r };
        assert_eq!((forever.span_ms(), forever.horizon_ms()), (None, None));
        assert_eq!(
            Rotation::default().max_age,
            Some(Duration::from_secs(90 * 86_400))
        );
    }

    /// One event a day for a year at a quiet door (the size limit is never
    /// reached): after every append no record is older than 90 days, and at
    /// least 72 days (90 · keep / (keep + 1)) are kept.
    #[test]
    fn a_quiet_door_keeps_between_horizon_and_max_age() {
        let path = dir("quiet").join("events.log");
        let mut log = EventLog::open_at(&path, days(4, 90), T0).unwrap();
        for day in 0..365u32 {
            let now = T0 + u64::from(day) * DAY;
            log.append(&at(day, now)).unwrap();
            let t = times(&path);
            let oldest = now - t[0];
            assert!(
                oldest <= 90 * DAY,
                "day {day}: oldest {} days",
                oldest / DAY
            );
            if day >= 90 {
                assert!(oldest >= 72 * DAY, "day {day}: only {} days", oldest / DAY);
            }
            // Contiguous: nothing in the middle went missing.
            assert!(t.windows(2).all(|w| w[1] - w[0] == DAY), "day {day}");
        }
        assert!(!numbered(&path, 5).exists());
    }

    /// Opening after a long pause deletes the rotated files past the horizon
    /// (the terminal was off for months), and keeps the others.
    #[test]
    fn open_deletes_rotated_files_past_the_horizon() {
        let path = dir("open").join("events.log");
        let mut log = EventLog::open_at(&path, days(4, 90), T0).unwrap();
        for day in 0..60u32 {
            log.append(&at(day, T0 + u64::from(day) * DAY)).unwrap();
        }
        drop(log);
        assert!(numbered(&path, 3).exists(), "{:?}", times(&path));
        let before = times(&path);
        let now = T0 + 130 * DAY;
        let log = EventLog::open_at(&path, days(4, 90), now).unwrap();
        let after = times(&path);
        assert!(after.len() < before.len());
        assert!(
            after.iter().all(|t| now - t <= 90 * DAY),
            "{:?}",
            after.iter().map(|t| (now - t) / DAY).collect::<Vec<_>>()
        );
        // The records kept are the newest, without gaps.
        assert_eq!(after[..], before[before.len() - after.len()..]);
        drop(log);
        // Retention off: opening deletes nothing.
        let none = Rotation {
            max_age: None,
            ..days(4, 90)
        };
        let _ = EventLog::open_at(&path, none, now + 1000 * DAY).unwrap();
        assert_eq!(times(&path), after);
    }

    /// A busy door: many records a day, size rotation; retention only drops
    /// whole files that are entirely too old.
    #[test]
    fn size_rotation_and_age_together() {
        let path = dir("busy").join("events.log");
        let rotation = Rotation {
            max_bytes: 2000,
            ..days(8, 3)
        };
        let mut log = EventLog::open_at(&path, rotation, T0).unwrap();
        let step = DAY / 24 / 6;
        for i in 0..6 * 24 * 5 {
            let now = T0 + u64::from(i) * step;
            log.append(&at(i, now)).unwrap();
            let t = times(&path);
            assert!(now - t[0] <= 3 * DAY, "{i}: {}", now - t[0]);
            assert!(t.windows(2).all(|w| w[1] - w[0] == step), "{i}");
        }
        assert!(numbered(&path, 8).exists() && !numbered(&path, 9).exists());
    }

    /// A clock that jumps back does not rotate (each append would otherwise
    /// rotate, and `keep` drop the history); one that jumps ahead rotates
    /// once.
    #[test]
    fn clock_jumps_do_not_churn_files() {
        let path = dir("jumps").join("events.log");
        let mut log = EventLog::open_at(&path, days(4, 90), T0).unwrap();
        for i in 0..20u32 {
            let t = if i % 2 == 0 { T0 + u64::from(i) } else { 1000 };
            log.append(&at(i, t)).unwrap();
        }
        assert!(!numbered(&path, 1).exists());
        log.append(&at(20, T0 + 20 * DAY)).unwrap();
        assert!(numbered(&path, 1).exists() && !numbered(&path, 2).exists());
    }

    /// A rotated file with no readable record is judged by its modification
    /// time (just now here): kept.
    #[test]
    fn unreadable_rotated_file_goes_by_its_mtime() {
        let path = dir("mtime").join("events.log");
        std::fs::write(numbered(&path, 1), b"FGEV").unwrap();
        let _ = EventLog::open_at(&path, days(4, 90), now_ms()).unwrap();
        assert!(numbered(&path, 1).exists());
        let _ = EventLog::open_at(&path, days(4, 90), now_ms() + 100 * DAY).unwrap();
        assert!(!numbered(&path, 1).exists());
    }
}
