//! What the door thread reports: logged, and shown on the display.

use tracing::{info, warn};

use super::{Terminal, event};
use crate::display::Screen;
use crate::door::DoorEvent;
use crate::events::EventKind;

impl Terminal {
    /// Logs and displays what the door thread reports.
    pub(super) fn handle_door_events(&mut self) {
        for e in self.door.events() {
            let kind = match &e {
                DoorEvent::Unlocked | DoorEvent::Locked => {
                    self.relay_unlocked = e == DoorEvent::Unlocked;
                    info!(
                        relay = if self.relay_unlocked {
                            "unlocked"
                        } else {
                            "locked"
                        }
                    );
                    continue;
                }
                DoorEvent::ExitButton => EventKind::ExitButton,
                DoorEvent::Opened => EventKind::DoorOpened,
                DoorEvent::Closed => {
                    if self.shown.alarm.take().is_some() {
                        self.shown.hold_until = None;
                        self.show_idle();
                    }
                    EventKind::DoorClosed
                }
                DoorEvent::HeldOpen | DoorEvent::Forced => {
                    let message = if e == DoorEvent::HeldOpen {
                        "Door held open"
                    } else {
                        "Door forced"
                    };
                    self.shown.alarm = Some(message.into());
                    self.show(
                        Screen::Alarm {
                            message: message.into(),
                        },
                        None,
                    );
                    if e == DoorEvent::HeldOpen {
                        EventKind::DoorHeldOpen
                    } else {
                        EventKind::DoorForced
                    }
                }
                DoorEvent::Fault(msg) => {
                    warn!(%msg, "door fault");
                    EventKind::DoorFault
                }
                DoorEvent::FaultCleared(msg) => {
                    info!(%msg, "door fault cleared");
                    EventKind::DoorFaultCleared
                }
            };
            info!(event = %kind, "door");
            let detail = match e {
                DoorEvent::Fault(msg) | DoorEvent::FaultCleared(msg) => Some(msg),
                _ => None,
            };
            self.record(event(kind, detail));
        }
    }
}
