//! GPIO lines on the Linux character device (`/dev/gpiochipN`), named in the
//! board config either by line name (`"GPIO17"`) or by chip and offset.
//!
//! Lines are requested through the kernel's v2 GPIO uAPI (`gpiocdev`; the v1
//! uAPI is deprecated and optional in newer kernels) and wrapped in [`Line`],
//! a small `embedded-hal` 1.0 pin. The kernel releases a line when its
//! request's file descriptor closes, also when the process is killed; what the
//! line then does is the chip driver's business (docs/hil.md).

use std::path::PathBuf;

use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use gpiocdev::line::{Offset, Value};
use gpiocdev::request::Request;
use serde::Deserialize;

/// Where a GPIO line is: its name (searched on every chip) or a chip and offset.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum LineSpec {
    /// A line name as the kernel reports it (`gpioinfo`), e.g. `"GPIO17"`.
    Name(String),
    /// A chip (`"gpiochip0"` or a path) and the line's offset on it.
    Offset {
        /// Chip name under `/dev` or a full path.
        chip: String,
        /// Line offset.
        line: u32,
    },
}

impl std::fmt::Display for LineSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineSpec::Name(n) => write!(f, "line \"{n}\""),
            LineSpec::Offset { chip, line } => write!(f, "{chip} line {line}"),
        }
    }
}

/// A GPIO line could not be found or requested.
#[derive(Debug, thiserror::Error)]
#[error("GPIO {spec}: {msg}")]
pub struct GpioError {
    /// The line.
    pub spec: LineSpec,
    /// What went wrong.
    pub msg: String,
}

impl LineSpec {
    fn error(&self, msg: impl std::fmt::Display) -> GpioError {
        GpioError {
            spec: self.clone(),
            msg: msg.to_string(),
        }
    }

    /// Requests the line as an output driven to `value` (raw level, 0 or 1).
    pub fn output(&self, consumer: &str, value: u8) -> Result<Line, GpioError> {
        let level = if value == 0 {
            Value::Inactive
        } else {
            Value::Active
        };
        self.request(consumer, |b| {
            b.as_output(level);
        })
    }

    /// Requests the line as an input.
    pub fn input(&self, consumer: &str) -> Result<Line, GpioError> {
        self.request(consumer, |b| {
            b.as_input();
        })
    }

    fn request(
        &self,
        consumer: &str,
        direction: impl FnOnce(&mut gpiocdev::request::Builder),
    ) -> Result<Line, GpioError> {
        let (chip, offset) = self.find()?;
        let mut builder = Request::builder();
        builder
            .on_chip(&chip)
            .with_consumer(consumer)
            .with_line(offset);
        direction(&mut builder);
        let request = builder
            .request()
            .map_err(|e| self.error(format!("request failed: {e}")))?;
        Ok(Line { request, offset })
    }

    fn find(&self) -> Result<(PathBuf, Offset), GpioError> {
        match self {
            LineSpec::Offset { chip, line } => {
                let path = if chip.starts_with('/') {
                    PathBuf::from(chip)
                } else {
                    PathBuf::from("/dev").join(chip)
                };
                if !path.exists() {
                    return Err(self.error(format!("cannot open {}: no such chip", path.display())));
                }
                Ok((path, *line))
            }
            LineSpec::Name(name) => gpiocdev::find_named_line(name)
                .map(|found| (found.chip, found.info.offset))
                .ok_or_else(|| self.error("no GPIO chip has a line of that name (see `gpioinfo`)")),
        }
    }
}

/// One requested GPIO line as an `embedded-hal` 1.0 pin. Levels are raw
/// (high = 1): polarity is the board config's business, not the kernel's.
#[derive(Debug)]
pub struct Line {
    request: Request,
    offset: Offset,
}

/// A line could not be read or driven.
#[derive(Debug, thiserror::Error)]
#[error("GPIO line {offset}: {source}")]
pub struct LineError {
    offset: Offset,
    source: gpiocdev::Error,
}

impl embedded_hal::digital::Error for LineError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

impl Line {
    fn fail(&self, source: gpiocdev::Error) -> LineError {
        LineError {
            offset: self.offset,
            source,
        }
    }
}

impl ErrorType for Line {
    type Error = LineError;
}

impl OutputPin for Line {
    fn set_low(&mut self) -> Result<(), LineError> {
        self.request
            .set_value(self.offset, Value::Inactive)
            .map_err(|e| self.fail(e))
    }

    fn set_high(&mut self) -> Result<(), LineError> {
        self.request
            .set_value(self.offset, Value::Active)
            .map_err(|e| self.fail(e))
    }
}

impl InputPin for Line {
    fn is_high(&mut self) -> Result<bool, LineError> {
        self.request
            .value(self.offset)
            .map(|v| v == Value::Active)
            .map_err(|e| self.fail(e))
    }

    fn is_low(&mut self) -> Result<bool, LineError> {
        self.is_high().map(|h| !h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Pins {
        a: LineSpec,
        b: LineSpec,
    }

    #[test]
    fn parses_names_and_offsets() {
        let p: Pins =
            toml::from_str("a = \"GPIO17\"\nb = { chip = \"gpiochip4\", line = 27 }\n").unwrap();
        assert_eq!(p.a, LineSpec::Name("GPIO17".into()));
        assert_eq!(
            p.b,
            LineSpec::Offset {
                chip: "gpiochip4".into(),
                line: 27
            }
        );
        assert_eq!(p.b.to_string(), "gpiochip4 line 27");
    }

    #[test]
    fn missing_chip_is_a_clear_error() {
        let spec = LineSpec::Offset {
            chip: "/nonexistent/gpiochip9".into(),
            line: 3,
        };
        let err = spec.output("facegate-test", 0).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("cannot open /nonexistent/gpiochip9")),
            "{err:?}"
        );
    }
}
