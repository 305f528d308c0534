//! The door's logic, free of hardware and clocks: unlock pulses, the exit
//! button, the door contact, held-open and forced-open alarms.

use std::time::{Duration, Instant};

/// Door timing and behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// How long one unlock lasts.
    pub pulse: Duration,
    /// An open door raises an alarm after this long.
    pub held_open: Duration,
    /// Lock as soon as the door closes again after an authorised opening.
    pub relock_on_close: bool,
}

/// Input levels at one instant (already in logical terms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inputs {
    /// The door contact reports the door open.
    pub door_open: bool,
    /// The exit button (request-to-exit) is pressed.
    pub exit_pressed: bool,
}

/// Something the door did or saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoorEvent {
    /// The relay released the lock.
    Unlocked,
    /// The relay locked again.
    Locked,
    /// The exit button was pressed (and unlocked the door).
    ExitButton,
    /// The door opened during an unlock.
    Opened,
    /// The door closed.
    Closed,
    /// The door has been open longer than allowed.
    HeldOpen,
    /// The door opened while locked.
    Forced,
    /// Reading or driving a line started failing (or fails differently).
    Fault(String),
    /// A fault is over: the line works again (the fault's text).
    FaultCleared(String),
}

/// The faults of one line operation (reading the inputs, or driving the
/// relay), retried every tick but reported once: when they start or change,
/// and when the operation has worked `clear_after` times in a row.
#[derive(Debug, Clone)]
pub struct FaultLatch {
    current: Option<String>,
    clear_after: u32,
    good: u32,
}

impl FaultLatch {
    /// No fault yet; one clears after `clear_after` successes (at least 1).
    pub fn new(clear_after: u32) -> Self {
        Self {
            current: None,
            clear_after: clear_after.max(1),
            good: 0,
        }
    }

    /// The outcome of one attempt; an event if it starts, changes or clears
    /// a fault.
    pub fn update(&mut self, outcome: Result<(), String>) -> Option<DoorEvent> {
        match outcome {
            Ok(()) => {
                self.good = self.good.saturating_add(1);
                if self.good >= self.clear_after {
                    self.current.take().map(DoorEvent::FaultCleared)
                } else {
                    None
                }
            }
            Err(msg) => {
                self.good = 0;
                if self.current.as_ref() == Some(&msg) {
                    return None;
                }
                self.current = Some(msg.clone());
                Some(DoorEvent::Fault(msg))
            }
        }
    }

    /// The fault in force, if any.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }
}

/// The door's state machine.
#[derive(Debug, Clone)]
pub struct Controller {
    policy: Policy,
    unlock_until: Option<Instant>,
    last: Inputs,
    open_since: Option<Instant>,
    held_reported: bool,
}

