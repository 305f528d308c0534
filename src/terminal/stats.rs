//! Time per pipeline stage and the cold-start figures of a run.

use std::time::Duration;

use serde::Serialize;

/// Time spent per pipeline stage, summed over a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Frames processed.
    pub frames: u64,
    /// Frames with a usable face.
    pub faces: u64,
    /// Decisions made.
    pub decisions: u64,
    /// Camera read and conversion.
    pub capture: Duration,
    /// Face detection.
    pub detect: Duration,
    /// Alignment.
    pub align: Duration,
    /// Embedding.
    pub embed: Duration,
    /// 1:N search.
    pub search: Duration,
    /// Liveness checks (matched faces only, with `[liveness]` on).
    pub liveness: Duration,
    /// Faces checked for liveness.
    pub live_checks: u64,
    /// Wall time of the run.
    pub wall: Duration,
    /// From opening the terminal (door, display, log, models, gallery,
    /// camera) to the first processed frame: the cold start.
    pub first_frame: Option<Duration>,
    /// From opening the terminal to the first decision (granted or refused).
    pub first_decision: Option<Duration>,
}

impl Stats {
    /// Frames per second over the run.
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// One line: fps and mean milliseconds per stage.
    pub fn summary(&self) -> String {
        let per = |d: Duration, n: u64| d.as_secs_f64() * 1e3 / n.max(1) as f64;
        format!(
            "{} frames in {:.1} s ({:.1} fps); first frame {:.0} ms, first decision {:.0} ms after start; per frame: \
             capture {:.1} ms, detect {:.1} ms; per face ({}): align {:.2} ms, embed {:.1} ms, \
             search {:.2} ms; liveness {:.1} ms per check ({}); {} decisions",
            self.frames,
            self.wall.as_secs_f64(),
            self.fps(),
            self.first_frame.unwrap_or_default().as_secs_f64() * 1e3,
            self.first_decision.unwrap_or_default().as_secs_f64() * 1e3,
            per(self.capture, self.frames),
            per(self.detect, self.frames),
            self.faces,
            per(self.align, self.faces),
            per(self.embed, self.faces),
            per(self.search, self.faces),
            per(self.liveness, self.live_checks),
            self.live_checks,
            self.decisions
        )
    }
}
