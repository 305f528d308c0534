//! V4L2 capture with memory-mapped streaming (YUYV or MJPEG).
//!
//! The terminal takes far longer per frame than the camera between frames
//! (hundreds of milliseconds for a face against 66 ms at 15 fps), so queued
//! buffers fill up and wait: the oldest of them is seconds old. Every read
//! therefore works on the newest frame: buffers with a newer one behind them
//! are handed back, and so is a buffer whose (monotonic) capture time is more
//! than [`STALE_PERIODS`] frame periods old; then the next fresh one is taken.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use v4l::buffer::Type;
use v4l::io::mmap::Stream as MmapStream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::video::capture::Parameters;
use v4l::{Device, Format, FourCC};

use super::{CameraError, Frame, FrameSource, PixelFormat, convert};

const YUYV: FourCC = FourCC { repr: *b"YUYV" };
const MJPG: FourCC = FourCC { repr: *b"MJPG" };
/// Buffers queued with the driver: one being filled, one being read, one spare.
const BUFFERS: u32 = 3;
/// A buffer captured more than this many frame periods ago is stale.
const STALE_PERIODS: u32 = 2;
/// Most stale buffers skipped for one frame (the rest of the ring, then one
/// refill), so a camera with odd timestamps cannot stall the loop.
const MAX_SKIPPED: u32 = BUFFERS + 1;
/// A device that delivers nothing for this long is treated as lost.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// An open V4L2 capture device.
pub struct V4l2Camera {
    path: PathBuf,
    want: (u32, u32),
    fps: u32,
    format: PixelFormat,
    stream: Option<Open>,
    started: Instant,
    seq: u64,
}

struct Open {
    stream: MmapStream<'static>,
    format: Format,
    // Kept last: the stream unmaps its buffers before the device closes.
    _device: Device,
}

