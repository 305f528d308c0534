//! Cameras: a small [`FrameSource`] trait with a V4L2 implementation for the
//! device and a replay implementation (image files on a schedule) for tests
//! and the demo.

pub mod convert;
pub mod replay;
pub mod v4l2;

use std::path::{Path, PathBuf};
use std::time::Duration;

use image::RgbImage;
use serde::Deserialize;

pub use replay::Replay;
pub use v4l2::V4l2Camera;

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The picture, RGB.
    pub image: RgbImage,
    /// Frame number since the source started.
    pub seq: u64,
    /// Capture time since the source started.
    pub time: Duration,
}

/// Why a frame could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// The device could not be opened or configured.
    #[error("camera {device}: cannot open: {msg}")]
    Open {
        /// Device or source.
        device: String,
        /// Cause.
        msg: String,
    },
    /// The device stopped delivering frames (unplugged, driver error, timeout).
    #[error("camera {device}: lost: {msg}")]
    Lost {
        /// Device or source.
        device: String,
        /// Cause.
        msg: String,
    },
    /// A frame arrived but could not be decoded; the next one may be fine.
    #[error("camera {device}: bad frame: {msg}")]
    BadFrame {
        /// Device or source.
        device: String,
        /// Cause.
        msg: String,
    },
}

/// A source of frames.
pub trait FrameSource {
    /// The next frame; `Ok(None)` when a finite source has ended.
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError>;
    /// Closes and opens the device again after an error.
    fn reopen(&mut self) -> Result<(), CameraError>;
    /// What this source is, for logs.
    fn describe(&self) -> String;
}

/// Pixel format to ask the camera for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// YUYV if the camera offers it at the size, else MJPEG.
    #[default]
    Auto,
    /// Uncompressed YUV 4:2:2.
    Yuyv,
    /// Motion JPEG (UVC cameras at high resolutions).
    Mjpeg,
}

/// Camera section of the board config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum CameraConfig {
    /// A V4L2 capture device.
    V4l2 {
        /// Device node, e.g. `/dev/video0`.
        device: PathBuf,
        /// Frame width asked for (the driver may choose the nearest).
        #[serde(default = "default_width")]
        width: u32,
        /// Frame height asked for.
        #[serde(default = "default_height")]
        height: u32,
        /// Frames per second asked for.
        #[serde(default = "default_fps")]
        fps: u32,
        /// Pixel format.
        #[serde(default)]
        format: PixelFormat,
    },
    /// Replayed image files (a directory or a playlist, see [`replay`]).
    Replay {
        /// Directory of images (played in name order) or a `.txt` playlist.
        path: PathBuf,
        /// Frames per second; frame times advance by `1/fps`.
        #[serde(default = "default_fps")]
        fps: u32,
        /// Deliver frames at `fps` in real time (else as fast as they are read).
        #[serde(default)]
        realtime: bool,
        /// Start again at the end.
        #[serde(default, rename = "loop")]
        looping: bool,
        /// Frames are letterboxed to this size, like a camera's.
        #[serde(default = "default_width")]
        width: u32,
        /// Frame height.
        #[serde(default = "default_height")]
        height: u32,
    },
}

fn default_width() -> u32 {
    640
}
fn default_height() -> u32 {
    480
}
fn default_fps() -> u32 {
    15
}

/// Opens the configured source; a relative replay path starts at `base`.
pub fn open(config: &CameraConfig, base: &Path) -> Result<Box<dyn FrameSource>, CameraError> {
    Ok(match config {
        CameraConfig::V4l2 {
            device,
            width,
            height,
            fps,
            format,
        } => Box::new(V4l2Camera::open(
            device.clone(),
            (*width, *height),
            *fps,
            *format,
        )?),
        CameraConfig::Replay {
            path,
            fps,
            realtime,
            looping,
            width,
            height,
        } => Box::new(Replay::open(
            &base.join(path),
            replay::Options {
                fps: *fps,
                realtime: *realtime,
                looping: *looping,
                size: (*width, *height),
            },
        )?),
    })
}

/// Opens the configured source like [`open`], except that a V4L2 camera
/// which cannot be opened yet (unplugged, driver not loaded) is returned as
/// a [`Pending`] source together with the error: the terminal starts without
/// it and its camera recovery keeps trying. A replay source that cannot be
/// opened is a configuration error and is returned as one.
pub fn open_or_pending(
    config: &CameraConfig,
    base: &Path,
) -> Result<(Box<dyn FrameSource>, Option<CameraError>), CameraError> {
    match open(config, base) {
        Ok(source) => Ok((source, None)),
        Err(e) if matches!(config, CameraConfig::V4l2 { .. }) => {
            let pending = Pending {
                config: config.clone(),
                base: base.to_path_buf(),
                inner: None,
                why: e.to_string(),
            };
            Ok((Box::new(pending), Some(e)))
        }
        Err(e) => Err(e),
    }
}

/// A camera not opened yet: reports itself lost until [`FrameSource::reopen`]
/// opens it, then delegates to it.
pub struct Pending {
    config: CameraConfig,
    base: PathBuf,
    inner: Option<Box<dyn FrameSource>>,
    why: String,
}

impl FrameSource for Pending {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        match &mut self.inner {
            Some(source) => source.next_frame(),
            None => Err(CameraError::Lost {
                device: self.describe(),
                msg: format!("not opened yet: {}", self.why),
            }),
        }
    }

    fn reopen(&mut self) -> Result<(), CameraError> {
        match &mut self.inner {
            Some(source) => source.reopen(),
            None => {
                let source = open(&self.config, &self.base).inspect_err(|e| {
                    self.why = e.to_string();
                })?;
                self.inner = Some(source);
                Ok(())
            }
        }
    }

    fn describe(&self) -> String {
        match (&self.inner, &self.config) {
            (Some(source), _) => source.describe(),
            (None, CameraConfig::V4l2 { device, .. }) => format!("{} (not open)", device.display()),
            (None, CameraConfig::Replay { path, .. }) => format!("{} (not open)", path.display()),
        }
    }
}
