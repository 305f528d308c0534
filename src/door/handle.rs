//! [`DoorHandle`]: the door on its own thread, polling the inputs every
//! [`POLL`], timing pulses, and reporting what happened, including line
//! faults (once each, not every tick) and its own death.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::controller::FaultLatch;
use super::{Controller, Door, DoorEvent, Inputs, POLL, Policy};

/// Why the door did not move when the door thread is gone.
pub const NOT_RUNNING: &str = "door controller not running: relay not driven";

/// An input fault clears after the inputs read well this many times in a
/// row (one second): a flapping wire is one fault, not hundreds.
const INPUTS_CLEAR_AFTER: u32 = 100;

/// How long [`DoorHandle::unlock`] waits for the door thread to say the
/// relay moved. It answers within a poll; only a thread that is dying (its
/// panic being printed: with `RUST_BACKTRACE` set, resolving the symbols of
/// a debug build on a loaded machine took over 5 s in CI) or a line stuck in
/// the kernel takes longer, and either is a fault, well inside the 20 s
/// watchdog.
const UNLOCK_ANSWER: Duration = Duration::from_secs(10);

enum Command {
    /// Unlock and answer once the relay was driven (or why not).
    Unlock(Sender<Result<(), String>>),
    Shutdown,
}

/// The door running on its own thread.
pub struct DoorHandle {
    commands: Sender<Command>,
    events: Receiver<DoorEvent>,
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// Shutdown was asked for: the thread ending is no fault.
    stopping: bool,
    /// The thread's death was reported.
    death_reported: Cell<bool>,
}

impl DoorHandle {
    /// Starts the door thread. It locks and ends on [`DoorHandle::shutdown`],
    /// when the handle is dropped, or as soon as `stop` is set (SIGTERM).
    pub fn spawn(door: Box<dyn Door>, policy: Policy, stop: Arc<AtomicBool>) -> Self {
        let (commands, rx) = mpsc::channel();
        let (tx, events) = mpsc::channel();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("door".into())
            .spawn(move || run(door, Controller::new(policy), &rx, &tx, &thread_stop))
            .ok();
        Self {
            commands,
            events,
            thread,
            stop,
            stopping: false,
            death_reported: Cell::new(false),
        }
    }

