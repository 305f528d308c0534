//! The door: a relay that releases the lock, a door contact and an exit
//! button, behind the small [`Door`] trait. [`pins::PinDoor`] drives them on
//! `embedded-hal` pins (Linux GPIO character device, or simulated pins);
//! [`controller::Controller`] holds the logic and [`DoorHandle`] runs it on
//! its own thread, so pulses keep their length whatever the camera does.
//!
//! Locks: a **fail-secure** lock (electric strike) stays locked without
//! power, so the relay is energised to unlock; a **fail-safe** lock
//! (magnetic lock) opens without power, so the relay is energised to lock.
//! Either way the relay is driven to *locked* at start, on shutdown
//! (SIGTERM) and when the program panics.

pub mod controller;
pub mod pins;
pub mod sim;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Deserialize;

pub use controller::{Controller, DoorEvent, Inputs, Policy};
pub use pins::PinDoor;
pub use sim::SimPin;

use crate::gpio::{Line, LineSpec};

/// How often the door thread reads its inputs.
pub const POLL: Duration = Duration::from_millis(10);

/// Door hardware failed or is misconfigured.
#[derive(Debug, thiserror::Error)]
pub enum DoorError {
    /// A line could not be read or driven.
    #[error("door line failed: {0}")]
    Line(String),
    /// The configuration cannot be used.
    #[error("door config: {0}")]
    Config(String),
    /// A GPIO line could not be opened.
    #[error(transparent)]
    Gpio(#[from] crate::gpio::GpioError),
}

/// Relay, door contact and exit button.
pub trait Door: Send {
    /// Drives the relay to release (`true`) or hold the lock.
    fn set_unlocked(&mut self, unlocked: bool) -> Result<(), DoorError>;
    /// Whether the door contact reports the door open (false without a contact).
    fn door_open(&mut self) -> Result<bool, DoorError>;
    /// Whether the exit button is pressed (false without a button).
    fn exit_pressed(&mut self) -> Result<bool, DoorError>;
}

/// What the lock does without power.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockMode {
    /// Stays locked without power (strike): energise to unlock.
    #[default]
    FailSecure,
    /// Opens without power (maglock): energise to lock.
    FailSafe,
}

/// Electrical polarity of the three lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wiring {
    /// What the lock does without power.
    pub lock: LockMode,
    /// The relay board energises on a low level.
    pub relay_active_low: bool,
    /// The contact line is high when the door is open.
    pub contact_open_high: bool,
    /// The exit button pulls its line low when pressed.
    pub exit_button_active_low: bool,
}

impl Wiring {
    /// The relay line level (true = high) for a lock state.
    pub fn relay_level(&self, unlocked: bool) -> bool {
        let energised = unlocked != (self.lock == LockMode::FailSafe);
        energised != self.relay_active_low
    }
}

/// `[door]` in the board config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoorConfig {
    /// `fail-secure` (strike, default) or `fail-safe` (maglock).
    #[serde(default)]
    pub lock: LockMode,
    /// Unlock pulse, milliseconds.
    #[serde(default = "default_pulse_ms")]
    pub pulse_ms: u64,
    /// Door-held-open alarm after this many seconds.
    #[serde(default = "default_held_open_s")]
    pub held_open_s: u64,
    /// Lock as soon as the door closes after an authorised opening.
    #[serde(default = "yes")]
    pub relock_on_close: bool,
    /// The relay board switches on a low level (common on opto-isolated boards).
    #[serde(default)]
    pub relay_active_low: bool,
    /// The contact reads high when the door is open (reed switch to ground with pull-up).
    #[serde(default = "yes")]
    pub contact_open_high: bool,
    /// The exit button pulls its line to ground when pressed.
    #[serde(default = "yes")]
    pub exit_button_active_low: bool,
    /// GPIO lines on the board.
    pub gpio: Option<GpioLines>,
    /// Simulated lines.
    pub sim: Option<SimLines>,
}

fn default_pulse_ms() -> u64 {
    3000
}
fn default_held_open_s() -> u64 {
    30
}
fn yes() -> bool {
    true
}

/// `[door.gpio]`: which lines.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioLines {
    /// Relay output.
    pub relay: LineSpec,
    /// Door contact input.
    pub contact: Option<LineSpec>,
    /// Exit button (request-to-exit) input.
    pub exit_button: Option<LineSpec>,
}

