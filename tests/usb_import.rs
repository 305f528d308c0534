//! A hostile USB stick can do nothing but offer a file: `facegate usb-import`
//! and `facegate usb-export` run against directory trees standing in for the
//! mounted stick (symlinks, device nodes, FIFOs, a 2 GB sparse file, forged
//! export requests, non-UTF-8 names, a symlink planted in the inbox), and
//! every refusal is checked from outside: the whole fixture, inbox and
//! canary files included, is listed before and after.
//!
//! Filesystem images (made without mounting) and the whole script: `images`.
//! Tests needing root (mknod) say so and skip when not root.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use facegate::events::{Event, EventKind, EventLog, Rotation};
use facegate::gallery::keys::hex;

#[path = "usb_import/images.rs"]
mod images;

const SITE: &str = "Demo lobby";
const MAX: u64 = 65536;

/// A terminal's state, config and keys, a stick, and a canary outside both.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("facegate-usb-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["state/inbox", "keys", "stick/facegate", "outside"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let config = format!(
            "[terminal]\nsite = \"{SITE}\"\ngallery = \"state/gallery.fgal\"\nkeys = \"keys\"\n\
             [camera.v4l2]\ndevice = \"/dev/video0\"\n[door.gpio]\nrelay = \"GPIO17\"\n\
             [events]\npath = \"state/events.log\"\n\
             [update]\ninbox = \"state/inbox\"\nmax_bytes = {MAX}\n"
        );
        std::fs::write(dir.join("facegate.toml"), config).unwrap();
        std::fs::write(dir.join("outside/canary"), b"canary").unwrap();
        std::fs::write(
            dir.join("keys/admin.pub"),
            format!("{}\n", hex(admin().verifying_key().as_bytes())),
        )
        .unwrap();
        let mut log = EventLog::open(&dir.join("state/events.log"), Rotation::default()).unwrap();
        log.append(&Event {
            time_ms: 1_764_316_800_000,
            kind: EventKind::Granted,
            person_id: Some(1),
            name: Some("Ann Example".into()),
            score: Some(0.71),
            frames: 3,
            detail: None,
        })
        .unwrap();
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn inbox(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.path("state/inbox"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    /// Runs `facegate ARGS --from STICK --config … --partition PART`.
    fn run(&self, args: &[&str], stick: &Path, partition: &OsStr) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_facegate"));
        cmd.args(args)
            .arg("--from")
            .arg(stick)
            .arg("--config")
            .arg(self.path("facegate.toml"))
            .arg("--partition")
            .arg(partition);
        run_bounded(cmd, Duration::from_secs(60))
    }

    fn import(&self) -> Output {
        self.run(&["usb-import"], &self.path("stick"), OsStr::new("sdb1"))
    }

    fn export(&self) -> Output {
        self.run(&["usb-export"], &self.path("stick"), OsStr::new("sdb1"))
    }

    /// Asserts that `run` is refused with `reason` in its log and changes
    /// nothing anywhere in the fixture.
    fn refused(&self, what: &str, reason: &str, run: impl FnOnce() -> Output) {
        let before = snapshot(&self.dir);
        let out = run();
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: not refused: {log}");
        assert!(
            log.contains(reason),
            "{what}: expected {reason:?} in: {log}"
        );
        assert_eq!(snapshot(&self.dir), before, "{what}: something was written");
        assert_eq!(
            std::fs::read(self.path("outside/canary")).unwrap(),
            b"canary"
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn admin() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// Runs `cmd`, killing it after `limit` (a FIFO must not hang the import).
fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Every entry below `dir` (symlinks not followed): type, size, mode, content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let content = if m.file_type().is_file() && m.len() < 1 << 20 {
                std::fs::read(&path).unwrap()
            } else if m.file_type().is_symlink() {
                std::fs::read_link(&path)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec()
            } else {
                Vec::new()
            };
            if m.is_dir() {
                todo.push(path.clone());
            }
            out.insert(path, (m.mode(), m.len(), content));
        }
    }
    out
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn gallery_bytes(tag: &str) -> Vec<u8> {
    format!("FGAL offered gallery {tag}").into_bytes()
}

#[test]
fn a_plain_gallery_lands_in_the_inbox_under_a_unique_name() {
    let f = Fixture::new("plain");
    std::fs::write(f.path("stick/facegate/gallery.fgal"), gallery_bytes("a")).unwrap();
    let out = f.import();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inbox = f.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let name = inbox[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("usb-") && name.ends_with("-sdb1.fgal"),
        "{name}"
    );
    assert_eq!(std::fs::read(&inbox[0]).unwrap(), gallery_bytes("a"));
    // No stick, no gallery: nothing to do, not an error.
    std::fs::remove_file(f.path("stick/facegate/gallery.fgal")).unwrap();
    let out = f.import();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no gallery offered"));
    assert_eq!(f.inbox().len(), 1);
}

#[test]
fn symlinks_anywhere_on_the_stick_are_refused() {
    let f = Fixture::new("symlinks");
    std::fs::write(f.path("outside/gallery.fgal"), gallery_bytes("outside")).unwrap();
    // The facegate/ directory itself is a symlink to a directory elsewhere.
    std::fs::remove_dir(f.path("stick/facegate")).unwrap();
    symlink(f.path("outside"), f.path("stick/facegate")).unwrap();
    f.refused("symlinked facegate/", "facegate: is a symlink", || {
        f.import()
    });
    // gallery.fgal is a symlink into /etc.
    std::fs::remove_file(f.path("stick/facegate")).unwrap();
    std::fs::create_dir(f.path("stick/facegate")).unwrap();
    symlink("/etc/passwd", f.path("stick/facegate/gallery.fgal")).unwrap();
    f.refused(
        "gallery.fgal -> /etc/passwd",
        "gallery.fgal: is a symlink",
        || f.import(),
    );
    // A relative symlink climbing out of the stick.
    std::fs::remove_file(f.path("stick/facegate/gallery.fgal")).unwrap();
    symlink(
        "../../outside/gallery.fgal",
        f.path("stick/facegate/gallery.fgal"),
    )
    .unwrap();
    f.refused("gallery.fgal -> ../..", "is a symlink", || f.import());
    // The mount point given is itself a symlink.
    symlink(f.path("stick"), f.path("stick-link")).unwrap();
    let before = snapshot(&f.dir);
    let out = f.run(&["usb-import"], &f.path("stick-link"), OsStr::new("sdb1"));
    assert!(!out.status.success());
    assert_eq!(snapshot(&f.dir), before);
}

#[test]
fn fifos_directories_and_device_nodes_are_refused() {
    let f = Fixture::new("types");
    let g = f.path("stick/facegate/gallery.fgal");
    let ok = Command::new("mkfifo").arg(&g).status().unwrap().success();
    assert!(ok, "mkfifo failed");
    // No writer ever opens it: a blocking open would hang (run_bounded fails).
    f.refused("FIFO", "is a FIFO, refused", || f.import());
    std::fs::remove_file(&g).unwrap();
    std::fs::create_dir(&g).unwrap();
    f.refused("directory", "is a directory, refused", || f.import());
    std::fs::remove_dir(&g).unwrap();
    if !is_root() {
        eprintln!("SKIP device-node case: mknod needs root (CI runs as root)");
        return;
    }
    for (kind, major, minor, what) in [
        ("c", "1", "3", "a character device"),
        ("b", "7", "0", "a block device"),
    ] {
        let ok = Command::new("mknod")
            .arg(&g)
            .args([kind, major, minor])
            .status()
            .unwrap()
            .success();
        assert!(ok, "mknod failed");
        f.refused(what, &format!("is {what}, refused"), || f.import());
        std::fs::remove_file(&g).unwrap();
    }
}

#[test]
fn size_is_checked_against_max_bytes_before_reading() {
    let f = Fixture::new("size");
    let g = f.path("stick/facegate/gallery.fgal");
    // A 2 GB sparse file: refused from its size alone, at once.
    std::fs::File::create(&g).unwrap().set_len(2 << 30).unwrap();
    let start = Instant::now();
    f.refused(
        "2 GB sparse file",
        "over the limit of 65536 bytes, refused without reading",
        || f.import(),
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    std::fs::write(&g, vec![7u8; MAX as usize + 1]).unwrap();
    f.refused("max_bytes + 1", "over the limit", || f.import());
    std::fs::write(&g, b"").unwrap();
    f.refused("empty file", "empty, refused", || f.import());
    std::fs::write(&g, vec![7u8; MAX as usize]).unwrap();
    assert!(f.import().status.success());
    assert_eq!(std::fs::read(&f.inbox()[0]).unwrap().len() as u64, MAX);
}

#[test]
fn two_partitions_at_once_get_distinct_names() {
    let f = Fixture::new("two");
    let mut children = Vec::new();
    for (i, part) in ["sdb1", "sdb2", "sdb1"].iter().enumerate() {
        let stick = f.path(&format!("stick{i}"));
        std::fs::create_dir_all(stick.join("facegate")).unwrap();
        std::fs::write(
            stick.join("facegate/gallery.fgal"),
            gallery_bytes(&i.to_string()),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_facegate"))
            .args(["usb-import", "--partition", part, "--from"])
            .arg(&stick)
            .arg("--config")
            .arg(f.path("facegate.toml"))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push(child);
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let inbox = f.inbox();
    assert_eq!(inbox.len(), 3, "{inbox:?}");
    let mut contents: Vec<Vec<u8>> = inbox.iter().map(|p| std::fs::read(p).unwrap()).collect();
    contents.sort();
    assert_eq!(contents, ["0", "1", "2"].map(gallery_bytes));
}

#[test]
fn non_utf8_names_do_not_panic() {
    let f = Fixture::new("utf8");
    let stick = f.path("stick");
    let odd = |b: &[u8]| stick.join("facegate").join(OsStr::from_bytes(b));
    std::fs::write(odd(b"\xff\xfe.fgal"), b"junk").unwrap();
    std::fs::create_dir(odd(b"\xc3\x28")).unwrap();
    std::fs::write(stick.join("facegate/gallery.fgal"), gallery_bytes("u")).unwrap();
    // A mount point and a partition name that are not UTF-8 either.
    let odd_mount = f.dir.join(OsStr::from_bytes(b"mnt-\xff"));
    std::fs::rename(&stick, &odd_mount).unwrap();
    let out = f.run(
        &["usb-import"],
        &odd_mount,
        OsStr::from_bytes(b"sd\xffb1/../x"),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    let inbox = f.inbox();
    assert_eq!(inbox.len(), 1);
    let name = inbox[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.ends_with("-sd_b1____x.fgal"), "{name}");
}

#[test]
fn a_symlink_planted_in_the_inbox_is_not_followed() {
    let f = Fixture::new("inbox");
    std::fs::write(f.path("stick/facegate/gallery.fgal"), gallery_bytes("p")).unwrap();
    // The daemon user plants symlinks in the inbox pointing at the canary.
    for name in ["usb-x.fgal", ".usb-x.fgal.part", "gallery.fgal"] {
        symlink(f.path("outside/canary"), f.path("state/inbox").join(name)).unwrap();
    }
    assert!(f.import().status.success());
    assert_eq!(std::fs::read(f.path("outside/canary")).unwrap(), b"canary");
    let files: Vec<_> = f.inbox().into_iter().filter(|p| !p.is_symlink()).collect();
    assert_eq!(files.len(), 1);
    // The exact temp and final names the import would pick: created with
    // O_EXCL|O_NOFOLLOW, so a planted entry is an error, never a write.
    let dir = facegate::usb_import::open_dir(&f.path("state/inbox")).unwrap();
    // (usb-x.fgal: its temp name is planted; gallery.fgal: its final name.)
    for name in ["usb-x.fgal", "gallery.fgal"] {
        assert!(facegate::usb_import::write_new(&dir, name, b"evil", 0o640).is_err());
    }
    assert_eq!(std::fs::read(f.path("outside/canary")).unwrap(), b"canary");
    // The whole inbox replaced by a symlink to a directory elsewhere.
    std::fs::rename(f.path("state/inbox"), f.path("state/inbox.old")).unwrap();
    symlink(f.path("outside"), f.path("state/inbox")).unwrap();
    let before = snapshot(&f.dir);
    let out = f.import();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("inbox: is a symlink"), "{log}");
    assert_eq!(snapshot(&f.dir), before);
}

/// Writes a request made by `facegate export-request` with `key` onto the stick.
fn request(f: &Fixture, key: &SigningKey, site: &str, valid: &str) -> String {
    let key_file = f.path("admin.key");
    std::fs::write(&key_file, format!("{}\n", hex(&key.to_bytes()))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_facegate"))
        .args(["export-request", "--site", site, "--valid", valid, "--sign"])
        .arg(&key_file)
        .arg("--out")
        .arg(f.path("stick/facegate/export-request"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&key_file).unwrap();
    std::fs::read_to_string(f.path("stick/facegate/export-request")).unwrap()
}

fn exports(f: &Fixture) -> Vec<PathBuf> {
    std::fs::read_dir(f.path("stick/facegate"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect()
}

#[test]
fn only_a_valid_signed_request_gets_the_event_log() {
    let f = Fixture::new("export");
    f.refused("no request", "no export request on the stick", || {
        f.export()
    });
    let good = request(&f, &admin(), SITE, "24h");
    let set = |text: &str| std::fs::write(f.path("stick/facegate/export-request"), text).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unsigned",
            good.lines().take(6).map(|l| format!("{l}\n")).collect(),
            "malformed",
        ),
        (
            "bit-flipped signature",
            flip_last_hex(&good),
            "signature invalid",
        ),
        (
            "altered site",
            good.replace(SITE, "Demo lobbx"),
            "signature invalid",
        ),
        (
            "forged by an unknown key",
            request(&f, &SigningKey::from_bytes(&[7; 32]), SITE, "24h"),
            "untrusted key",
        ),
        (
            "wrong site",
            request(&f, &admin(), "Back door", "24h"),
            "is for site \"Back door\"",
        ),
        ("not text", "\u{0}\u{ff}".repeat(10), "malformed"),
    ];
    for (what, text, reason) in cases {
        set(&text);
        f.refused(what, reason, || f.export());
    }
    // Expired: signed by the admin key, but its expiry is in the past.
    let now = std::time::SystemTime::now();
    let old = facegate::export_request::make(
        &admin(),
        SITE,
        Duration::from_secs(3600),
        now - Duration::from_secs(7200),
    )
    .unwrap();
    set(&old);
    f.refused("expired", "expired at", || f.export());
    // A symlink to a valid request elsewhere.
    std::fs::write(f.path("outside/export-request"), &good).unwrap();
    std::fs::remove_file(f.path("stick/facegate/export-request")).unwrap();
    symlink(
        f.path("outside/export-request"),
        f.path("stick/facegate/export-request"),
    )
    .unwrap();
    f.refused("symlinked request", "is a symlink", || f.export());
    std::fs::remove_file(f.path("stick/facegate/export-request")).unwrap();

    set(&good);
    let check = f.run(
        &["usb-export", "--check"],
        &f.path("stick"),
        OsStr::new("sdb1"),
    );
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(exports(&f).is_empty(), "--check wrote something");
    let out = f.export();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = exports(&f);
    assert_eq!(written.len(), 1);
    let csv = std::fs::read_to_string(&written[0]).unwrap();
    assert!(
        csv.starts_with("time,kind,") && csv.contains("Ann Example"),
        "{csv}"
    );
    // The same request again: replay, refused.
    f.refused("replayed request", "already used on this terminal", || {
        f.export()
    });
}

fn flip_last_hex(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let i = bytes.len() - 2; // the last signature digit, before the newline
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}
