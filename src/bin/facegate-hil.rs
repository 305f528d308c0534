//! `facegate-hil`: the helpers the VM test (`scripts/test-hil.sh`) runs next
//! to the terminal inside the guest, all talking to the kernel directly:
//!
//! ```text
//! facegate-hil timings DEVICE...         640x480p59.94 DV timings, loop video on (vivid's capture)
//! facegate-hil feed OUTPUT CONTROL [FPS] stream frames into a V4L2 output node
//! facegate-hil sample LOG FILE...        log every change of sysfs value files
//! facegate-hil fbpeek FB                 the colours on a 32-bit framebuffer
//! facegate-hil uapi GPIOCHIP             which GPIO uAPI versions the kernel answers
//! ```
//!
//! `feed` streams 640×480 YUYV frames (MMAP buffers, at the driver's frame
//! rate): the picture named in the CONTROL file (a JPEG/PNG path,
//! letterboxed), or a grey frame for `blank`. The file is read again FPS
//! (default 10) times a second, so the test changes the scene by rewriting
//! it; the node is reopened (and its timings set again) when it goes away, as
//! it does when vivid is unbound.
//!
//! `sample` reads each FILE every millisecond and appends
//! `MILLISECONDS FILE VALUE` to LOG on every change, the time on the
//! `CLOCK_BOOTTIME` clock that `/proc/uptime` shows.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use facegate::camera::replay::letterbox;
use image::RgbImage;
use v4l::buffer::Type;
use v4l::memory::Memory;
use v4l::v4l2::vidioc;
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
                loop_video(Path::new(dev))?;
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
        Some("uapi") if args.len() == 2 => uapi(Path::new(&args[1])),
        _ => bail!(
            "usage: facegate-hil timings DEVICE... | feed OUTPUT CONTROL [FPS] | sample LOG FILE... | fbpeek FB | uapi GPIOCHIP"
        ),
    }
}

/// `_IOWR(kind, nr, size)` on Linux (asm-generic layout: x86_64 and arm64).
const fn iowr(kind: u8, nr: u64, size: usize) -> u64 {
    (3 << 30) | ((size as u64) << 16) | ((kind as u64) << 8) | nr
}

/// Sets CEA-861 640×480p59.94 on a V4L2 node with DV timings (an HDMI input
/// or output), as `v4l2-ctl --set-dv-bt-timings index=…` would.
fn set_timings(dev: &Path) -> Result<()> {
    use v4l::v4l_sys::{
        V4L2_DV_BT_656_1120, V4L2_DV_BT_STD_CEA861, V4L2_DV_BT_STD_DMT, V4L2_DV_FL_HAS_CEA861_VIC,
        v4l2_bt_timings, v4l2_dv_timings, v4l2_fract,
    };
    const VIDIOC_S_DV_TIMINGS: u64 = iowr(b'V', 87, std::mem::size_of::<v4l2_dv_timings>());
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

/// Connects vivid's capture input to its output, found by the control's
/// name: the boolean "Loop Video" of kernels up to 6.x, or on newer ones
/// (7.x) the menu "HDMI 000-0 Is Connected To" set to the item naming the
/// HDMI output. Controls start off again each time vivid is bound.
fn loop_video(dev: &Path) -> Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)
        .with_context(|| format!("opening {}", dev.display()))?;
    let mut names = Vec::new();
    // SAFETY: a plain C struct; all zeroes is its "from the start" query.
    let mut q: v4l::v4l_sys::v4l2_queryctrl = unsafe { std::mem::zeroed() };
    loop {
        q.id |= v4l::v4l_sys::V4L2_CTRL_FLAG_NEXT_CTRL;
        if ioctl(&file, vidioc::VIDIOC_QUERYCTRL, &mut q).is_err() {
            break; // EINVAL after the last control
        }
        let name = c_name(&q.name);
        let value = if name == "Loop Video" {
            Some(1)
        } else if name.starts_with("HDMI") && name.ends_with("Is Connected To") {
            menu_item(&file, &q, |item| {
                item.contains("Output") || item.starts_with("HDMI")
            })
        } else {
            None
        };
        if let Some(value) = value {
            let mut c = v4l::v4l_sys::v4l2_control { id: q.id, value };
            ioctl(&file, vidioc::VIDIOC_S_CTRL, &mut c)
                .with_context(|| format!("VIDIOC_S_CTRL {name:?}={value} on {}", dev.display()))?;
            return Ok(());
        }
        names.push(name);
    }
    bail!(
        "{}: no control connects the capture to the output (controls: {})",
        dev.display(),
        names.join(", ")
    )
}