impl V4l2Camera {
    /// Opens `path`, negotiates size, rate and pixel format, starts streaming.
    pub fn open(
        path: PathBuf,
        size: (u32, u32),
        fps: u32,
        format: PixelFormat,
    ) -> Result<Self, CameraError> {
        let mut cam = Self {
            path,
            want: size,
            fps,
            format,
            stream: None,
            started: Instant::now(),
            seq: 0,
        };
        cam.reopen()?;
        Ok(cam)
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn open_error(&self, msg: impl std::fmt::Display) -> CameraError {
        CameraError::Open {
            device: self.name(),
            msg: msg.to_string(),
        }
    }

    fn start(&self) -> Result<Open, CameraError> {
        let device = Device::with_path(&self.path).map_err(|e| self.open_error(e))?;
        let caps = device.query_caps().map_err(|e| self.open_error(e))?;
        let flags = caps.capabilities;
        if !flags.contains(v4l::capability::Flags::VIDEO_CAPTURE)
            || !flags.contains(v4l::capability::Flags::STREAMING)
        {
            return Err(self.open_error(format!(
                "{} ({}) is not a streaming capture device",
                caps.card, caps.driver
            )));
        }
        let fourcc = self.choose_fourcc(&device)?;
        let asked = Format::new(self.want.0, self.want.1, fourcc);
        let format = device.set_format(&asked).map_err(|e| self.open_error(e))?;
        if format.fourcc != YUYV && format.fourcc != MJPG {
            return Err(self.open_error(format!(
                "driver chose pixel format {}, which facegate does not read (YUYV, MJPG)",
                format.fourcc
            )));
        }
        // Not every driver supports frame-rate control; that is not fatal.
        let params = device.set_params(&Parameters::with_fps(self.fps));
        tracing::info!(
            device = %self.name(),
            card = %caps.card,
            format = %format.fourcc,
            width = format.width,
            height = format.height,
            stride = format.stride,
            rate = ?params.as_ref().map(|p| p.interval.to_string()).ok(),
            "camera streaming"
        );
        let mut stream = MmapStream::with_buffers(&device, Type::VideoCapture, BUFFERS)
            .map_err(|e| self.open_error(e))?;
        stream.set_timeout(READ_TIMEOUT);
        Ok(Open {
            stream,
            format,
            _device: device,
        })
    }

    fn choose_fourcc(&self, device: &Device) -> Result<FourCC, CameraError> {
        let offered: Vec<FourCC> = device
            .enum_formats()
            .map_err(|e| self.open_error(e))?
            .into_iter()
            .map(|d| d.fourcc)
            .collect();
        let has = |f: FourCC| offered.contains(&f);
        let yuyv_fits = || {
            device.enum_framesizes(YUYV).is_ok_and(|sizes| {
                sizes.into_iter().any(|s| {
                    s.size
                        .to_discrete()
                        .into_iter()
                        .any(|d| d.width >= self.want.0 && d.height >= self.want.1)
                })
            })
        };
        let chosen = match self.format {
            PixelFormat::Yuyv => YUYV,
            PixelFormat::Mjpeg => MJPG,
            PixelFormat::Auto if has(YUYV) && yuyv_fits() => YUYV,
            PixelFormat::Auto if has(MJPG) => MJPG,
            PixelFormat::Auto => YUYV,
        };
        if !has(chosen) {
            let list: Vec<String> = offered.iter().map(|f| f.to_string()).collect();
            return Err(self.open_error(format!(
                "camera does not offer {chosen} (offers {})",
                list.join(", ")
            )));
        }
        Ok(chosen)
    }
}

impl FrameSource for V4l2Camera {
    fn next_frame(&mut self) -> Result<Option<Frame>, CameraError> {
        let device = self.name();
        let open = self.stream.as_mut().ok_or_else(|| CameraError::Lost {
            device: device.clone(),
            msg: "not streaming".into(),
        })?;
        let format = open.format;
        let handle = open.stream.handle();
        let stale = Duration::from_secs(1) * STALE_PERIODS / self.fps.max(1);
        let mut skipped = 0;
        let (converted, age) = loop {
            let (buf, meta) = match open.stream.next() {
                Ok(next) => next,
                Err(e) => {
                    // Drop the stream: the caller reopens with backoff.
                    self.stream = None;
                    return Err(CameraError::Lost {
                        device,
                        msg: e.to_string(),
                    });
                }
            };
            let age = capture_age(meta);
            // A newer buffer is already waiting, or this one waited too long.
            let newer = handle.poll(libc::POLLIN, 0).is_ok_and(|n| n > 0);
            if (newer || age.is_some_and(|a| a > stale)) && skipped < MAX_SKIPPED {
                skipped += 1;
                continue;
            }
            let used = (meta.bytesused as usize).min(buf.len());
            let image = if format.fourcc == YUYV {
                convert::yuyv_to_rgb(&buf[..used], format.width, format.height, format.stride)
                    .ok_or_else(|| format!("short YUYV frame ({used} bytes)"))
            } else {
                convert::mjpeg_to_rgb(&buf[..used])
            };
            break (image, age);
        };
        tracing::debug!(
            skipped,
            age_ms = age.map(|a| a.as_secs_f64() * 1e3),
            "camera frame"
        );
        let image = converted.map_err(|msg| CameraError::BadFrame {
            device: device.clone(),
            msg,
        })?;
        self.seq += 1;
        Ok(Some(Frame {
            image,
            seq: self.seq,
            time: self.started.elapsed(),
        }))
    }

    fn reopen(&mut self) -> Result<(), CameraError> {
        self.stream = None;
        self.stream = Some(self.start()?);
        Ok(())
    }

    fn describe(&self) -> String {
        match &self.stream {
            Some(o) => format!(
                "{} {}x{} {}",
                self.name(),
                o.format.width,
                o.format.height,
                o.format.fourcc
            ),
            None => format!("{} (closed)", self.name()),
        }
    }
}

/// How long ago the driver captured a buffer, when it stamps buffers with the
/// monotonic clock (UVC and vivid do).
fn capture_age(meta: &v4l::buffer::Metadata) -> Option<Duration> {
    if !meta.flags.contains(v4l::buffer::Flags::TIMESTAMP_MONOTONIC) {
        return None;
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
        return None;
    }
    let now_us = i128::from(now.tv_sec) * 1_000_000 + i128::from(now.tv_nsec) / 1000;
    let at_us = i128::from(meta.timestamp.sec) * 1_000_000 + i128::from(meta.timestamp.usec);
    u64::try_from(now_us - at_us)
        .ok()
        .map(Duration::from_micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_is_a_clear_error() {
        let err = V4l2Camera::open(
            "/dev/video-does-not-exist".into(),
            (640, 480),
            15,
            PixelFormat::Auto,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.starts_with("camera /dev/video-does-not-exist: cannot open:"),
            "{err}"
        );
    }

    #[test]
    fn a_regular_file_is_not_a_camera() {
        let err = V4l2Camera::open("/dev/null".into(), (640, 480), 15, PixelFormat::Auto)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("camera /dev/null: cannot open:"), "{err}");
    }
}
