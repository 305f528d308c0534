//! Replayed frames: a directory of images, or a playlist that scripts a scene.
//!
//! Playlist lines (`#` starts a comment; paths relative to the playlist):
//!
//! ```text
//! people/alice.jpg x20   # this picture for 20 frames
//! blank x10              # an empty grey scene for 10 frames
//! lost x5                # 5 failed attempts (the read, then reopens)
//! ```
//!
//! Every picture is letterboxed to the configured frame size, like a camera's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::imageops::FilterType;
use image::{Rgb, RgbImage};

use super::{CameraError, Frame, FrameSource};
use crate::vision::picture;

/// Replay settings.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Frame rate; frame times advance by `1/fps`.
    pub fps: u32,
    /// Pace delivery in real time.
    pub realtime: bool,
    /// Start over at the end.
    pub looping: bool,
    /// Frame size.
    pub size: (u32, u32),
}

/// One scripted step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A picture for `n` frames.
    Picture(PathBuf, u32),
    /// An empty scene for `n` frames.
    Blank(u32),
    /// `n` camera failures.
    Lost(u32),
}

/// A replayed camera.
pub struct Replay {
    name: String,
    steps: Vec<Step>,
    options: Options,
    cache: HashMap<PathBuf, RgbImage>,
    step: usize,
    left: u32,
    failing: u32,
    seq: u64,
    started: Instant,
}

const BACKGROUND: Rgb<u8> = Rgb([96, 96, 96]);

impl Replay {
    /// Opens a directory (images in name order, one frame each) or a playlist.
    pub fn open(path: &Path, options: Options) -> Result<Self, CameraError> {
        let name = path.display().to_string();
        let error = |msg: String| CameraError::Open {
            device: name.clone(),
            msg,
        };
        let steps = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| error(e.to_string()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_picture(p))
                .collect();
            files.sort();
            files.into_iter().map(|p| Step::Picture(p, 1)).collect()
        } else {
            let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
            let base = path.parent().unwrap_or(Path::new("."));
            parse_playlist(&text, base).map_err(error)?
        };
        if steps.is_empty() {
            return Err(error("no frames to replay".into()));
        }
        if options.fps == 0 || options.size.0 == 0 || options.size.1 == 0 {
            return Err(error("fps and frame size must be positive".into()));
        }
        let mut replay = Self {
            name,
            steps,
            options,
            cache: HashMap::new(),
            step: 0,
            left: 0,
            failing: 0,
            seq: 0,
            started: Instant::now(),
        };
        replay.enter(0);
        Ok(replay)
    }

    /// The scripted steps.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    fn enter(&mut self, step: usize) {
        self.step = step;
        match self.steps.get(step) {
            Some(Step::Picture(_, n) | Step::Blank(n)) => self.left = *n,
            Some(Step::Lost(n)) => {
                self.left = 0;
                self.failing = *n;
            }
            None => self.left = 0,
        }
    }

    /// Moves past finished steps; false at the end of a non-looping script.
    fn advance(&mut self) -> bool {
        let mut guard = 0;
        while self.left == 0 && self.failing == 0 {
            let next = self.step + 1;
            if next >= self.steps.len() {
                if !self.options.looping {
                    self.step = self.steps.len();
                    return false;
                }
                self.enter(0);
            } else {
                self.enter(next);
            }
            guard += 1;
            if guard > self.steps.len() + 1 {
                return false; // a script of only `x0` steps
            }
        }
        true
    }

    fn picture(&mut self, path: &Path) -> Result<RgbImage, CameraError> {
        if let Some(img) = self.cache.get(path) {
            return Ok(img.clone());
        }
        let img = picture::load(path).map_err(|e| CameraError::BadFrame {
            device: self.name.clone(),
            msg: e.to_string(),
        })?;
        let framed = letterbox(&img, self.options.size);
        self.cache.insert(path.to_path_buf(), framed.clone());
        Ok(framed)
    }

    fn pace(&self, time: Duration) {
        if self.options.realtime {
            let due = self.started + time;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
}

impl FrameSource for Replay {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        if self.step < self.steps.len() && self.left == 0 && self.failing == 0 && !self.advance() {
            return Ok(None);
        }
        if self.step >= self.steps.len() {
            return Ok(None);
        }
        let time = Duration::from_secs_f64(self.seq as f64 / f64::from(self.options.fps));
        if self.failing > 0 {
            self.failing -= 1;
            self.seq += 1;
            self.pace(time);
            return Err(CameraError::Lost {
                device: self.name.clone(),
                msg: "scripted camera failure".into(),
            });
        }
        let image = match self.steps[self.step].clone() {
            Step::Picture(path, _) => self.picture(&path),
            _ => Ok(RgbImage::from_pixel(
                self.options.size.0,
                self.options.size.1,
                BACKGROUND,
            )),
        };
        self.left = self.left.saturating_sub(1);
        self.seq += 1;
        let image = image?;
        self.pace(time);
        Ok(Some(Frame {
            image,
            seq: self.seq,
            time,
        }))
    }

    fn reopen(&mut self) -> Result<(), CameraError> {
        if self.failing > 0 {
            self.failing -= 1;
            // The failed reopen still takes a frame slot, as a real one takes time.
            self.seq += 1;
            return Err(CameraError::Open {
                device: self.name.clone(),
                msg: "scripted camera failure".into(),
            });
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "replay {} ({} steps, {} fps)",
            self.name,
            self.steps.len(),
            self.options.fps
        )
    }
}

