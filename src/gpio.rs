//! GPIO lines on the Linux character device (`/dev/gpiochipN`), named in the
//! board config either by line name (`"GPIO17"`) or by chip and offset.

use std::path::PathBuf;

use gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::CdevPin;
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
    pub fn output(&self, consumer: &str, value: u8) -> Result<CdevPin, GpioError> {
        self.request(LineRequestFlags::OUTPUT, value, consumer)
    }

    /// Requests the line as an input.
    pub fn input(&self, consumer: &str) -> Result<CdevPin, GpioError> {
        self.request(LineRequestFlags::INPUT, 0, consumer)
    }

    fn request(
        &self,
        flags: LineRequestFlags,
        value: u8,
        consumer: &str,
    ) -> Result<CdevPin, GpioError> {
        let line = self.find()?;
        let handle = line
            .request(flags, value, consumer)
            .map_err(|e| self.error(format!("request failed: {e}")))?;
        CdevPin::new(handle).map_err(|e| self.error(e))
    }

    fn find(&self) -> Result<gpio_cdev::Line, GpioError> {
        match self {
            LineSpec::Offset { chip, line } => {
                let path = if chip.starts_with('/') {
                    PathBuf::from(chip)
                } else {
                    PathBuf::from("/dev").join(chip)
                };
                let mut chip = Chip::new(&path)
                    .map_err(|e| self.error(format!("cannot open {}: {e}", path.display())))?;
                chip.get_line(*line).map_err(|e| self.error(e))
            }
            LineSpec::Name(name) => {
                let chips = gpio_cdev::chips().map_err(|e| self.error(e))?;
                for chip in chips.flatten() {
                    for line in chip.lines() {
                        let Ok(info) = line.info() else { continue };
                        if info.name() == Some(name.as_str()) {
                            return Ok(line);
                        }
                    }
                }
                Err(self.error("no GPIO chip has a line of that name (see `gpioinfo`)"))
            }
        }
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
