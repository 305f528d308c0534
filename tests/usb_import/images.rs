//! Stick images made without mounting (mkfs.vfat + mtools, mkfs.exfat,
//! `mke2fs -d` with symlinks): board/usb-import.sh's type check must refuse
//! ext4 and accept vfat/exfat; where loop devices work (root), the whole
//! script runs against them with a temporary inbox and an unprivileged user.

use super::*;

/// A tool from util-linux, dosfstools, mtools, e2fsprogs or exfatprogs.
fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn sh(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("board/usb-import.sh")
}

/// A vfat image holding `files` (path on the stick, content); None without tools.
fn vfat_image(f: &Fixture, files: &[(&str, &[u8])]) -> Option<PathBuf> {
    let (Some(mkfs), Some(mmd), Some(mcopy)) = (tool("mkfs.vfat"), tool("mmd"), tool("mcopy"))
    else {
        eprintln!("SKIP vfat image: install dosfstools and mtools (scripts/setup.sh does)");
        return None;
    };
    let img = f.path("vfat.img");
    assert!(sh(Command::new(mkfs).arg("-C").arg(&img).arg("8192")));
    assert!(sh(Command::new(mmd).arg("-i").arg(&img).arg("::facegate")));
    for (name, bytes) in files {
        let src = f.path("image-file");
        std::fs::write(&src, bytes).unwrap();
        assert!(sh(Command::new(&mcopy)
            .arg("-i")
            .arg(&img)
            .arg(&src)
            .arg(format!("::{name}"))));
    }
    Some(img)
}

/// An ext4 image (no mount: `mke2fs -d`) whose facegate/gallery.fgal is a
/// symlink into /etc.
fn ext4_image(f: &Fixture) -> Option<PathBuf> {
    let Some(mke2fs) = tool("mke2fs") else {
        eprintln!("SKIP ext4 image: install e2fsprogs");
        return None;
    };
    let tree = f.path("ext4-tree");
    std::fs::create_dir_all(tree.join("facegate")).unwrap();
    symlink("/etc/shadow", tree.join("facegate/gallery.fgal")).unwrap();
    let img = f.path("ext4.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    assert!(sh(Command::new(mke2fs)
        .args(["-q", "-t", "ext4", "-d"])
        .arg(&tree)
        .arg(&img)));
    Some(img)
}

fn probe(dev: &Path) -> (bool, String) {
    let out = Command::new(script())
        .arg("--probe")
        .arg(dev)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

#[test]
fn the_type_check_accepts_only_vfat_and_exfat() {
    let f = Fixture::new("probe");
    if tool("blkid").is_none() {
        eprintln!("SKIP: blkid (util-linux) missing");
        return;
    }
    if let Some(img) = ext4_image(&f) {
        assert_eq!(probe(&img), (false, "ext4".into()));
    }
    if let Some(img) = vfat_image(&f, &[("facegate/gallery.fgal", b"FGAL")]) {
        assert_eq!(probe(&img), (true, "vfat".into()));
    }
    match tool("mkfs.exfat") {
        Some(mkfs) => {
            let img = f.path("exfat.img");
            std::fs::File::create(&img)
                .unwrap()
                .set_len(8 << 20)
                .unwrap();
            assert!(sh(Command::new(mkfs).arg(&img)));
            assert_eq!(probe(&img), (true, "exfat".into()));
        }
        None => eprintln!("SKIP exfat image: install exfatprogs"),
    }
    let blank = f.path("blank.img");
    std::fs::write(&blank, vec![0u8; 1 << 20]).unwrap();
    assert_eq!(probe(&blank), (false, "none".into()));
}

/// A loop device for an image, detached on drop.
struct Loop(PathBuf);

impl Loop {
    fn attach(img: &Path) -> Option<Self> {
        let out = Command::new(tool("losetup")?)
            .args(["-f", "--show"])
            .arg(img)
            .output()
            .ok()?;
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !dev.is_empty()).then(|| Loop(dev.into()))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        if let Some(losetup) = tool("losetup") {
            let _ = Command::new(losetup).arg("-d").arg(&self.0).status();
        }
    }
}