/// The index of the first item of menu control `q` whose name passes `pick`.
fn menu_item(
    file: &File,
    q: &v4l::v4l_sys::v4l2_queryctrl,
    pick: impl Fn(&str) -> bool,
) -> Option<i32> {
    (q.minimum..=q.maximum).find(|&index| {
        // SAFETY: a plain C struct, valid all zeroes.
        let mut m: v4l::v4l_sys::v4l2_querymenu = unsafe { std::mem::zeroed() };
        m.id = q.id;
        m.index = index as u32;
        // SAFETY: a menu control's items are named (`name` is the union's
        // member); copied out of the packed struct.
        ioctl(file, vidioc::VIDIOC_QUERYMENU, &mut m).is_ok()
            && pick(&c_name(&unsafe { m.__bindgen_anon_1.name }))
    })
}

fn c_name(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
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

/// A V4L2 output node streaming with MMAP buffers: every buffer stays queued
/// except while it is refilled, so the driver always has a frame to show.
/// (`write()` into vivid's output fails with EINVAL on 6.1: vb2's file I/O
/// emulation loses the payload size before vivid's `buf_prepare` checks it.)
struct OutputStream {
    file: File,
    bufs: Vec<(*mut u8, usize)>,
    /// The scene each buffer holds now.
    holds: Vec<String>,
}

impl OutputStream {
    const BUFFERS: u32 = 3;

    fn open(dev: &Path) -> Result<Self> {
        use v4l::v4l_sys::{v4l2_buffer, v4l2_requestbuffers};
        set_timings(dev)?;
        let device =
            Device::with_path(dev).with_context(|| format!("opening {}", dev.display()))?;
        let want = Format::new(WIDTH, HEIGHT, FourCC::new(b"YUYV"));
        let got = Output::set_format(&device, &want).context("setting the output format")?;
        if got.width != WIDTH || got.height != HEIGHT || got.fourcc != want.fourcc {
            bail!("output format is {got}, not 640x480 YUYV");
        }
        drop(device);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(dev)
            .with_context(|| format!("opening {}", dev.display()))?;
        // SAFETY: plain C structs of integers; all-zero is a valid value.
        let mut req: v4l2_requestbuffers = unsafe { std::mem::zeroed() };
        req.count = Self::BUFFERS;
        req.type_ = Type::VideoOutput as u32;
        req.memory = Memory::Mmap as u32;
        ioctl(&file, vidioc::VIDIOC_REQBUFS, &mut req).context("VIDIOC_REQBUFS")?;
        let mut out = OutputStream {
            file,
            bufs: Vec::new(),
            holds: Vec::new(),
        };
        for index in 0..req.count {
            let mut b: v4l2_buffer = out.desc(index);
            ioctl(&out.file, vidioc::VIDIOC_QUERYBUF, &mut b).context("VIDIOC_QUERYBUF")?;
            let len = b.length as usize;
            // SAFETY: maps the buffer the driver just described, shared and
            // writable; unmapped in Drop.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    out.file.as_raw_fd(),
                    b.m.offset as libc::off_t,
                )
            };
            if ptr == libc::MAP_FAILED {
                bail!("mmap: {}", std::io::Error::last_os_error());
            }
            out.bufs.push((ptr.cast(), len));
            out.holds.push(String::new());
        }
        Ok(out)
    }

    fn desc(&self, index: u32) -> v4l::v4l_sys::v4l2_buffer {
        // SAFETY: as above.
        let mut b: v4l::v4l_sys::v4l2_buffer = unsafe { std::mem::zeroed() };
        b.index = index;
        b.type_ = Type::VideoOutput as u32;
        b.memory = Memory::Mmap as u32;
        b
    }

    /// Fills buffer `index` with `frame` (unless it holds `what` already) and
    /// queues it.
    fn queue(&mut self, index: u32, what: &str, frame: &[u8]) -> Result<()> {
        let i = index as usize;
        let (ptr, len) = *self.bufs.get(i).context("buffer index")?;
        if len < frame.len() {
            bail!("buffer of {len} bytes for a frame of {}", frame.len());
        }
        if self.holds[i] != what {
            // SAFETY: the mapping is `len` bytes long and not queued now.
            unsafe { std::ptr::copy_nonoverlapping(frame.as_ptr(), ptr, frame.len()) };
            self.holds[i] = what.to_string();
        }
        let mut b = self.desc(index);
        b.bytesused = frame.len() as u32;
        b.field = 1; // V4L2_FIELD_NONE: progressive
        ioctl(&self.file, vidioc::VIDIOC_QBUF, &mut b).context("VIDIOC_QBUF")
    }

    fn start(&mut self, what: &str, frame: &[u8]) -> Result<()> {
        for index in 0..self.bufs.len() as u32 {
            self.queue(index, what, frame)?;
        }
        let mut typ = Type::VideoOutput as u32;
        ioctl(&self.file, vidioc::VIDIOC_STREAMON, &mut typ).context("VIDIOC_STREAMON")
    }

    /// Waits (up to a second) for the driver to hand back a buffer.
    fn dequeue(&mut self) -> Result<u32> {
        let mut fds = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut fds, 1, 1000) };
        if n <= 0 || fds.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            bail!(
                "no buffer back from the driver (poll {n}, revents {:#x})",
                fds.revents
            );
        }
        let mut b = self.desc(0);
        ioctl(&self.file, vidioc::VIDIOC_DQBUF, &mut b).context("VIDIOC_DQBUF")?;
        Ok(b.index)
    }
}

