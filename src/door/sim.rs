//! Simulated GPIO: in-memory `embedded-hal` pins. Outputs record timestamped
//! transitions (and can append them to a JSON-lines file); inputs follow a
//! script of timed levels or are set by a test, which can also make a line
//! fail (a broken wire or driver) or crash the thread using it (a bug).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use embedded_hal::digital::{ErrorKind, ErrorType, InputPin, OutputPin};
use serde::Serialize;

use super::DoorError;

/// A level change on an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// Milliseconds since the pins were made.
    pub t_ms: u64,
    /// Which pin.
    pub pin: &'static str,
    /// New level (true = high).
    pub high: bool,
}

#[derive(Debug)]
struct State {
    level: bool,
    /// Scripted input levels (time since start, level), in time order.
    script: Vec<(Duration, bool)>,
    transitions: Vec<Transition>,
    failure: Option<Failure>,
}

/// How a line misbehaves (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Every read or write returns an error.
    Error,
    /// The next read or write panics, ending the thread that made it.
    Panic,
}

/// A simulated line failure.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SimError;

impl std::fmt::Debug for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated line failure")
    }
}

impl embedded_hal::digital::Error for SimError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

/// One simulated line; clones share the line.
#[derive(Debug, Clone)]
pub struct SimPin {
    name: &'static str,
    state: Arc<Mutex<State>>,
    started: Instant,
    record: Option<Arc<Mutex<File>>>,
}

impl SimPin {
    /// A line at `level`, its clock starting at `started`.
    pub fn new(name: &'static str, level: bool, started: Instant) -> Self {
        Self {
            name,
            state: Arc::new(Mutex::new(State {
                level,
                script: Vec::new(),
                transitions: Vec::new(),
                failure: None,
            })),
            started,
            record: None,
        }
    }

    /// Also appends every output transition to `file` as a JSON line.
    pub fn recording_to(mut self, file: Arc<Mutex<File>>) -> Self {
        self.record = Some(file);
        self
    }

    /// Input levels to follow over time (times since start).
    pub fn scripted(self, script: Vec<(Duration, bool)>) -> Self {
        if let Ok(mut s) = self.state.lock() {
            s.script = script;
        }
        self
    }

    /// Sets an input's level now (a test pressing a button).
    pub fn set(&self, high: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.level = high;
            s.script.clear();
        }
    }

    /// Makes reads and writes of this line fail (or panic) from now on;
    /// `None` repairs it.
    pub fn fail(&self, failure: Option<Failure>) {
        if let Ok(mut s) = self.state.lock() {
            s.failure = failure;
        }
    }

    /// `Err` if the line is made to fail; panics (outside the lock) if it is
    /// made to crash.
    fn check(&self) -> Result<(), SimError> {
        let failure = self.state.lock().ok().and_then(|s| s.failure);
        match failure {
            None => Ok(()),
            Some(Failure::Error) => Err(SimError),
            Some(Failure::Panic) => panic!("simulated crash on the {} line", self.name),
        }
    }

    /// The current level.
    pub fn level(&self) -> bool {
        let elapsed = self.started.elapsed();
        self.state.lock().is_ok_and(|s| {
            s.script
                .iter()
                .rev()
                .find(|(t, _)| *t <= elapsed)
                .map_or(s.level, |&(_, l)| l)
        })
    }

    /// Output transitions so far.
    pub fn transitions(&self) -> Vec<Transition> {
        self.state
            .lock()
            .map(|s| s.transitions.clone())
            .unwrap_or_default()
    }

    fn drive(&mut self, high: bool) {
        let Ok(mut s) = self.state.lock() else { return };
        if s.level == high && !s.transitions.is_empty() {
            return;
        }
        s.level = high;
        let t = Transition {
            t_ms: self.started.elapsed().as_millis() as u64,
            pin: self.name,
            high,
        };
        s.transitions.push(t);
        if let (Some(file), Ok(line)) = (&self.record, serde_json::to_string(&t))
            && let Ok(mut f) = file.lock()
        {
            // Flushed per line: a test reading after SIGTERM sees every change.
            let _ = writeln!(f, "{line}").and_then(|_| f.flush());
        }
    }
}

