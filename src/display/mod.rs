//! The status display. Screens ([`screens`]) are drawn once against
//! `embedded-graphics`' `DrawTarget`; a [`Panel`] puts them on a device:
//! SSD1306 I2C OLED, ST7789/ILI9341 SPI TFT, a Linux framebuffer, or the
//! simulator, which writes one PNG per screen change.

pub mod canvas;
pub mod fbdev;
pub mod mipidsi;
pub mod screens;
pub mod sim;
pub mod ssd1306;

use std::path::{Path, PathBuf};

use embedded_graphics::prelude::Size;
use serde::Deserialize;

pub use canvas::Canvas;
pub use screens::{Screen, draw};

use crate::gpio::LineSpec;

/// A display could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("display {device}: {msg}")]
pub struct DisplayError {
    /// Device path or kind.
    pub device: String,
    /// What went wrong.
    pub msg: String,
}

impl DisplayError {
    /// An error on `device`.
    pub fn new(device: impl std::fmt::Display, msg: impl std::fmt::Display) -> Self {
        Self {
            device: device.to_string(),
            msg: msg.to_string(),
        }
    }
}

/// Something that shows screens.
pub trait Panel: Send {
    /// Draws `screen` and puts it on the device.
    fn show(&mut self, screen: &Screen) -> Result<(), DisplayError>;
    /// Pixels.
    fn size(&self) -> Size;
}

/// SPI TFT wiring and geometry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpiPanelConfig {
    /// SPI device, e.g. `/dev/spidev0.0`.
    pub spi: PathBuf,
    /// Data/command line.
    pub dc: LineSpec,
    /// Reset line, if wired.
    pub reset: Option<LineSpec>,
    /// Visible width.
    pub width: u16,
    /// Visible height.
    pub height: u16,
    /// 0, 90, 180 or 270 degrees.
    #[serde(default)]
    pub rotation: u16,
    /// Invert colours (most ST7789 IPS panels need it).
    #[serde(default)]
    pub invert_colors: bool,
    /// Blue-green-red subpixel order (most ILI9341 modules).
    #[serde(default)]
    pub bgr: bool,
    /// Column offset of the visible area in the controller's memory.
    #[serde(default)]
    pub offset_x: u16,
    /// Row offset.
    #[serde(default)]
    pub offset_y: u16,
    /// SPI clock.
    #[serde(default = "default_spi_hz")]
    pub spi_hz: u32,
}

fn default_spi_hz() -> u32 {
    32_000_000
}

/// `[display]` in the board config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DisplayConfig {
    /// No display.
    None,
    /// PNG files, one per screen change.
    Sim {
        /// Output directory.
        dir: PathBuf,
        /// Width.
        #[serde(default = "default_side")]
        width: u32,
        /// Height.
        #[serde(default = "default_side")]
        height: u32,
        /// Black and white, as an OLED shows it.
        #[serde(default)]
        mono: bool,
    },
    /// SSD1306 128×64 OLED on I2C.
    Ssd1306 {
        /// I2C bus, e.g. `/dev/i2c-1`.
        i2c: PathBuf,
        /// 7-bit address (0x3c or 0x3d).
        #[serde(default = "default_address")]
        address: u8,
    },
    /// ST7789 TFT on SPI.
    St7789(SpiPanelConfig),
    /// ILI9341 TFT on SPI.
    Ili9341(SpiPanelConfig),
    /// Linux framebuffer, e.g. `/dev/fb1` (16 or 32 bits per pixel).
    Framebuffer {
        /// Device node.
        device: PathBuf,
    },
}

fn default_side() -> u32 {
    240
}
fn default_address() -> u8 {
    0x3c
}

/// A panel that shows nothing.
pub struct NoPanel;

impl Panel for NoPanel {
    fn show(&mut self, _: &Screen) -> Result<(), DisplayError> {
        Ok(())
    }
    fn size(&self) -> Size {
        Size::zero()
    }
}

