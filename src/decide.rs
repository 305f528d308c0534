//! From per-frame matches to one decision per approach: follow the largest
//! face, grant when K of the last N frames match the same person (and, with
//! liveness on, enough of those K frames were found live), call a face
//! unknown after N frames without a match, and stay quiet for a re-trigger
//! interval after deciding.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Deserialize;

/// `[decision]` in the board config.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionConfig {
    /// Frames looked at (N).
    pub window: usize,
    /// Matching frames of one person needed to grant (K of N).
    pub votes: usize,
    /// Consecutive frames of a face without a match before "unknown".
    pub unknown_after: usize,
    /// Seconds after a decision before the same face is decided again.
    pub retrigger_s: f32,
    /// Frames without a face that end an approach.
    pub lost_after: usize,
    /// Faces narrower than this (pixels) are ignored: too far away.
    pub min_face_px: f32,
    /// Cosine threshold; default: the gallery's calibrated threshold.
    pub threshold: Option<f32>,
    /// Target chance of a stranger being let in as someone (FPIR, 1e-2 or
    /// 1e-3): the threshold is raised, never lowered, to the one measured
    /// for a gallery of this size (`VisionConfig::gallery_threshold`).
    pub fpir: Option<f64>,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        Self {
            window: 5,
            votes: 3,
            unknown_after: 8,
            retrigger_s: 5.0,
            lost_after: 5,
            min_face_px: 60.0,
            threshold: None,
            fpir: None,
        }
    }
}

impl DecisionConfig {
    /// Checks the numbers make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.votes == 0 || self.votes > self.window {
            return Err(format!(
                "votes ({}) must be between 1 and window ({})",
                self.votes, self.window
            ));
        }
        if self.unknown_after == 0 || self.lost_after == 0 {
            return Err("unknown_after and lost_after must be positive".into());
        }
        if self.retrigger_s.is_nan() || self.retrigger_s < 0.0 {
            return Err("retrigger_s must be zero or more".into());
        }
        Ok(())
    }
}

/// The best gallery match for the followed face in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Index of the person in the gallery.
    pub person: usize,
    /// Cosine score.
    pub score: f32,
}

/// The followed face in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sighting {
    /// Box `[x, y, w, h]` in frame pixels.
    pub bbox: [f32; 4],
    /// Best match, whatever its score.
    pub best: Option<Candidate>,
    /// Its liveness score (0–1), when it was checked (matched faces only).
    pub live: Option<f32>,
}

/// How many of a grant's agreeing frames must be live, and at what score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveRule {
    /// Liveness score at or above which a frame's face is live.
    pub threshold: f32,
    /// Live frames needed among the agreeing ones.
    pub frames: usize,
}

/// A frame that matched: who, and how live the face looked.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Hit {
    candidate: Candidate,
    live: Option<f32>,
}

/// What the terminal decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// `person` matched in enough frames.
    Granted {
        /// Person index.
        person: usize,
        /// Best score among the agreeing frames.
        score: f32,
        /// Frames considered.
        frames: usize,
    },
    /// `person` matched in enough frames, but too few of them were live.
    NotLive {
        /// Person index.
        person: usize,
        /// Best score among the agreeing frames.
        score: f32,
        /// Frames considered.
        frames: usize,
        /// Agreeing frames found live.
        live_frames: usize,
        /// The highest liveness score among the agreeing frames.
        best_live: f32,
    },
    /// A face that matches nobody.
    Unknown {
        /// The closest person and score, for the log.
        best: Option<Candidate>,
        /// Frames considered.
        frames: usize,
    },
}

/// Decision state across frames.
#[derive(Debug, Clone)]
pub struct Decider {
    config: DecisionConfig,
    threshold: f32,
    live_rule: Option<LiveRule>,
    window: VecDeque<Option<Hit>>,
    misses: usize,
    best_miss: Option<Candidate>,
    absent: usize,
    track: Option<[f32; 4]>,
    decided_at: Option<Duration>,
}

impl Decider {
    /// A decider matching at `threshold` (`Config::match_threshold`: the
    /// gallery's, or the config's, raised for the gallery's size).
    pub fn new(config: DecisionConfig, threshold: f32) -> Self {
        Self {
            threshold,
            live_rule: None,
            config,
            window: VecDeque::new(),
            misses: 0,
            best_miss: None,
            absent: 0,
            track: None,
            decided_at: None,
        }
    }

    /// Grants also need `rule`'s live frames (None: liveness off).
    pub fn with_liveness(mut self, rule: Option<LiveRule>) -> Self {
        self.live_rule = rule;
        self
    }

    /// Whether faces are checked for liveness.
    pub fn checks_liveness(&self) -> bool {
        self.live_rule.is_some()
    }