/// Runs board/usb-import.sh on `dev` with the fixture as the terminal, the
/// copying done as `nobody` (the facegate user on a terminal).
fn run_script(f: &Fixture, dev: &Path) -> Output {
    // `nobody` must reach the binary: /root (CI's target dir) is 0700.
    let bin = f.path("facegate");
    if !bin.exists() && std::fs::hard_link(env!("CARGO_BIN_EXE_facegate"), &bin).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_facegate"), &bin).unwrap();
    }
    std::fs::create_dir_all(f.path("run")).unwrap();
    chown_nobody(&f.path("state"));
    let mut cmd = Command::new(script());
    cmd.arg(dev)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("FACEGATE_USER", "nobody")
        .env("FACEGATE_BIN", &bin)
        .env("FACEGATE_CONFIG", f.path("facegate.toml"))
        .env("FACEGATE_RUN", f.path("run"));
    run_bounded(cmd, Duration::from_secs(60))
}

fn chown_nobody(dir: &Path) {
    let ok = Command::new("chown")
        .args(["-R", "nobody:"])
        .arg(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown nobody failed");
}

fn mounted(dev: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .any(|l| l.split(' ').next() == Some(&*dev.to_string_lossy()))
}

/// Whether the running kernel mounts `fs` (a container's kernel may lack vfat).
fn kernel_has(fs: &str) -> bool {
    if let Some(modprobe) = tool("modprobe") {
        let _ = sh(Command::new(modprobe).args(["-q", fs]));
    }
    std::fs::read_to_string("/proc/filesystems")
        .is_ok_and(|t| t.lines().any(|l| l.split_whitespace().last() == Some(fs)))
}

#[test]
fn the_script_refuses_ext4_and_imports_from_a_vfat_stick() {
    if !is_root() {
        eprintln!("SKIP: the full script needs root (loop devices, mount)");
        return;
    }
    let f = Fixture::new("script");
    // ext4 (a symlink to /etc/shadow inside): never mounted, nothing copied.
    let Some(img) = ext4_image(&f) else { return };
    let Some(dev) = Loop::attach(&img) else {
        eprintln!("SKIP: no loop device here (losetup failed); a VM test covers the script");
        return;
    };
    run_script(&f, &dev.0); // links the binary, chowns the state: not part of the check
    let before = snapshot(&f.dir);
    let out = run_script(&f, &dev.0);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("refused: filesystem 'ext4'"), "{log}");
    assert!(!mounted(&dev.0));
    assert_eq!(snapshot(&f.dir), before);
    drop(dev);

    if !kernel_has("vfat") {
        eprintln!(
            "SKIP vfat stick through the whole script: this kernel has no vfat driver \
             (loop mounting itself works); a VM test covers it"
        );
        return;
    }
    let request = facegate::export_request::make(
        &admin(),
        SITE,
        Duration::from_secs(3600),
        std::time::SystemTime::now(),
    )
    .unwrap();
    let files: [(&str, &[u8]); 2] = [
        ("facegate/gallery.fgal", b"FGAL from a vfat stick"),
        ("facegate/export-request", request.as_bytes()),
    ];
    let Some(img) = vfat_image(&f, &files) else {
        return;
    };
    let Some(dev) = Loop::attach(&img) else {
        return;
    };
    let out = run_script(&f, &dev.0);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let inbox = f.inbox();
    assert_eq!(inbox.len(), 1, "{log}");
    assert_eq!(std::fs::read(&inbox[0]).unwrap(), b"FGAL from a vfat stick");
    assert!(log.contains("events written to the stick"), "{log}");
    assert!(!mounted(&dev.0), "left mounted");
    let left = std::fs::read_dir(f.path("run")).unwrap().count();
    assert_eq!(left, 0, "mount point left");
    drop(dev);
    // The event log is on the image (read with mtools, not mounted).
    let listing = Command::new(tool("mdir").unwrap())
        .args(["-b", "-i"])
        .arg(&img)
        .arg("::facegate")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).to_lowercase();
    assert!(listing.contains("-demo_lobby.csv"), "{listing}");
}
