//! Carrying out a decision: the door, the display and the event log.

use std::time::Duration;

use tracing::{info, warn};

use super::{Terminal, event, validity_problem};
use crate::decide::Decision;
use crate::display::Screen;
use crate::events::EventKind;
use crate::gallery::now_unix;

impl Terminal {
    /// Carries out a decision: door, display, log.
    pub(super) fn act(&mut self, decision: Decision) {
        self.stats.decisions += 1;
        if self.stats.first_decision.is_none() {
            self.stats.first_decision = Some(self.opened.elapsed());
        }
        let hold = Some(Duration::from_millis(self.config.terminal.result_screen_ms));
        match decision {
            Decision::Granted {
                person,
                score,
                frames,
            } => {
                let p = &self.gallery.persons()[person];
                let (id, name) = (p.id, p.name.to_string());
                let (valid_from, valid_until) = (p.valid_from, p.valid_until);
                let mut e = event(EventKind::Granted, None);
                (e.person_id, e.name, e.score, e.frames) =
                    (Some(id), Some(name.clone()), Some(score), frames as u16);
                let trusted = self.check_clock();
                match validity_problem(valid_from, valid_until, now_unix(), trusted) {
                    // Granted only once the door thread has driven the relay.
                    None => match self.door.unlock() {
                        Ok(()) => {
                            info!(%name, score, frames, "granted");
                            self.show(Screen::Granted { name }, hold);
                        }
                        Err(why) => {
                            warn!(%name, score, "recognised, but {why}");
                            e.kind = EventKind::DoorFault;
                            e.detail = Some(why);
                            let message = "Door not unlocked".to_string();
                            self.show(Screen::Fault { message }, hold);
                        }
                    },
                    Some(reason) => {
                        info!(%name, score, %reason, "denied");
                        e.kind = EventKind::Denied;
                        e.detail = Some(reason.to_string());
                        self.show(
                            Screen::Denied {
                                reason: reason.to_string(),
                            },
                            hold,
                        );
                    }
                }
                self.record(e);
            }
            Decision::NotLive {
                person,
                score,
                frames,
                live_frames,
                best_live,
            } => {
                let p = &self.gallery.persons()[person];
                let mut e = event(EventKind::NotLive, None);
                (e.person_id, e.name, e.score, e.frames) = (
                    Some(p.id),
                    Some(p.name.to_string()),
                    Some(score),
                    frames as u16,
                );
                e.detail = Some(format!(
                    "matched, but {live_frames} of the agreeing frames live (needed {}); \
                     best liveness {best_live:.3}, threshold {:.3}",
                    self.config.liveness.frames, self.config.liveness.threshold
                ));
                warn!(name = %p.name, score, live_frames, best_live, "not a live face: refused");
                self.record(e);
                self.show(
                    Screen::Denied {
                        reason: "Not a live face".into(),
                    },
                    hold,
                );
            }
            Decision::Unknown { best, frames } => {
                let mut e = event(EventKind::Unknown, None);
                e.frames = frames as u16;
                if let Some(c) = best {
                    // The closest enrolled person, for whoever audits the log.
                    let p = &self.gallery.persons()[c.person];
                    e.score = Some(c.score);
                    e.detail = Some(format!("closest enrolled: {} (id {})", p.name, p.id));
                }
                info!(best = ?e.score, frames, "unknown face");
                self.record(e);
                self.show(
                    Screen::Denied {
                        reason: "Not recognised".into(),
                    },
                    hold,
                );
            }
        }
    }
}