fn is_picture(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

/// Parses a playlist; `base` resolves relative paths.
pub fn parse_playlist(text: &str, base: &Path) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (what, count) = match line.rsplit_once(char::is_whitespace) {
            Some((what, n)) if n.starts_with('x') => {
                let n = n[1..]
                    .parse::<u32>()
                    .map_err(|_| format!("line {}: bad repeat count {n:?}", no + 1))?;
                (what.trim(), n)
            }
            _ => (line, 1),
        };
        steps.push(match what {
            "blank" => Step::Blank(count),
            "lost" => Step::Lost(count),
            path => {
                let path = base.join(path);
                if !path.is_file() {
                    return Err(format!(
                        "line {}: no such picture {}",
                        no + 1,
                        path.display()
                    ));
                }
                Step::Picture(path, count)
            }
        });
    }
    Ok(steps)
}

/// Scales `img` to fit `size` (keeping its aspect) on a grey background.
pub fn letterbox(img: &RgbImage, size: (u32, u32)) -> RgbImage {
    let (w, h) = img.dimensions();
    let scale = (size.0 as f32 / w as f32).min(size.1 as f32 / h as f32);
    let (nw, nh) = (
        ((w as f32 * scale).round() as u32).clamp(1, size.0),
        ((h as f32 * scale).round() as u32).clamp(1, size.1),
    );
    let scaled = image::imageops::resize(img, nw, nh, FilterType::Triangle);
    let mut out = RgbImage::from_pixel(size.0, size.1, BACKGROUND);
    image::imageops::replace(
        &mut out,
        &scaled,
        i64::from((size.0 - nw) / 2),
        i64::from((size.1 - nh) / 2),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            fps: 10,
            realtime: false,
            looping: false,
            size: (64, 48),
        }
    }

    fn script(dir: &Path, text: &str) -> PathBuf {
        RgbImage::from_pixel(20, 20, Rgb([200, 10, 10]))
            .save(dir.join("red.png"))
            .unwrap();
        let list = dir.join("scene.txt");
        std::fs::write(&list, text).unwrap();
        list
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("facegate-replay-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Outcome per read: 'p' picture, 'b' blank, 'L' failure (then reopen), '.' end.
    fn trace(replay: &mut Replay, reads: usize) -> String {
        let mut s = String::new();
        for _ in 0..reads {
            match replay.next_frame() {
                Ok(Some(f)) => s.push(if f.image.get_pixel(32, 24)[0] == 96 {
                    'b'
                } else {
                    'p'
                }),
                Ok(None) => s.push('.'),
                Err(_) => {
                    s.push('L');
                    while replay.reopen().is_err() {
                        s.push('r');
                    }
                }
            }
        }
        s
    }

    #[test]
    fn playlist_plays_in_order_with_failures() {
        let dir = tempdir("order");
        let list = script(
            &dir,
            "# scene\nred.png x3\nblank x2  # empty\nlost x3\nred.png\n",
        );
        let mut replay = Replay::open(&list, options()).unwrap();
        // 3 failures: one read fails, then two reopens fail, the third succeeds.
        assert_eq!(trace(&mut replay, 9), "pppbbLrrp..");
    }

    #[test]
    fn frames_are_letterboxed_and_timed() {
        let dir = tempdir("timed");
        let list = script(&dir, "red.png x2\n");
        let mut replay = Replay::open(&list, options()).unwrap();
        let a = replay.next_frame().unwrap().unwrap();
        let b = replay.next_frame().unwrap().unwrap();
        assert_eq!(a.image.dimensions(), (64, 48));
        assert_eq!(*a.image.get_pixel(0, 24), BACKGROUND); // side bar
        assert_eq!(a.image.get_pixel(32, 24)[0], 200);
        assert_eq!(b.time - a.time, Duration::from_millis(100));
        assert_eq!((a.seq, b.seq), (1, 2));
    }

    #[test]
    fn looping_starts_over() {
        let dir = tempdir("loop");
        let list = script(&dir, "red.png\nblank\n");
        let mut replay = Replay::open(
            &list,
            Options {
                looping: true,
                ..options()
            },
        )
        .unwrap();
        assert_eq!(trace(&mut replay, 5), "pbpbp");
    }

    #[test]
    fn bad_playlists_are_refused_with_the_line() {
        let dir = tempdir("bad");
        let list = script(&dir, "red.png\nmissing.jpg x2\n");
        let err = Replay::open(&list, options()).err().unwrap().to_string();
        assert!(err.contains("line 2: no such picture"), "{err}");
        let list = script(&dir, "red.png xx\n");
        let err = Replay::open(&list, options()).err().unwrap().to_string();
        assert!(err.contains("line 1: bad repeat count"), "{err}");
        let list = script(&dir, "# nothing\n");
        assert!(Replay::open(&list, options()).is_err());
    }

    #[test]
    fn a_corrupt_picture_is_a_bad_frame_not_the_end() {
        let dir = tempdir("corrupt");
        std::fs::write(dir.join("broken.jpg"), b"\xFF\xD8garbage").unwrap();
        let list = script(&dir, "broken.jpg\nred.png\n");
        let mut replay = Replay::open(&list, options()).unwrap();
        assert!(matches!(
            replay.next_frame(),
            Err(CameraError::BadFrame { .. })
        ));
        assert!(replay.next_frame().unwrap().is_some());
    }
}
