//! ST7789 / ILI9341 colour TFTs on Linux SPI (`/dev/spidevB.C`) with GPIO
//! data/command and reset lines. Screens are rendered in memory and sent
//! in one `set_pixels` transfer.

use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;
use embedded_hal::digital::OutputPin;
use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
use linux_embedded_hal::{Delay, SpidevDevice};
use mipidsi::interface::{InterfacePixelFormat, SpiInterface};
use mipidsi::models::{ILI9341Rgb565, Model, ST7789};
use mipidsi::options::{ColorInversion, ColorOrder, Orientation, Rotation};
use mipidsi::{Builder, Display};

use super::{Canvas, DisplayError, Panel, Screen, SpiPanelConfig};
use crate::gpio::Line;

/// Which controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// Sitronix ST7789 (240×240, 240×320).
    St7789,
    /// Ilitek ILI9341 (240×320).
    Ili9341,
}

type Interface = SpiInterface<'static, SpidevDevice, Line>;

/// An initialised controller that takes a whole frame of RGB565 pixels.
trait Push: Send {
    fn push(
        &mut self,
        ex: u16,
        ey: u16,
        pixels: &mut dyn Iterator<Item = Rgb565>,
    ) -> Result<(), String>;
}

impl<M, RST> Push for Display<Interface, M, RST>
where
    M: Model<ColorFormat = Rgb565> + Send,
    Rgb565: InterfacePixelFormat<u8>,
    RST: OutputPin + Send,
{
    fn push(
        &mut self,
        ex: u16,
        ey: u16,
        pixels: &mut dyn Iterator<Item = Rgb565>,
    ) -> Result<(), String> {
        self.set_pixels(0, 0, ex, ey, pixels)
            .map_err(|e| format!("{e:?}"))
    }
}

/// Initialises `model`: a hardware reset through `reset` when it is wired,
/// else the controller's software reset.
fn init<M>(
    model: M,
    di: Interface,
    c: &SpiPanelConfig,
    rotation: Rotation,
    reset: Option<Line>,
) -> Result<Box<dyn Push>, String>
where
    M: Model<ColorFormat = Rgb565> + Send + 'static,
{
    let builder = Builder::new(model, di)
        .display_size(c.width, c.height)
        .display_offset(c.offset_x, c.offset_y)
        .orientation(Orientation::new().rotate(rotation))
        .invert_colors(if c.invert_colors {
            ColorInversion::Inverted
        } else {
            ColorInversion::Normal
        })
        .color_order(if c.bgr {
            ColorOrder::Bgr
        } else {
            ColorOrder::Rgb
        });
    let mut delay = Delay;
    Ok(match reset {
        Some(pin) => Box::new(
            builder
                .reset_pin(pin)
                .init(&mut delay)
                .map_err(|e| format!("init: {e:?}"))?,
        ),
        None => Box::new(
            builder
                .init(&mut delay)
                .map_err(|e| format!("init: {e:?}"))?,
        ),
    })
}

/// An SPI TFT.
pub struct SpiPanel {
    tft: Box<dyn Push>,
    canvas: Canvas,
    device: String,
}

impl SpiPanel {
    /// Opens the SPI device and lines and initialises the controller.
    pub fn open(model: Controller, c: &SpiPanelConfig) -> Result<Self, DisplayError> {
        let device = c.spi.display().to_string();
        let rotation = match c.rotation {
            0 => Rotation::Deg0,
            90 => Rotation::Deg90,
            180 => Rotation::Deg180,
            270 => Rotation::Deg270,
            other => {
                return Err(DisplayError::new(
                    &device,
                    format!("rotation {other}: use 0, 90, 180 or 270"),
                ));
            }
        };
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
        // The interface borrows a transfer buffer for the panel's lifetime;
        // a panel is opened once per process.
        let buffer: &'static mut [u8] = Box::leak(vec![0u8; 4096].into_boxed_slice());
        let di = SpiInterface::new(spi, dc, buffer);
        let tft = match model {
            Controller::St7789 => init(ST7789, di, c, rotation, reset),
            Controller::Ili9341 => init(ILI9341Rgb565, di, c, rotation, reset),
        }
        .map_err(|e| DisplayError::new(&device, e))?;
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
        let mut pixels = rgb565(&self.canvas);
        self.tft
            .push(ex, ey, &mut pixels)
            .map_err(|e| DisplayError::new(&self.device, e))
    }

    fn size(&self) -> Size {
        self.canvas.size()
    }
}
