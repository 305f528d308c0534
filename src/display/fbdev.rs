//! Linux framebuffer (`/dev/fbN`) at 16 (RGB565) or 32 (XRGB8888) bits per
//! pixel. Geometry comes from sysfs; each screen is one positioned write.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use embedded_graphics::prelude::*;

use super::{Canvas, DisplayError, Panel, Screen};

/// Framebuffer geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Visible width.
    pub width: u32,
    /// Visible height.
    pub height: u32,
    /// Bits per pixel (16 or 32).
    pub bpp: u32,
    /// Bytes per row.
    pub stride: u32,
}

impl Geometry {
    /// Reads `virtual_size`, `bits_per_pixel` and `stride` under a sysfs
    /// directory such as `/sys/class/graphics/fb1`.
    pub fn from_sysfs(dir: &Path) -> Result<Self, String> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("{}: {e}", dir.join(name).display()))
        };
        let size = read("virtual_size")?;
        let (w, h) = size
            .split_once(',')
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
            .ok_or_else(|| format!("cannot read virtual_size {size:?}"))?;
        let bpp: u32 = read("bits_per_pixel")?
            .parse()
            .map_err(|_| "cannot read bits_per_pixel".to_string())?;
        if bpp != 16 && bpp != 32 {
            return Err(format!("{bpp} bits per pixel is not supported (16 or 32)"));
        }
        let stride = match read("stride") {
            Ok(s) => s.parse().map_err(|_| "cannot read stride".to_string())?,
            Err(_) => w * bpp / 8,
        };
        if stride < w * bpp / 8 {
            return Err(format!("stride {stride} is shorter than a row"));
        }
        Ok(Self {
            width: w,
            height: h,
            bpp,
            stride,
        })
    }
}

/// Packs a canvas into framebuffer bytes.
pub fn pack(canvas: &Canvas, g: &Geometry) -> Vec<u8> {
    let mut out = vec![0u8; (g.stride * g.height) as usize];
    for (x, y, p) in canvas.image.enumerate_pixels() {
        if x >= g.width || y >= g.height {
            continue;
        }
        let at = (y * g.stride) as usize + (x * g.bpp / 8) as usize;
        let [r, gr, b] = p.0;
        if g.bpp == 16 {
            let v = (u16::from(r >> 3) << 11) | (u16::from(gr >> 2) << 5) | u16::from(b >> 3);
            out[at..at + 2].copy_from_slice(&v.to_le_bytes());
        } else {
            out[at..at + 4].copy_from_slice(&[b, gr, r, 0xff]);
        }
    }
    out
}

/// A framebuffer panel.
pub struct FbPanel {
    file: File,
    geometry: Geometry,
    canvas: Canvas,
    device: String,
}

impl FbPanel {
    /// Opens `/dev/fbN` and reads its geometry from sysfs.
    pub fn open(device: &Path) -> Result<Self, DisplayError> {
        let name = device.display().to_string();
        let node = device
            .file_name()
            .ok_or_else(|| DisplayError::new(&name, "not a device path"))?;
        let sysfs = PathBuf::from("/sys/class/graphics").join(node);
        let file = OpenOptions::new()
            .write(true)
            .open(device)
            .map_err(|e| DisplayError::new(&name, e))?;
        let geometry = Geometry::from_sysfs(&sysfs).map_err(|e| DisplayError::new(&name, e))?;
        Ok(Self {
            file,
            canvas: Canvas::new(geometry.width, geometry.height, false),
            geometry,
            device: name,
        })
    }
}

impl Panel for FbPanel {
    fn show(&mut self, screen: &Screen) -> Result<(), DisplayError> {
        let Ok(()) = super::draw(screen, &mut self.canvas);
        self.file
            .write_all_at(&pack(&self.canvas, &self.geometry), 0)
            .map_err(|e| DisplayError::new(&self.device, e))
    }

    fn size(&self) -> Size {
        Size::new(self.geometry.width, self.geometry.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_from_sysfs() {
        let dir = std::env::temp_dir().join(format!("facegate-fb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("virtual_size"), "320,240\n").unwrap();
        std::fs::write(dir.join("bits_per_pixel"), "16\n").unwrap();
        std::fs::write(dir.join("stride"), "704\n").unwrap();
        let g = Geometry::from_sysfs(&dir).unwrap();
        assert_eq!(
            g,
            Geometry {
                width: 320,
                height: 240,
                bpp: 16,
                stride: 704
            }
        );
        std::fs::write(dir.join("bits_per_pixel"), "24\n").unwrap();
        assert!(Geometry::from_sysfs(&dir).unwrap_err().contains("24 bits"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn packing_16_and_32_bits() {
        let mut c = Canvas::new(2, 1, false);
        c.image.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        c.image.put_pixel(1, 0, image::Rgb([0, 255, 8]));
        let g16 = Geometry {
            width: 2,
            height: 1,
            bpp: 16,
            stride: 6,
        };
        assert_eq!(pack(&c, &g16), vec![0x00, 0xf8, 0xe1, 0x07, 0, 0]);
        let g32 = Geometry {
            width: 2,
            height: 1,
            bpp: 32,
            stride: 8,
        };
        assert_eq!(pack(&c, &g32), vec![0, 0, 255, 255, 8, 255, 0, 255]);
    }
}
