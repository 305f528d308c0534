//! The time floor: a Pi has no battery clock, so after a power cut an offline
//! terminal may boot with a clock in the past, and a person whose access
//! expired would look valid again. The terminal never believes a clock
//! earlier than the floor — the latest of the last event it logged and the
//! creation time of the gallery it uses (both persist across restarts) — and
//! while the clock is behind it, denies people whose access has a validity
//! window (it cannot judge them) and logs the incident once.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the clock says now, judged against the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The system clock, milliseconds.
    pub now_ms: u64,
    /// The floor, milliseconds.
    pub floor_ms: u64,
    /// The clock is at or past the floor.
    pub trusted: bool,
    /// The clock has just been found behind the floor (log it once).
    pub went_back: bool,
}

/// The time floor.
#[derive(Debug, Clone)]
pub struct TimeFloor {
    floor_ms: u64,
    behind: bool,
}

impl TimeFloor {
    /// A floor at `floor_ms`.
    pub fn new(floor_ms: u64) -> Self {
        Self {
            floor_ms,
            behind: false,
        }
    }

    /// Raises the floor to `ms` (an event written, a gallery installed).
    pub fn raise(&mut self, ms: u64) {
        self.floor_ms = self.floor_ms.max(ms);
    }

    /// Reads the clock `now_ms` against the floor. While the clock is
    /// trusted the floor follows it.
    pub fn read(&mut self, now_ms: u64) -> Reading {
        let trusted = now_ms >= self.floor_ms;
        let went_back = !trusted && !self.behind;
        self.behind = !trusted;
        if trusted {
            self.floor_ms = now_ms;
        }
        Reading {
            now_ms,
            floor_ms: self.floor_ms,
            trusted,
            went_back,
        }
    }
}

/// Why a person's access is not valid at `now` (Unix seconds), if it is not;
/// with an untrusted clock a person with a validity window cannot be judged.
pub fn validity_problem(
    from: Option<u64>,
    until: Option<u64>,
    now: u64,
    clock_trusted: bool,
) -> Option<&'static str> {
    if !clock_trusted && (from.is_some() || until.is_some()) {
        Some("Clock not set: access window unknown")
    } else if from.is_some_and(|f| now < f) {
        Some("Access not yet valid")
    } else if until.is_some_and(|u| now > u) {
        Some("Access expired")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_set_back_is_reported_once_and_recovers() {
        let mut f = TimeFloor::new(10_000);
        let r = f.read(12_000);
        assert!(r.trusted && !r.went_back);
        let r = f.read(5_000);
        assert!(!r.trusted && r.went_back && r.floor_ms == 12_000);
        let r = f.read(6_000);
        assert!(!r.trusted && !r.went_back, "reported twice");
        assert!(f.read(12_500).trusted);
        assert!(
            f.read(1_000).went_back,
            "a second set-back is a new incident"
        );
    }

    #[test]
    fn validity_windows() {
        assert_eq!(validity_problem(None, None, 100, true), None);
        assert_eq!(validity_problem(Some(50), Some(150), 100, true), None);
        assert_eq!(
            validity_problem(Some(101), None, 100, true),
            Some("Access not yet valid")
        );
        assert_eq!(
            validity_problem(None, Some(99), 100, true),
            Some("Access expired")
        );
        // An untrusted clock admits only people without a window.
        assert_eq!(validity_problem(None, None, 100, false), None);
        assert!(validity_problem(None, Some(1_000), 100, false).is_some());
    }
}
