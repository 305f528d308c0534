//! `facegate-hil`: the helpers the VM test (`scripts/test-hil.sh`) runs next
//! to the terminal inside the guest, all talking to the kernel directly:
//!
//! ```text
//! facegate-hil timings DEVICE...         set 640x480p59.94 DV timings (vivid's HDMI nodes)
//! facegate-hil feed OUTPUT CONTROL [FPS] stream frames into a V4L2 output node
//! facegate-hil sample LOG FILE...        log every change of sysfs value files
//! facegate-hil fbpeek FB                 the colours on a 32-bit framebuffer
//! ```
//!
//! `feed` writes 640×480 YUYV frames with `write()` at FPS (default 10): the
//! picture named in the CONTROL file (a JPEG/PNG path, letterboxed), or a grey
//! frame for `blank`. The file is read again before every frame, so the test
//! changes the scene by rewriting it; the node is reopened (and its timings
//! set again) when it goes away, as it does when vivid is unbound.
//!
//! `sample` reads each FILE every millisecond and appends
//! `MILLISECONDS FILE VALUE` to LOG on every change, the time on the
//! `CLOCK_BOOTTIME` clock that `/proc/uptime` shows.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use facegate::camera::replay::letterbox;
use image::RgbImage;
use v4l::video::Output;
use v4l::{Device, Format, FourCC};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("timings") if args.len() > 1 => {
            for dev in &args[1..] {
                set_timings(Path::new(dev))?;
            }
            Ok(())
        }
        Some("feed") if args.len() == 3 || args.len() == 4 => {
            let fps: u32 = match args.get(3) {
                Some(f) => f.parse().context("FPS")?,
                None => 10,
            };
            feed(Path::new(&args[1]), Path::new(&args[2]), fps.max(1))
        }
        Some("sample") if args.len() > 2 => sample(Path::new(&args[1]), &args[2..]),
        Some("fbpeek") if args.len() == 2 => fbpeek(Path::new(&args[1])),
        _ => bail!(
            "usage: facegate-hil timings DEVICE... | feed OUTPUT CONTROL [FPS] | sample LOG FILE... | fbpeek FB"
        ),
    }
}

/// `_IOWR('V', nr, size)` on Linux (asm-generic layout: x86_64 and arm64).
const fn iowr(nr: u64, size: usize) -> u64 {
    (3 << 30) | ((size as u64) << 16) | ((b'V' as u64) << 8) | nr
}