impl Controller {
    /// A locked door with a closed contact.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            unlock_until: None,
            last: Inputs::default(),
            open_since: None,
            held_reported: false,
        }
    }

    /// Whether the lock should be released now.
    pub fn unlocked(&self) -> bool {
        self.unlock_until.is_some()
    }

    /// Starts (or extends) an unlock pulse.
    pub fn unlock(&mut self, now: Instant) -> Vec<DoorEvent> {
        let was = self.unlocked();
        self.unlock_until = Some(now + self.policy.pulse);
        if was {
            vec![]
        } else {
            vec![DoorEvent::Unlocked]
        }
    }

    /// Locks at once (shutdown).
    pub fn lock(&mut self) -> Vec<DoorEvent> {
        match self.unlock_until.take() {
            Some(_) => vec![DoorEvent::Locked],
            None => vec![],
        }
    }

    /// Advances to `now` with the current inputs; returns what happened.
    pub fn tick(&mut self, now: Instant, inputs: Inputs) -> Vec<DoorEvent> {
        let mut events = Vec::new();
        if inputs.exit_pressed && !self.last.exit_pressed {
            events.push(DoorEvent::ExitButton);
            events.extend(self.unlock(now));
        }
        if inputs.door_open && !self.last.door_open {
            events.push(if self.unlocked() {
                DoorEvent::Opened
            } else {
                DoorEvent::Forced
            });
            self.open_since = Some(now);
            self.held_reported = false;
        }
        if !inputs.door_open && self.last.door_open {
            events.push(DoorEvent::Closed);
            self.open_since = None;
            if self.policy.relock_on_close {
                events.extend(self.lock());
            }
        }
        if let Some(since) = self.open_since
            && !self.held_reported
            && now.duration_since(since) >= self.policy.held_open
        {
            self.held_reported = true;
            events.push(DoorEvent::HeldOpen);
        }
        if self.unlock_until.is_some_and(|until| now >= until) {
            events.extend(self.lock());
        }
        self.last = inputs;
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> Policy {
        Policy {
            pulse: 3000 * MS,
            held_open: 10_000 * MS,
            relock_on_close: true,
        }
    }

    /// Runs the controller over a script of (ms, inputs, unlock command) and
    /// returns each event with its time.
    fn run(steps: &[(u64, Inputs, bool)], until_ms: u64) -> Vec<(u64, DoorEvent)> {
        let t0 = Instant::now();
        let mut c = Controller::new(policy());
        let mut inputs = Inputs::default();
        let mut out = Vec::new();
        for ms in (0..=until_ms).step_by(10) {
            let now = t0 + Duration::from_millis(ms);
            for (at, i, cmd) in steps {
                if *at == ms {
                    inputs = *i;
                    if *cmd {
                        out.extend(c.unlock(now).into_iter().map(|e| (ms, e)));
                    }
                }
            }
            out.extend(c.tick(now, inputs).into_iter().map(|e| (ms, e)));
        }
        out
    }

    const IDLE: Inputs = Inputs {
        door_open: false,
        exit_pressed: false,
    };
    const OPEN: Inputs = Inputs {
        door_open: true,
        exit_pressed: false,
    };
    const REX: Inputs = Inputs {
        door_open: false,
        exit_pressed: true,
    };

    #[test]
    fn a_grant_is_one_pulse_of_the_configured_length() {
        let ev = run(&[(100, IDLE, true)], 5000);
        assert_eq!(
            ev,
            vec![(100, DoorEvent::Unlocked), (3100, DoorEvent::Locked)]
        );
    }

    #[test]
    fn a_second_grant_extends_the_pulse() {
        let ev = run(&[(100, IDLE, true), (1100, IDLE, true)], 5000);
        assert_eq!(
            ev,
            vec![(100, DoorEvent::Unlocked), (4100, DoorEvent::Locked)]
        );
    }

    #[test]
    fn exit_button_unlocks_once_per_press() {
        let ev = run(&[(200, REX, false), (700, IDLE, false)], 4000);
        assert_eq!(
            ev,
            vec![
                (200, DoorEvent::ExitButton),
                (200, DoorEvent::Unlocked),
                (3200, DoorEvent::Locked)
            ]
        );
    }

    #[test]
    fn opening_during_the_pulse_then_closing_relocks() {
        let ev = run(
            &[(0, IDLE, true), (1000, OPEN, false), (2000, IDLE, false)],
            4000,
        );
        assert_eq!(
            ev,
            vec![
                (0, DoorEvent::Unlocked),
                (1000, DoorEvent::Opened),
                (2000, DoorEvent::Closed),
                (2000, DoorEvent::Locked)
            ]
        );
    }

    #[test]
    fn door_opened_while_locked_is_forced_and_held_open_alarms_once() {
        let ev = run(&[(500, OPEN, false)], 12_000);
        assert_eq!(
            ev,
            vec![(500, DoorEvent::Forced), (10_500, DoorEvent::HeldOpen)]
        );
    }

    #[test]
    fn faults_are_reported_when_they_start_change_and_clear() {
        let mut latch = FaultLatch::new(3);
        let err = |m: &str| Err(m.to_string());
        assert_eq!(latch.update(Ok(())), None);
        assert_eq!(latch.update(err("a")), Some(DoorEvent::Fault("a".into())));
        for _ in 0..1000 {
            assert_eq!(latch.update(err("a")), None);
        }
        assert_eq!(latch.update(err("b")), Some(DoorEvent::Fault("b".into())));
        // A flapping line: successes in between do not clear it.
        for _ in 0..100 {
            assert_eq!(latch.update(Ok(())), None);
            assert_eq!(latch.update(Ok(())), None);
            assert_eq!(latch.update(err("b")), None);
        }
        assert_eq!(latch.current(), Some("b"));
        assert_eq!(latch.update(Ok(())), None);
        assert_eq!(latch.update(Ok(())), None);
        assert_eq!(
            latch.update(Ok(())),
            Some(DoorEvent::FaultCleared("b".into()))
        );
        assert_eq!(latch.update(Ok(())), None);
        assert_eq!(latch.current(), None);
        // clear_after 0 is 1.
        let mut relay = FaultLatch::new(0);
        relay.update(err("x"));
        assert_eq!(
            relay.update(Ok(())),
            Some(DoorEvent::FaultCleared("x".into()))
        );
    }

    #[test]
    fn held_open_after_an_authorised_opening() {
        let ev = run(&[(0, IDLE, true), (100, OPEN, false)], 10_200);
        assert_eq!(
            ev,
            vec![
                (0, DoorEvent::Unlocked),
                (100, DoorEvent::Opened),
                (3000, DoorEvent::Locked),
                (10_100, DoorEvent::HeldOpen)
            ]
        );
    }
}