impl ErrorType for SimPin {
    type Error = SimError;
}

impl OutputPin for SimPin {
    fn set_low(&mut self) -> Result<(), SimError> {
        self.check()?;
        self.drive(false);
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), SimError> {
        self.check()?;
        self.drive(true);
        Ok(())
    }
}

impl InputPin for SimPin {
    fn is_high(&mut self) -> Result<bool, SimError> {
        self.check()?;
        Ok(self.level())
    }
    fn is_low(&mut self) -> Result<bool, SimError> {
        self.check()?;
        Ok(!self.level())
    }
}

/// A scripted input change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptInput {
    /// The door contact.
    Door,
    /// The exit button.
    Exit,
}

/// Parses an input script: lines `MILLISECONDS door open|close` or
/// `MILLISECONDS exit press|release` (`#` comments), in logical terms.
pub fn parse_script(text: &str) -> Result<Vec<(Duration, ScriptInput, bool)>, DoorError> {
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| DoorError::Config(format!("input script line {}: {why}", no + 1));
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [ms, input, state] = parts[..] else {
            return Err(bad(
                "expected `MILLISECONDS door open|close` or `MILLISECONDS exit press|release`",
            ));
        };
        let ms: u64 = ms.parse().map_err(|_| bad("bad time"))?;
        let (input, active) = match (input, state) {
            ("door", "open") => (ScriptInput::Door, true),
            ("door", "close") => (ScriptInput::Door, false),
            ("exit", "press") => (ScriptInput::Exit, true),
            ("exit", "release") => (ScriptInput::Exit, false),
            _ => return Err(bad("expected `door open|close` or `exit press|release`")),
        };
        out.push((Duration::from_millis(ms), input, active));
    }
    out.sort_by_key(|(t, _, _)| *t);
    Ok(out)
}

/// Opens (truncating) a transitions file.
pub fn record_file(path: &Path) -> Result<Arc<Mutex<File>>, DoorError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| DoorError::Config(format!("{}: {e}", dir.display())))?;
    }
    File::create(path)
        .map(|f| Arc::new(Mutex::new(f)))
        .map_err(|e| DoorError::Config(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_record_changes_only() {
        let mut pin = SimPin::new("relay", false, Instant::now());
        pin.set_low().unwrap();
        pin.set_low().unwrap();
        pin.set_high().unwrap();
        let levels: Vec<bool> = pin.transitions().iter().map(|t| t.high).collect();
        assert_eq!(levels, vec![false, true]);
    }

    #[test]
    fn failing_lines_fail_until_repaired() {
        let mut pin = SimPin::new("relay", false, Instant::now());
        pin.fail(Some(Failure::Error));
        assert_eq!(pin.set_high(), Err(SimError));
        assert_eq!(pin.is_high(), Err(SimError));
        pin.fail(None);
        pin.set_high().unwrap();
        assert!(pin.level());
        pin.fail(Some(Failure::Panic));
        let mut crashing = pin.clone();
        let crash = std::panic::AssertUnwindSafe(move || crashing.is_high());
        assert!(std::panic::catch_unwind(crash).is_err());
        // The panic happened outside the lock: the line still works.
        pin.fail(None);
        assert!(pin.is_high().unwrap());
    }

    #[test]
    fn scripted_inputs_follow_time() {
        let start = Instant::now() - Duration::from_millis(500);
        let mut pin = SimPin::new("exit", true, start).scripted(vec![
            (Duration::from_millis(100), false),
            (Duration::from_secs(3600), true),
        ]);
        assert!(pin.is_low().unwrap());
        pin.set(true);
        assert!(pin.is_high().unwrap());
    }

    #[test]
    fn scripts_parse_and_errors_name_the_line() {
        let s = parse_script("# demo\n2000 exit release\n1500 door open\n").unwrap();
        assert_eq!(s[0], (Duration::from_millis(1500), ScriptInput::Door, true));
        assert_eq!(
            s[1],
            (Duration::from_millis(2000), ScriptInput::Exit, false)
        );
        let e = parse_script("100 exit press\n200 relay on\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