/// Sets CEA-861 640×480p59.94 on a V4L2 node with DV timings (an HDMI input
/// or output), as `v4l2-ctl --set-dv-bt-timings index=…` would.
fn set_timings(dev: &Path) -> Result<()> {
    use v4l::v4l_sys::{
        V4L2_DV_BT_656_1120, V4L2_DV_BT_STD_CEA861, V4L2_DV_BT_STD_DMT, V4L2_DV_FL_HAS_CEA861_VIC,
        v4l2_bt_timings, v4l2_dv_timings, v4l2_fract,
    };
    const VIDIOC_S_DV_TIMINGS: u64 = iowr(87, std::mem::size_of::<v4l2_dv_timings>());
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)
        .with_context(|| format!("opening {}", dev.display()))?;
    // SAFETY: plain C structs of integers; all-zero is a valid value.
    let mut t: v4l2_dv_timings = unsafe { std::mem::zeroed() };
    t.type_ = V4L2_DV_BT_656_1120;
    t.__bindgen_anon_1.bt = v4l2_bt_timings {
        width: WIDTH,
        height: HEIGHT,
        pixelclock: 25_175_000,
        hfrontporch: 16,
        hsync: 96,
        hbackporch: 48,
        vfrontporch: 10,
        vsync: 2,
        vbackporch: 33,
        standards: V4L2_DV_BT_STD_DMT | V4L2_DV_BT_STD_CEA861,
        flags: V4L2_DV_FL_HAS_CEA861_VIC,
        picture_aspect: v4l2_fract {
            numerator: 0,
            denominator: 0,
        },
        cea861_vic: 1,
        // SAFETY: as above.
        ..unsafe { std::mem::zeroed() }
    };
    // SAFETY: the request matches the struct passed, which outlives the call.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), VIDIOC_S_DV_TIMINGS as _, &mut t) };
    if r != 0 {
        bail!(
            "VIDIOC_S_DV_TIMINGS on {}: {}",
            dev.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// RGB to packed YUYV (BT.601, limited range), two pixels per four bytes.
fn rgb_to_yuyv(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::with_capacity((img.width() * img.height() * 2) as usize);
    let yuv = |p: &image::Rgb<u8>| {
        let [r, g, b] = p.0.map(f32::from);
        let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
        let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
        let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
        (y, u, v)
    };
    for row in img.rows() {
        let px: Vec<_> = row.collect();
        for pair in px.chunks(2) {
            let (y0, u0, v0) = yuv(pair[0]);
            let (y1, u1, v1) = pair.get(1).map_or((y0, u0, v0), |p| yuv(p));
            let c = |x: f32| x.round().clamp(0.0, 255.0) as u8;
            out.extend([c(y0), c((u0 + u1) / 2.0), c(y1), c((v0 + v1) / 2.0)]);
        }
    }
    out
}

fn frame_for(what: &str) -> Result<Vec<u8>> {
    let img = if what == "blank" || what.is_empty() {
        RgbImage::from_pixel(WIDTH, HEIGHT, image::Rgb([128, 128, 128]))
    } else {
        let img = image::open(what)
            .with_context(|| format!("reading {what}"))?
            .to_rgb8();
        letterbox(&img, (WIDTH, HEIGHT))
    };
    Ok(rgb_to_yuyv(&img))
}

fn open_output(dev: &Path) -> Result<File> {
    set_timings(dev)?;
    let device = Device::with_path(dev).with_context(|| format!("opening {}", dev.display()))?;
    let want = Format::new(WIDTH, HEIGHT, FourCC::new(b"YUYV"));
    let got = Output::set_format(&device, &want).context("setting the output format")?;
    if got.width != WIDTH || got.height != HEIGHT || got.fourcc != want.fourcc {
        bail!("output format is {got}, not 640x480 YUYV");
    }
    drop(device);
    OpenOptions::new()
        .write(true)
        .open(dev)
        .with_context(|| format!("opening {}", dev.display()))
}

/// Streams frames into `dev` until killed, following the CONTROL file.
fn feed(dev: &Path, control: &Path, fps: u32) -> Result<()> {
    let period = Duration::from_secs(1) / fps;
    let mut cache: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out: Option<File> = None;
    let mut shown = String::new();
    let mut next = Instant::now();
    loop {
        let what = std::fs::read_to_string(control)
            .unwrap_or_default()
            .trim()
            .to_string();
        if !cache.contains_key(&what) {
            match frame_for(&what) {
                Ok(f) => {
                    cache.insert(what.clone(), f);
                }
                Err(e) => eprintln!("feed: {e:#}"),
            }
        }
        if what != shown {
            println!("{} feed {what}", now_ms());
            shown = what.clone();
        }
        let Some(frame) = cache.get(&what) else {
            std::thread::sleep(period);
            continue;
        };
        if out.is_none() {
            match open_output(dev) {
                Ok(f) => {
                    println!("{} feed streaming to {}", now_ms(), dev.display());
                    out = Some(f);
                }
                Err(e) => {
                    eprintln!("feed: {e:#}");
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            }
        }
        if let Some(f) = &mut out
            && let Err(e) = f.write_all(frame)
        {
            eprintln!("{} feed: write: {e}; reopening", now_ms());
            out = None;
        }
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

/// Milliseconds on `CLOCK_BOOTTIME`.
fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Logs every change of the value files until killed.
fn sample(log: &Path, files: &[String]) -> Result<()> {
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let mut open: Vec<(PathBuf, File, Option<String>)> = files
        .iter()
        .map(|f| {
            let file = File::open(f).with_context(|| format!("opening {f}"))?;
            Ok((PathBuf::from(f), file, None))
        })
        .collect::<Result<_>>()?;
    let mut buf = [0u8; 64];
    loop {
        for (path, file, last) in &mut open {
            let n = file.read_at(&mut buf, 0).unwrap_or(0);
            let value = String::from_utf8_lossy(&buf[..n]).trim().to_string();
            if last.as_deref() != Some(value.as_str()) {
                writeln!(out, "{} {} {value}", now_ms(), path.display())?;
                out.flush()?;
                *last = Some(value);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Prints `RRGGBB SHARE` for each colour covering at least 1% of a 32 bits per
/// pixel framebuffer (`/dev/fbN`, geometry from sysfs), most common first, one
/// per line, as read back from the kernel.
fn fbpeek(dev: &Path) -> Result<()> {
    let node = dev
        .file_name()
        .and_then(|n| n.to_str())
        .context("framebuffer name")?;
    let sysfs = PathBuf::from("/sys/class/graphics").join(node);
    let read = |name: &str| -> Result<String> {
        Ok(std::fs::read_to_string(sysfs.join(name))
            .with_context(|| format!("reading {name}"))?
            .trim()
            .to_string())
    };
    let bpp: usize = read("bits_per_pixel")?.parse()?;
    let stride: usize = read("stride")?.parse()?;
    let size = read("virtual_size")?;
    let (w, h) = size.split_once(',').context("virtual_size")?;
    let (w, h): (usize, usize) = (w.parse()?, h.parse()?);
    if bpp != 32 {
        bail!("{bpp} bits per pixel; fbpeek reads 32");
    }
    let data = std::fs::read(dev).with_context(|| format!("reading {}", dev.display()))?;
    let mut counts: HashMap<[u8; 3], usize> = HashMap::new();
    for row in data.chunks(stride).take(h) {
        for px in row.chunks_exact(4).take(w) {
            *counts.entry([px[2], px[1], px[0]]).or_default() += 1;
        }
    }
    let total = (w * h).max(1) as f64;
    let mut colours: Vec<([u8; 3], usize)> = counts.into_iter().collect();
    colours.sort_by_key(|c| std::cmp::Reverse(c.1));
    for (rgb, n) in colours {
        let share = n as f64 / total;
        if share >= 0.01 {
            println!("{:02x}{:02x}{:02x} {share:.3}", rgb[0], rgb[1], rgb[2]);
        }
    }
    Ok(())
}