/// Opens the configured display; a relative simulator directory starts at `base`.
pub fn open(config: &DisplayConfig, base: &Path) -> Result<Box<dyn Panel>, DisplayError> {
    Ok(match config {
        DisplayConfig::None => Box::new(NoPanel),
        DisplayConfig::Sim {
            dir,
            width,
            height,
            mono,
        } => Box::new(sim::SimPanel::new(base.join(dir), *width, *height, *mono)?),
        DisplayConfig::Ssd1306 { i2c, address } => {
            Box::new(ssd1306::Ssd1306Panel::open(i2c, *address)?)
        }
        DisplayConfig::St7789(c) => {
            Box::new(mipidsi::SpiPanel::open(mipidsi::Controller::St7789, c)?)
        }
        DisplayConfig::Ili9341(c) => {
            Box::new(mipidsi::SpiPanel::open(mipidsi::Controller::Ili9341, c)?)
        }
        DisplayConfig::Framebuffer { device } => Box::new(fbdev::FbPanel::open(device)?),
    })
}

/// A display that could not be opened at start-up: showing a screen tries
/// to open it again (at most every [`Pending::RETRY`]; in between the last
/// error is returned) and then goes to it, so a panel connected or fixed
/// later starts showing without a restart.
pub struct Pending {
    config: DisplayConfig,
    base: PathBuf,
    inner: Option<Box<dyn Panel>>,
    next_try: std::time::Instant,
    error: DisplayError,
}

impl Pending {
    /// Time between two attempts to open the panel.
    pub const RETRY: std::time::Duration = std::time::Duration::from_secs(5);
}

impl Panel for Pending {
    fn show(&mut self, screen: &Screen) -> Result<(), DisplayError> {
        if self.inner.is_none() {
            let now = std::time::Instant::now();
            if now < self.next_try {
                return Err(DisplayError::new(&self.error.device, &self.error.msg));
            }
            self.next_try = now + Self::RETRY;
            match open(&self.config, &self.base) {
                Ok(panel) => self.inner = Some(panel),
                Err(e) => {
                    self.error = DisplayError::new(&e.device, &e.msg);
                    return Err(e);
                }
            }
        }
        match &mut self.inner {
            Some(panel) => panel.show(screen),
            None => Ok(()),
        }
    }
    fn size(&self) -> Size {
        self.inner.as_ref().map_or(Size::zero(), |p| p.size())
    }
}

/// Opens the configured display like [`open`]; one that cannot be opened
/// yet is returned as a [`Pending`] panel with the error, so the terminal
/// starts without it.
pub fn open_or_pending(
    config: &DisplayConfig,
    base: &Path,
) -> (Box<dyn Panel>, Option<DisplayError>) {
    match open(config, base) {
        Ok(panel) => (panel, None),
        Err(e) => {
            let pending = Pending {
                config: config.clone(),
                base: base.to_path_buf(),
                inner: None,
                next_try: std::time::Instant::now() + Pending::RETRY,
                error: DisplayError::new(&e.device, &e.msg),
            };
            (Box::new(pending), Some(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_parse() {
        let c: DisplayConfig = toml::from_str(
            "[st7789]\nspi = \"/dev/spidev0.0\"\ndc = \"GPIO25\"\nwidth = 240\nheight = 240\n",
        )
        .unwrap();
        let DisplayConfig::St7789(spi) = c else {
            panic!("{c:?}")
        };
        assert_eq!(spi.spi_hz, 32_000_000);
        let c: DisplayConfig = toml::from_str("[ssd1306]\ni2c = \"/dev/i2c-1\"\n").unwrap();
        assert_eq!(
            c,
            DisplayConfig::Ssd1306 {
                i2c: "/dev/i2c-1".into(),
                address: 0x3c
            }
        );
        assert!(toml::from_str::<DisplayConfig>("[ssd1306]\nbus = 1\n").is_err());
    }

    #[test]
    fn missing_devices_are_clear_errors() {
        let here = Path::new(".");
        let e = open(
            &DisplayConfig::Ssd1306 {
                i2c: "/nonexistent/i2c-9".into(),
                address: 0x3c,
            },
            here,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.starts_with("display /nonexistent/i2c-9:"), "{e}");
        let e = open(
            &DisplayConfig::Framebuffer {
                device: "/dev/fb-none".into(),
            },
            here,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.starts_with("display /dev/fb-none:"), "{e}");
    }
}