    /// Starts (or extends) an unlock pulse and returns once the door thread
    /// has driven the relay. `Err` says why the door stays locked: the
    /// thread is gone ([`NOT_RUNNING`], also when it dies before answering),
    /// or the relay line failed.
    pub fn unlock(&self) -> Result<(), String> {
        let (tx, rx) = mpsc::channel();
        if !self.is_alive() || self.commands.send(Command::Unlock(tx)).is_err() {
            return Err(NOT_RUNNING.into());
        }
        match rx.recv_timeout(UNLOCK_ANSWER) {
            Ok(driven) => driven,
            Err(RecvTimeoutError::Disconnected) => Err(NOT_RUNNING.into()),
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "door controller did not answer in {} s: relay may not be driven",
                UNLOCK_ANSWER.as_secs()
            )),
        }
    }

    /// Events since the last call. If the door thread has ended without
    /// being asked to (a panic), the first call after that adds one
    /// [`DoorEvent::Fault`] saying so.
    pub fn events(&self) -> Vec<DoorEvent> {
        let mut out: Vec<DoorEvent> = self.events.try_iter().collect();
        if !self.is_alive()
            && !self.stopping
            && !self.stop.load(Ordering::Relaxed)
            && !self.death_reported.replace(true)
        {
            out.push(DoorEvent::Fault(NOT_RUNNING.into()));
        }
        out
    }

    /// Whether the door thread is running.
    pub fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Locks, stops the thread and returns its last events.
    pub fn shutdown(&mut self) -> Vec<DoorEvent> {
        self.stop();
        self.events()
    }

    fn stop(&mut self) {
        self.stopping = true;
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DoorHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    mut door: Box<dyn Door>,
    mut ctrl: Controller,
    commands: &Receiver<Command>,
    events: &Sender<DoorEvent>,
    stop: &AtomicBool,
) {
    let mut relay_unlocked = false;
    let mut inputs = Inputs::default();
    let mut input_fault = FaultLatch::new(INPUTS_CLEAR_AFTER);
    // The relay is only driven on a change: the first success clears.
    let mut relay_fault = FaultLatch::new(1);
    while !stop.load(Ordering::Relaxed) {
        let mut out = Vec::new();
        // Dropped unanswered if this tick panics: the caller hears of it.
        let mut answer = None;
        match commands.recv_timeout(POLL) {
            Ok(Command::Unlock(reply)) => {
                out.extend(ctrl.unlock(Instant::now()));
                answer = Some(reply);
            }
            Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let read = door
            .door_open()
            .and_then(|open| Ok((open, door.exit_pressed()?)));
        let read = match read {
            Ok((door_open, exit_pressed)) => {
                inputs = Inputs {
                    door_open,
                    exit_pressed,
                };
                Ok(())
            }
            // The last good inputs stand.
            Err(e) => Err(e.to_string()),
        };
        out.extend(input_fault.update(read));
        out.extend(ctrl.tick(Instant::now(), inputs));
        let mut relay_error = None;
        if ctrl.unlocked() != relay_unlocked {
            // Retried every tick (to lock above all), reported once.
            let driven = door
                .set_unlocked(ctrl.unlocked())
                .map_err(|e| e.to_string());
            if driven.is_ok() {
                relay_unlocked = ctrl.unlocked();
            }
            relay_error = driven.as_ref().err().cloned();
            out.extend(relay_fault.update(driven));
        }
        if let Some(reply) = answer {
            let driven = match relay_error {
                _ if relay_unlocked => Ok(()),
                Some(e) => Err(format!("relay not driven: {e}")),
                None => Err("relay not driven".to_string()),
            };
            let _ = reply.send(driven);
        }
        for e in out {
            let _ = events.send(e);
        }
    }
    let locked = ctrl.lock();
    let driven = door.set_unlocked(false).map_err(|e| e.to_string());
    let mut last: Vec<DoorEvent> = relay_fault.update(driven).into_iter().collect();
    last.extend(locked);
    for e in last {
        let _ = events.send(e);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::door::sim::Failure;
    use crate::door::tests::sim_config;
    use crate::door::{SimPins, open};

    /// The thread pulses the relay for the configured time (never shorter)
    /// and locks on shutdown mid-pulse.
    #[test]
    fn thread_pulses_and_locks_on_shutdown() {
        let opened = open(&sim_config(), Path::new(".")).unwrap();
        let pins = opened.sim.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut door = DoorHandle::spawn(opened.door, sim_config().policy(), stop);
        door.unlock().unwrap();
        while pins.relay.transitions().len() < 3 {
            std::thread::sleep(POLL);
        }
        let t = pins.relay.transitions();
        let levels: Vec<bool> = t.iter().map(|t| t.high).collect();
        assert_eq!(levels, vec![false, true, false]);
        assert!(t[2].t_ms - t[1].t_ms >= 200, "{t:?}");

        door.unlock().unwrap();
        while pins.relay.transitions().len() < 4 {
            std::thread::sleep(POLL);
        }
        let events = door.shutdown();
        assert_eq!(events.last(), Some(&DoorEvent::Locked), "{events:?}");
        assert!(!pins.relay.level());
    }

    /// A panic anywhere leaves the relay locked: the pins' drop locks it, and
    /// so does dropping the door thread's handle while unwinding.
    #[test]
    fn a_panic_leaves_the_relay_locked() {
        let opened = open(&sim_config(), Path::new(".")).unwrap();
        let pins = opened.sim.unwrap();
        let mut door = opened.door;
        door.set_unlocked(true).unwrap();
        assert!(pins.relay.level());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _door = door;
            panic!("a bug");
        }));
        assert!(r.is_err());
        assert!(!pins.relay.level(), "relay left unlocked by a panic");

        let opened = open(&sim_config(), Path::new(".")).unwrap();
        let pins = opened.sim.unwrap();
        let handle = DoorHandle::spawn(
            opened.door,
            Policy {
                pulse: Duration::from_secs(60),
                ..sim_config().policy()
            },
            Arc::new(AtomicBool::new(false)),
        );
        handle.unlock().unwrap();
        while !pins.relay.level() {
            std::thread::sleep(POLL);
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _handle = handle;
            panic!("a bug in the main loop");
        }));
        assert!(r.is_err());
        assert!(
            !pins.relay.level(),
            "relay left unlocked mid-pulse by a panic"
        );
    }

    #[test]
    fn exit_button_and_held_open_through_the_pins() {
        let opened = open(&sim_config(), Path::new(".")).unwrap();
        let pins = opened.sim.unwrap();
        let door = DoorHandle::spawn(
            opened.door,
            sim_config().policy(),
            Arc::new(AtomicBool::new(false)),
        );
        pins.exit_button.set(false); // active low: pressed
        std::thread::sleep(POLL * 5);
        pins.exit_button.set(true);
        pins.contact.set(true); // open
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !seen.contains(&DoorEvent::HeldOpen) && Instant::now() < deadline {
            std::thread::sleep(POLL);
            seen.extend(door.events());
        }
        assert_eq!(
            seen[..4],
            [
                DoorEvent::ExitButton,
                DoorEvent::Unlocked,
                DoorEvent::Opened,
                DoorEvent::Locked
            ]
        );
        assert!(seen.contains(&DoorEvent::HeldOpen), "{seen:?}");
    }

    fn spawn(pulse_ms: u64) -> (DoorHandle, SimPins, Arc<AtomicBool>) {
        let opened = open(&sim_config(), Path::new(".")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let policy = Policy {
            pulse: Duration::from_millis(pulse_ms),
            ..sim_config().policy()
        };
        let door = DoorHandle::spawn(opened.door, policy, stop.clone());
        (door, opened.sim.unwrap(), stop)
    }

    /// Events over `ms` milliseconds.
    fn collect(door: &DoorHandle, ms: u64) -> Vec<DoorEvent> {
        let until = Instant::now() + Duration::from_millis(ms);
        let mut seen = Vec::new();
        while Instant::now() < until {
            std::thread::sleep(POLL);
            seen.extend(door.events());
        }
        seen
    }

    fn faults(events: &[DoorEvent]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e, DoorEvent::Fault(_)))
            .count()
    }

    /// A relay that cannot be driven is retried every tick for the whole
    /// pulse (some 60 ticks) but reported once, and cleared once when it
    /// works again.
    #[test]
    fn a_failing_relay_is_reported_once_and_cleared_once() {
        let (door, pins, _stop) = spawn(600);
        pins.relay.fail(Some(Failure::Error));
        let refused = door.unlock().unwrap_err();
        assert_eq!(
            refused,
            "relay not driven: door line failed: relay: simulated line failure"
        );
        let seen = collect(&door, 1000);
        assert_eq!(faults(&seen), 1, "{seen:?}");
        assert!(
            seen.contains(&DoorEvent::Fault(
                "door line failed: relay: simulated line failure".into()
            )),
            "{seen:?}"
        );
        assert!(!pins.relay.level());
        pins.relay.fail(None);
        door.unlock().unwrap();
        let seen = collect(&door, 200);
        assert_eq!(faults(&seen), 0, "{seen:?}");
        let cleared: Vec<_> = seen
            .iter()
            .filter(|e| matches!(e, DoorEvent::FaultCleared(_)))
            .collect();
        assert_eq!(cleared.len(), 1, "{seen:?}");
        assert!(pins.relay.level(), "the relay works again");
    }

    /// A door contact that cannot be read: one fault, cleared a second after
    /// it reads again.
    #[test]
    fn a_failing_input_is_reported_once() {
        let (door, pins, _stop) = spawn(200);
        pins.contact.fail(Some(Failure::Error));
        let seen = collect(&door, 500);
        assert_eq!(faults(&seen), 1, "{seen:?}");
        pins.contact.fail(None);
        let seen = collect(&door, 2500);
        assert_eq!(
            seen,
            vec![DoorEvent::FaultCleared(
                "door line failed: door contact: simulated line failure".into()
            )]
        );
    }

    /// The door thread dies (a bug): unlocking says so instead of pretending,
    /// the death is reported once, and the relay is left locked.
    #[test]
    fn a_dead_door_thread_refuses_unlocks_and_is_reported_once() {
        let (mut door, pins, _stop) = spawn(200);
        pins.contact.fail(Some(Failure::Panic));
        // Printing the panic's backtrace can take seconds on a loaded machine.
        let deadline = Instant::now() + Duration::from_secs(60);
        while door.is_alive() && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        assert!(!door.is_alive());
        assert_eq!(door.unlock(), Err(NOT_RUNNING.into()));
        let seen = collect(&door, 100);
        assert_eq!(seen, vec![DoorEvent::Fault(NOT_RUNNING.into())]);
        assert!(door.events().is_empty());
        assert!(!pins.relay.level());
        assert_eq!(pins.relay.transitions().len(), 1, "never unlocked");
        assert!(door.shutdown().is_empty());
    }

    /// Ending on SIGTERM (the stop flag) or a shutdown is no fault.
    #[test]
    fn stopping_is_not_a_death() {
        let (door, _pins, stop) = spawn(200);
        stop.store(true, Ordering::Relaxed);
        while door.is_alive() {
            std::thread::sleep(POLL);
        }
        assert_eq!(faults(&door.events()), 0);
        let (mut door, _pins, _stop) = spawn(200);
        assert_eq!(faults(&door.shutdown()), 0);
    }
}
