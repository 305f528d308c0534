//! SSD1306 128×64 monochrome OLED on Linux I2C (`/dev/i2c-N`).

use std::path::Path;

use embedded_graphics::prelude::*;
use linux_embedded_hal::I2cdev;
use ssd1306::mode::BufferedGraphicsMode;
use ssd1306::prelude::*;
use ssd1306::{I2CDisplayInterface, Ssd1306};

use super::{DisplayError, Panel, Screen};

type Oled =
    Ssd1306<I2CInterface<I2cdev>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

/// The OLED, buffered: a screen is drawn into RAM, then flushed in one go.
pub struct Ssd1306Panel {
    oled: Oled,
    device: String,
}

impl Ssd1306Panel {
    /// Opens the bus and initialises the controller at `address`.
    pub fn open(bus: &Path, address: u8) -> Result<Self, DisplayError> {
        let device = bus.display().to_string();
        let i2c = I2cdev::new(bus).map_err(|e| DisplayError::new(&device, e))?;
        let interface = I2CDisplayInterface::new_custom_address(i2c, address);
        let mut oled = Ssd1306::new(interface, DisplaySize128x64, DisplayRotation::Rotate0)
            .into_buffered_graphics_mode();
        oled.init()
            .map_err(|e| DisplayError::new(&device, format!("init at 0x{address:02x}: {e:?}")))?;
        Ok(Self { oled, device })
    }
}

impl Panel for Ssd1306Panel {
    fn show(&mut self, screen: &Screen) -> Result<(), DisplayError> {
        self.oled.clear_buffer();
        super::draw(screen, &mut self.oled.color_converted())
            .map_err(|e| DisplayError::new(&self.device, format!("{e:?}")))?;
        self.oled
            .flush()
            .map_err(|e| DisplayError::new(&self.device, format!("{e:?}")))
    }

    fn size(&self) -> Size {
        Size::new(128, 64)
    }
}