    /// The threshold in use.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Sets a new threshold (a new gallery), forgetting the current approach.
    pub fn set_threshold(&mut self, threshold: f32) {
        self.threshold = threshold;
        self.reset();
    }

    /// Whether a face of this width is close enough to consider.
    pub fn wide_enough(&self, bbox: &[f32; 4]) -> bool {
        bbox[2] >= self.config.min_face_px
    }

    /// Forgets the current approach (the camera was lost).
    pub fn forget(&mut self) {
        self.reset();
        self.absent = 0;
    }

    fn reset(&mut self) {
        self.window.clear();
        self.misses = 0;
        self.best_miss = None;
        self.track = None;
        self.decided_at = None;
    }

    /// Feeds one frame taken at `time` (None: no usable face).
    pub fn observe(&mut self, time: Duration, sighting: Option<Sighting>) -> Option<Decision> {
        let Some(s) = sighting else {
            self.absent += 1;
            if self.absent >= self.config.lost_after {
                self.reset();
            }
            return None;
        };
        self.absent = 0;
        if self.track.is_some_and(|t| !same_face(&t, &s.bbox)) {
            self.reset();
        }
        self.track = Some(s.bbox);
        if let Some(at) = self.decided_at {
            if time.saturating_sub(at).as_secs_f32() < self.config.retrigger_s {
                return None;
            }
            self.decided_at = None;
        }
        let hit = s.best.filter(|c| c.score >= self.threshold);
        self.window.push_back(hit.map(|candidate| Hit {
            candidate,
            live: s.live,
        }));
        if self.window.len() > self.config.window {
            self.window.pop_front();
        }
        if hit.is_some() {
            self.misses = 0;
            self.best_miss = None;
        } else {
            self.misses += 1;
            if s.best
                .is_some_and(|b| self.best_miss.is_none_or(|m| b.score > m.score))
            {
                self.best_miss = s.best;
            }
        }
        let frames = self.window.len();
        let decision = if let Some((person, score, live)) = self.agreed() {
            Some(match self.live_rule {
                Some(rule) => {
                    let live_frames = live.iter().filter(|l| **l >= rule.threshold).count();
                    if live_frames >= rule.frames {
                        Decision::Granted {
                            person,
                            score,
                            frames,
                        }
                    } else {
                        Decision::NotLive {
                            person,
                            score,
                            frames,
                            live_frames,
                            best_live: live.iter().copied().fold(0.0, f32::max),
                        }
                    }
                }
                None => Decision::Granted {
                    person,
                    score,
                    frames,
                },
            })
        } else if self.misses >= self.config.unknown_after {
            Some(Decision::Unknown {
                best: self.best_miss,
                frames: self.misses,
            })
        } else {
            None
        };
        if decision.is_some() {
            self.window.clear();
            self.misses = 0;
            self.best_miss = None;
            self.decided_at = Some(time);
        }
        decision
    }

    /// The person with at least `votes` hits in the window, their best
    /// score, and the liveness scores of those hits (0 where unchecked).
    fn agreed(&self) -> Option<(usize, f32, Vec<f32>)> {
        let hits: Vec<Hit> = self.window.iter().flatten().copied().collect();
        hits.iter().find_map(|h| {
            let person = h.candidate.person;
            let same: Vec<&Hit> = hits
                .iter()
                .filter(|o| o.candidate.person == person)
                .collect();
            (same.len() >= self.config.votes).then(|| {
                let best = same
                    .iter()
                    .map(|o| o.candidate.score)
                    .fold(f32::MIN, f32::max);
                (
                    person,
                    best,
                    same.iter().map(|o| o.live.unwrap_or(0.0)).collect(),
                )
            })
        })
    }
}