impl Drop for OutputStream {
    fn drop(&mut self) {
        for &(ptr, len) in &self.bufs {
            // SAFETY: each was mapped by `open` with this length.
            unsafe { libc::munmap(ptr.cast(), len) };
        }
    }
}

fn ioctl<T>(file: &File, request: vidioc::_IOC_TYPE, arg: &mut T) -> std::io::Result<()> {
    // SAFETY: every caller passes the struct its request expects.
    unsafe { v4l::v4l2::ioctl(file.as_raw_fd(), request, (arg as *mut T).cast()) }
}

/// Streams frames into `dev` until killed, following the CONTROL file (read
/// again every 1/FPS s). The driver takes buffers at its own frame rate.
fn feed(dev: &Path, control: &Path, fps: u32) -> Result<()> {
    let period = Duration::from_secs(1) / fps;
    let mut cache: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out: Option<OutputStream> = None;
    let mut shown = String::new();
    let mut read_at = Instant::now();
    let mut what = String::new();
    loop {
        if read_at <= Instant::now() || out.is_none() {
            read_at = Instant::now() + period;
            what = std::fs::read_to_string(control)
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
        }
        let Some(frame) = cache.get(&what) else {
            std::thread::sleep(period);
            continue;
        };
        let step = match out.as_mut() {
            None => OutputStream::open(dev).and_then(|mut s| {
                s.start(&what, frame)?;
                println!("{} feed streaming to {}", now_ms(), dev.display());
                out = Some(s);
                Ok(())
            }),
            Some(s) => s.dequeue().and_then(|i| s.queue(i, &what, frame)),
        };
        if let Err(e) = step {
            eprintln!("{} feed: {e:#}; reopening", now_ms());
            out = None;
            std::thread::sleep(Duration::from_millis(500));
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

/// Asks the kernel for line 0's info through the v1 (`GPIO_GET_LINEINFO_IOCTL`)
/// and the v2 (`GPIO_V2_GET_LINEINFO_IOCTL`) uAPI and prints
/// `v1 yes|no (error) v2 yes|no (error)`: a kernel built without
/// `CONFIG_GPIO_CDEV_V1` refuses the first.
fn uapi(chip: &Path) -> Result<()> {
    let file = File::open(chip).with_context(|| format!("opening {}", chip.display()))?;
    // struct gpioline_info: 72 bytes; struct gpio_v2_line_info: 256 bytes;
    // both start zeroed (offset 0 is the first u32 of v1's, after the
    // names in v2's).
    let probe = |request: u64, size: usize| -> String {
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` is the size the request encodes and outlives the call.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), request as _, buf.as_mut_ptr()) };
        if r == 0 {
            "yes".into()
        } else {
            format!("no ({})", std::io::Error::last_os_error())
        }
    };
    let v1 = probe(iowr(0xb4, 0x02, 72), 72);
    let v2 = probe(iowr(0xb4, 0x05, 256), 256);
    println!("v1 {v1} v2 {v2}");
    Ok(())
}
