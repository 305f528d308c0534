//! The door: a relay that releases the lock, a door contact and an exit
//! button, behind the small [`Door`] trait. [`pins::PinDoor`] drives them on
//! `embedded-hal` pins (Linux GPIO character device, or simulated pins);
//! [`controller::Controller`] holds the logic and [`DoorHandle`] runs it on
//! its own thread (`handle.rs`), so pulses keep their length whatever the
//! camera does.
//!
//! Locks: a **fail-secure** lock (electric strike) stays locked without
//! power, so the relay is energised to unlock; a **fail-safe** lock
//! (magnetic lock) opens without power, so the relay is energised to lock.
//! Either way the relay is driven to *locked* at start, on shutdown
//! (SIGTERM) and when the program panics.

pub mod controller;
mod handle;
pub mod pins;
pub mod sim;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

pub use controller::{Controller, DoorEvent, FaultLatch, Inputs, Policy};
pub use handle::{DoorHandle, NOT_RUNNING};
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn sim_config() -> DoorConfig {
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
}
