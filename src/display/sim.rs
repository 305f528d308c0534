//! The simulated panel: one PNG per screen change, written atomically.

use std::path::PathBuf;

use embedded_graphics::prelude::Size;

use super::{Canvas, DisplayError, Panel, Screen};

/// Writes `{dir}/{seq:04}-{kind}.png` for each screen shown.
pub struct SimPanel {
    dir: PathBuf,
    width: u32,
    height: u32,
    mono: bool,
    seq: u32,
}

impl SimPanel {
    /// A panel writing into `dir` (created).
    pub fn new(dir: PathBuf, width: u32, height: u32, mono: bool) -> Result<Self, DisplayError> {
        if width == 0 || height == 0 || width > 4096 || height > 4096 {
            return Err(DisplayError::new(
                dir.display(),
                "size must be 1..4096 pixels",
            ));
        }
        std::fs::create_dir_all(&dir).map_err(|e| DisplayError::new(dir.display(), e))?;
        Ok(Self {
            dir,
            width,
            height,
            mono,
            seq: 0,
        })
    }
}

impl Panel for SimPanel {
    fn show(&mut self, screen: &Screen) -> Result<(), DisplayError> {
        self.seq += 1;
        let canvas = Canvas::render(screen, self.width, self.height, self.mono);
        let path = self
            .dir
            .join(format!("{:04}-{}.png", self.seq, screen.kind()));
        let mut png = Vec::new();
        canvas
            .image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| DisplayError::new(path.display(), e))?;
        crate::atomic::write(&path, &png).map_err(|e| DisplayError::new(path.display(), e))
    }

    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}
