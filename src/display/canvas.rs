//! An in-memory RGB `DrawTarget`: screens are rendered here first, then
//! pushed to a device in one transfer (or saved as PNG).

use std::convert::Infallible;

use embedded_graphics::pixelcolor::{BinaryColor, Rgb888};
use embedded_graphics::prelude::*;
use image::RgbImage;

/// An RGB frame buffer; in mono mode every pixel is black or white, as an
/// OLED would show it (Rgb888 → BinaryColor by luma, embedded-graphics' rule).
pub struct Canvas {
    /// The pixels.
    pub image: RgbImage,
    mono: bool,
}

impl Canvas {
    /// A black canvas.
    pub fn new(width: u32, height: u32, mono: bool) -> Self {
        Self {
            image: RgbImage::new(width, height),
            mono,
        }
    }

    /// Renders a screen onto a fresh canvas.
    pub fn render(screen: &super::Screen, width: u32, height: u32, mono: bool) -> Self {
        let mut c = Self::new(width, height, mono);
        let Ok(()) = super::draw(screen, &mut c);
        c
    }
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.image.width(), self.image.height())
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(
        &mut self,
        pixels: I,
    ) -> Result<(), Infallible> {
        let (w, h) = self.image.dimensions();
        for Pixel(p, c) in pixels {
            if p.x < 0 || p.y < 0 || p.x as u32 >= w || p.y as u32 >= h {
                continue;
            }
            let c = if self.mono {
                match BinaryColor::from(c) {
                    BinaryColor::On => Rgb888::WHITE,
                    BinaryColor::Off => Rgb888::BLACK,
                }
            } else {
                c
            };
            self.image
                .put_pixel(p.x as u32, p.y as u32, image::Rgb([c.r(), c.g(), c.b()]));
        }
        Ok(())
    }
}