/// `[door.sim]`: simulated lines.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SimLines {
    /// Append relay transitions here as JSON lines.
    pub record: Option<PathBuf>,
    /// Input script (`MILLISECONDS door open|close`, `MILLISECONDS exit press|release`).
    pub inputs: Option<PathBuf>,
}

impl DoorConfig {
    /// Timing and behaviour.
    pub fn policy(&self) -> Policy {
        Policy {
            pulse: Duration::from_millis(self.pulse_ms),
            held_open: Duration::from_secs(self.held_open_s),
            relock_on_close: self.relock_on_close,
        }
    }

    /// Electrical polarity.
    pub fn wiring(&self) -> Wiring {
        Wiring {
            lock: self.lock,
            relay_active_low: self.relay_active_low,
            contact_open_high: self.contact_open_high,
            exit_button_active_low: self.exit_button_active_low,
        }
    }

    /// Checks that exactly one of `[door.gpio]` and `[door.sim]` is given.
    pub fn validate(&self) -> Result<(), DoorError> {
        match (&self.gpio, &self.sim) {
            (Some(_), Some(_)) => Err(DoorError::Config(
                "give either [door.gpio] or [door.sim], not both".into(),
            )),
            (None, None) => Err(DoorError::Config(
                "missing [door.gpio] (or [door.sim] for the simulator)".into(),
            )),
            _ if self.pulse_ms == 0 => Err(DoorError::Config("pulse_ms must be positive".into())),
            _ => Ok(()),
        }
    }
}

/// The simulated pins of a sim door, for tests to press and watch.
#[derive(Debug, Clone)]
pub struct SimPins {
    /// Relay output.
    pub relay: SimPin,
    /// Door contact.
    pub contact: SimPin,
    /// Exit button.
    pub exit_button: SimPin,
}

/// An opened door, and its pins when simulated.
pub struct Opened {
    /// The door.
    pub door: Box<dyn Door>,
    /// Simulated pins, if any.
    pub sim: Option<SimPins>,
}

/// Opens the configured door; relative paths are resolved against `base`.
pub fn open(config: &DoorConfig, base: &Path) -> Result<Opened, DoorError> {
    config.validate()?;
    let wiring = config.wiring();
    if let Some(lines) = &config.gpio {
        let relay = lines
            .relay
            .output("facegate-relay", u8::from(wiring.relay_level(false)))?;
        let input = |spec: &Option<LineSpec>, name| -> Result<Option<Line>, DoorError> {
            Ok(match spec {
                Some(s) => Some(s.input(name)?),
                None => None,
            })
        };
        let contact = input(&lines.contact, "facegate-contact")?;
        let exit = input(&lines.exit_button, "facegate-exit")?;
        let door = PinDoor::new(relay, contact, exit, wiring)?;
        return Ok(Opened {
            door: Box::new(door),
            sim: None,
        });
    }
    let sim = config.sim.clone().unwrap_or_default();
    let started = Instant::now();
    let mut relay = SimPin::new("relay", wiring.relay_level(false), started);
    if let Some(path) = &sim.record {
        relay = relay.recording_to(sim::record_file(&base.join(path))?);
    }
    let mut contact = SimPin::new("contact", !wiring.contact_open_high, started);
    let mut exit = SimPin::new("exit", wiring.exit_button_active_low, started);
    if let Some(path) = &sim.inputs {
        let path = base.join(path);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| DoorError::Config(format!("{}: {e}", path.display())))?;
        let script = sim::parse_script(&text)?;
        let levels = |which: sim::ScriptInput, active_high: bool| {
            script
                .iter()
                .filter(|(_, i, _)| *i == which)
                .map(|&(t, _, active)| (t, active == active_high))
                .collect::<Vec<_>>()
        };
        contact = contact.scripted(levels(sim::ScriptInput::Door, wiring.contact_open_high));
        exit = exit.scripted(levels(
            sim::ScriptInput::Exit,
            !wiring.exit_button_active_low,
        ));
    }
    let pins = SimPins {
        relay: relay.clone(),
        contact: contact.clone(),
        exit_button: exit.clone(),
    };
    let door = PinDoor::new(relay, Some(contact), Some(exit), wiring)?;
    Ok(Opened {
        door: Box::new(door),
        sim: Some(pins),
    })
}

enum Command {
    Unlock,
    Shutdown,
}

