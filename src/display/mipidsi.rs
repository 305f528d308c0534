//! ST7789 / ILI9341 colour TFTs on Linux SPI (`/dev/spidevB.C`) with GPIO
//! data/command and reset lines. Screens are rendered in memory and sent
//! in one `set_pixels` transfer.

use std::convert::Infallible;

use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;
use embedded_hal::digital::{ErrorType, OutputPin};
use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
use linux_embedded_hal::{CdevPin, Delay, SpidevDevice};
use mipidsi::interface::SpiInterface;
use mipidsi::models::{ILI9341Rgb565, ST7789};
use mipidsi::options::{ColorInversion, Orientation, Rotation};
use mipidsi::{Builder, Display};

use super::{Canvas, DisplayError, Panel, Screen, SpiPanelConfig};

/// Which controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Sitronix ST7789 (240×240, 240×320).
    St7789,
    /// Ilitek ILI9341 (240×320).
    Ili9341,
}

/// A reset line that may not be wired.
pub struct MaybePin(Option<CdevPin>);

impl ErrorType for MaybePin {
    type Error = Infallible;
}

impl OutputPin for MaybePin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        if let Some(p) = &mut self.0 {
            let _ = p.set_low();
        }
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        if let Some(p) = &mut self.0 {
            let _ = p.set_high();
        }
        Ok(())
    }
}

type Interface = SpiInterface<'static, SpidevDevice, CdevPin>;

enum Tft {
    St7789(Display<Interface, ST7789, MaybePin>),
    Ili9341(Display<Interface, ILI9341Rgb565, MaybePin>),
}

/// An SPI TFT.
pub struct SpiPanel {
    tft: Tft,
    canvas: Canvas,
    device: String,
}

impl SpiPanel {
    /// Opens the SPI device and lines and initialises the controller.
    pub fn open(model: Model, c: &SpiPanelConfig) -> Result<Self, DisplayError> {
        let device = c.spi.display().to_string();
        let err = |e: &dyn std::fmt::Debug| DisplayError::new(&device, format!("{e:?}"));
        let mut spi = SpidevDevice::open(&c.spi).map_err(|e| DisplayError::new(&device, e))?;
        spi.0
            .configure(
                &SpidevOptions::new()
                    .bits_per_word(8)
                    .max_speed_hz(c.spi_hz)
                    .mode(SpiModeFlags::SPI_MODE_0)
                    .build(),
            )
            .map_err(|e| DisplayError::new(&device, e))?;
        let dc =
            c.dc.output("facegate-display-dc", 0)
                .map_err(|e| DisplayError::new(&device, e))?;
        let reset = match &c.reset {
            Some(l) => Some(
                l.output("facegate-display-reset", 1)
                    .map_err(|e| DisplayError::new(&device, e))?,
            ),
            None => None,
        };
        // The interface borrows a transfer buffer for the panel's lifetime.
        let buffer: &'static mut [u8] = Box::leak(vec![0u8; 4096].into_boxed_slice());
        let di = SpiInterface::new(spi, dc, buffer);
        let rotation = Rotation::try_from_degree(i32::from(c.rotation))
            .map_err(|_| DisplayError::new(&device, "rotation must be 0, 90, 180 or 270"))?;
        let inversion = if c.invert_colors {
            ColorInversion::Inverted
        } else {
            ColorInversion::Normal
        };
        let mut delay = Delay;
        let orientation = Orientation::new().rotate(rotation);
        let tft = match model {
            Model::St7789 => Tft::St7789(
                Builder::new(ST7789, di)
                    .display_size(c.width, c.height)
                    .display_offset(c.offset_x, c.offset_y)
                    .orientation(orientation)
                    .invert_colors(inversion)
                    .reset_pin(MaybePin(reset))
                    .init(&mut delay)
                    .map_err(|e| err(&e))?,
            ),
            Model::Ili9341 => Tft::Ili9341(
                Builder::new(ILI9341Rgb565, di)
                    .display_size(c.width, c.height)
                    .display_offset(c.offset_x, c.offset_y)
                    .orientation(orientation)
                    .invert_colors(inversion)
                    .reset_pin(MaybePin(reset))
                    .init(&mut delay)
                    .map_err(|e| err(&e))?,
            ),
        };
        let (w, h) = match rotation {
            Rotation::Deg90 | Rotation::Deg270 => (c.height, c.width),
            _ => (c.width, c.height),
        };
        Ok(Self {
            tft,
            canvas: Canvas::new(u32::from(w), u32::from(h), false),
            device,
        })
    }
}

/// The canvas as RGB565, row by row.
pub fn rgb565(canvas: &Canvas) -> impl Iterator<Item = Rgb565> + '_ {
    canvas
        .image
        .pixels()
        .map(|p| Rgb565::from(embedded_graphics::pixelcolor::Rgb888::new(p[0], p[1], p[2])))
}

impl Panel for SpiPanel {
    fn show(&mut self, screen: &Screen) -> Result<(), DisplayError> {
        let Ok(()) = super::draw(screen, &mut self.canvas);
        let (w, h) = self.canvas.image.dimensions();
        let (ex, ey) = ((w - 1) as u16, (h - 1) as u16);
        let pixels = rgb565(&self.canvas);
        match &mut self.tft {
            Tft::St7789(d) => d.set_pixels(0, 0, ex, ey, pixels),
            Tft::Ili9341(d) => d.set_pixels(0, 0, ex, ey, pixels),
        }
        .map_err(|e| DisplayError::new(&self.device, format!("{e:?}")))
    }

    fn size(&self) -> Size {
        self.canvas.size()
    }
}