/// The same face as last frame: its centre moved less than its width.
fn same_face(a: &[f32; 4], b: &[f32; 4]) -> bool {
    let centre = |r: &[f32; 4]| (r[0] + r[2] / 2.0, r[1] + r[3] / 2.0);
    let ((ax, ay), (bx, by)) = (centre(a), centre(b));
    ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt() < a[2].max(b[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOX: [f32; 4] = [200.0, 100.0, 120.0, 150.0];

    fn at(frame: u64) -> Duration {
        Duration::from_millis(frame * 100)
    }

    fn face(person: usize, score: f32) -> Option<Sighting> {
        Some(Sighting {
            bbox: BOX,
            best: Some(Candidate { person, score }),
            live: None,
        })
    }

    fn live_face(person: usize, score: f32, live: f32) -> Option<Sighting> {
        face(person, score).map(|s| Sighting {
            live: Some(live),
            ..s
        })
    }

    /// Runs a sequence of sightings and lists (frame, decision).
    fn run(d: &mut Decider, seq: &[Option<Sighting>]) -> Vec<(usize, Decision)> {
        seq.iter()
            .enumerate()
            .filter_map(|(i, s)| d.observe(at(i as u64), *s).map(|x| (i, x)))
            .collect()
    }

    fn decider() -> Decider {
        Decider::new(DecisionConfig::default(), 0.4)
    }

    #[test]
    fn three_of_five_grants_once_per_approach() {
        let mut d = decider();
        let mut seq = vec![face(7, 0.6), face(7, 0.3), face(7, 0.7), face(7, 0.5)];
        seq.extend(std::iter::repeat_n(face(7, 0.6), 20)); // stays 2 s
        let got = run(&mut d, &seq);
        assert_eq!(
            got,
            vec![(
                3,
                Decision::Granted {
                    person: 7,
                    score: 0.7,
                    frames: 4
                }
            )]
        );
    }

    #[test]
    fn staying_past_the_retrigger_interval_decides_again() {
        let mut d = decider();
        let seq = vec![face(1, 0.6); 60]; // 6 s
        let frames: Vec<usize> = run(&mut d, &seq).iter().map(|x| x.0).collect();
        // Granted at frame 2; from frame 52 (5 s later) three new votes: 54.
        assert_eq!(frames, vec![2, 54]);
    }

    #[test]
    fn leaving_and_coming_back_is_a_new_approach() {
        let mut d = decider();
        let mut seq = vec![face(1, 0.6); 3];
        seq.extend(vec![None; 5]);
        seq.extend(vec![face(1, 0.6); 3]);
        let frames: Vec<usize> = run(&mut d, &seq).iter().map(|x| x.0).collect();
        assert_eq!(frames, vec![2, 10]);
    }

    #[test]
    fn a_brief_dropout_is_the_same_approach() {
        let mut d = decider();
        let mut seq = vec![face(1, 0.6); 3];
        seq.extend(vec![None; 2]);
        seq.extend(vec![face(1, 0.6); 10]);
        assert_eq!(run(&mut d, &seq).len(), 1);
    }

    #[test]
    fn unknown_after_n_frames_without_a_match() {
        let mut d = decider();
        let mut seq = vec![face(2, 0.2); 7];
        seq.push(face(3, 0.35));
        let got = run(&mut d, &seq);
        assert_eq!(
            got,
            vec![(
                7,
                Decision::Unknown {
                    best: Some(Candidate {
                        person: 3,
                        score: 0.35
                    }),
                    frames: 8
                }
            )]
        );
    }

    #[test]
    fn split_votes_do_not_grant() {
        let mut d = decider();
        let seq = vec![
            face(1, 0.5),
            face(2, 0.5),
            face(1, 0.5),
            face(2, 0.5),
            face(3, 0.5),
            face(2, 0.1),
        ];
        assert!(run(&mut d, &seq).is_empty());
    }

    #[test]
    fn another_face_starts_a_new_track() {
        let mut d = decider();
        let mut seq = vec![face(1, 0.6), face(1, 0.6)];
        seq.push(Some(Sighting {
            bbox: [500.0, 100.0, 120.0, 150.0],
            best: Some(Candidate {
                person: 1,
                score: 0.6,
            }),
            live: None,
        }));
        seq.push(face(1, 0.6));
        // Each jump resets the window, so three votes never accumulate.
        assert!(run(&mut d, &seq).is_empty());
    }

    #[test]
    fn a_match_that_is_not_live_enough_is_refused_as_not_live() {
        let rule = Some(LiveRule {
            threshold: 0.5,
            frames: 2,
        });
        // Three matching frames, one live: refused, with the counts.
        let mut d = decider().with_liveness(rule);
        let seq = [
            live_face(4, 0.6, 0.9),
            live_face(4, 0.7, 0.2),
            live_face(4, 0.6, 0.4),
        ];
        let got = run(&mut d, &seq);
        assert_eq!(
            got,
            vec![(
                2,
                Decision::NotLive {
                    person: 4,
                    score: 0.7,
                    frames: 3,
                    live_frames: 1,
                    best_live: 0.9
                }
            )]
        );
        // Two of three live: granted. Unchecked frames never count as live.
        let mut d = decider().with_liveness(rule);
        let seq = [live_face(4, 0.6, 0.9), face(4, 0.7), live_face(4, 0.6, 0.5)];
        assert!(matches!(
            run(&mut d, &seq)[..],
            [(2, Decision::Granted { .. })]
        ));
        let mut d = decider().with_liveness(rule);
        let seq = [face(4, 0.6), face(4, 0.7), live_face(4, 0.6, 0.5)];
        assert!(matches!(
            run(&mut d, &seq)[..],
            [(2, Decision::NotLive { .. })]
        ));
    }

    #[test]
    fn config_is_checked() {
        let bad = DecisionConfig {
            votes: 6,
            ..DecisionConfig::default()
        };
        assert!(bad.validate().is_err());
        assert!(DecisionConfig::default().validate().is_ok());
    }
}