/// The door running on its own thread.
pub struct DoorHandle {
    commands: Sender<Command>,
    events: Receiver<DoorEvent>,
    thread: Option<JoinHandle<()>>,
}

impl DoorHandle {
    /// Starts the door thread. It locks and ends on [`DoorHandle::shutdown`],
    /// when the handle is dropped, or as soon as `stop` is set (SIGTERM).
    pub fn spawn(door: Box<dyn Door>, policy: Policy, stop: Arc<AtomicBool>) -> Self {
        let (commands, rx) = mpsc::channel();
        let (tx, events) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("door".into())
            .spawn(move || run(door, Controller::new(policy), &rx, &tx, &stop))
            .ok();
        Self {
            commands,
            events,
            thread,
        }
    }

    /// Starts an unlock pulse.
    pub fn unlock(&self) {
        let _ = self.commands.send(Command::Unlock);
    }

    /// Events since the last call.
    pub fn events(&self) -> Vec<DoorEvent> {
        self.events.try_iter().collect()
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
    let mut fault: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut out = Vec::new();
        match commands.recv_timeout(POLL) {
            Ok(Command::Unlock) => out.extend(ctrl.unlock(Instant::now())),
            Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let read = door
            .door_open()
            .and_then(|open| Ok((open, door.exit_pressed()?)));
        match read {
            Ok((door_open, exit_pressed)) => {
                inputs = Inputs {
                    door_open,
                    exit_pressed,
                };
                fault = None;
            }
            Err(e) if fault.as_deref() != Some(&e.to_string()) => {
                fault = Some(e.to_string());
                out.push(DoorEvent::Fault(e.to_string()));
            }
            Err(_) => {}
        }
        out.extend(ctrl.tick(Instant::now(), inputs));
        if ctrl.unlocked() != relay_unlocked {
            match door.set_unlocked(ctrl.unlocked()) {
                Ok(()) => relay_unlocked = ctrl.unlocked(),
                Err(e) => out.push(DoorEvent::Fault(e.to_string())),
            }
        }
        for e in out {
            let _ = events.send(e);
        }
    }
    let locked = ctrl.lock();
    if let Err(e) = door.set_unlocked(false) {
        let _ = events.send(DoorEvent::Fault(e.to_string()));
    }
    for e in locked {
        let _ = events.send(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim_config() -> DoorConfig {
        toml::from_str("pulse_ms = 200\nheld_open_s = 1\n[sim]\n").unwrap()
    }

    #[test]
    fn relay_levels_for_every_wiring() {
        let w = |lock, relay_active_low| Wiring {
            lock,
            relay_active_low,
            contact_open_high: true,
            exit_button_active_low: true,
        };
        // (unlocked, level) for each lock and relay polarity.
        assert!(w(LockMode::FailSecure, false).relay_level(true));
        assert!(!w(LockMode::FailSecure, false).relay_level(false));
        assert!(!w(LockMode::FailSecure, true).relay_level(true));
        assert!(!w(LockMode::FailSafe, false).relay_level(true));
        assert!(w(LockMode::FailSafe, false).relay_level(false));
        assert!(w(LockMode::FailSafe, true).relay_level(true));
    }

    #[test]
    fn config_needs_exactly_one_kind_of_lines() {
        let none: DoorConfig = toml::from_str("").unwrap();
        assert!(none.validate().is_err());
        let both: DoorConfig = toml::from_str("[gpio]\nrelay = \"GPIO17\"\n[sim]\n").unwrap();
        assert!(both.validate().is_err());
        assert!(sim_config().validate().is_ok());
        assert!(toml::from_str::<DoorConfig>("pulse = 3\n[sim]\n").is_err());
    }

    /// The thread pulses the relay for the configured time (never shorter)
    /// and locks on shutdown mid-pulse.
    #[test]
    fn thread_pulses_and_locks_on_shutdown() {
        let opened = open(&sim_config(), Path::new(".")).unwrap();
        let pins = opened.sim.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut door = DoorHandle::spawn(opened.door, sim_config().policy(), stop);
        door.unlock();
        while pins.relay.transitions().len() < 3 {
            std::thread::sleep(POLL);
        }
        let t = pins.relay.transitions();
        let levels: Vec<bool> = t.iter().map(|t| t.high).collect();
        assert_eq!(levels, vec![false, true, false]);
        assert!(t[2].t_ms - t[1].t_ms >= 200, "{t:?}");

        door.unlock();
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
        handle.unlock();
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
}
