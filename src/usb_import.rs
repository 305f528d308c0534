//! USB stick import: the unprivileged half of `board/usb-import.sh`.
//!
//! The stick is hostile. Root mounts it (vfat/exfat only, read-only,
//! `nosuid,nodev,noexec,nosymfollow`) and runs `facegate usb-import` as the
//! `facegate` user, which may only take one file from it:
//!
//! * `facegate/gallery.fgal` is opened relative to the mount point one
//!   component at a time with `O_NOFOLLOW` (a symlink anywhere is refused),
//!   must be a regular file (checked before and after the open, on the same
//!   inode; FIFOs are opened non-blocking so they cannot hang the import),
//!   and its size is checked against `[update] max_bytes` before a byte is
//!   read; at most `max_bytes + 1` bytes are read.
//! * The copy goes into the inbox under a unique name (time, pid, random,
//!   partition) as a hidden temp file created with
//!   `O_CREAT|O_EXCL|O_NOFOLLOW`, fsynced, then renamed with
//!   `RENAME_NOREPLACE`: a symlink or file planted in the inbox is never
//!   followed or overwritten.
//!
//! The running terminal verifies and installs the file ([`crate::update`]);
//! nothing here trusts its content.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RenameFlags, Stat};
use rustix::io::Errno;

/// Where a stick offers a gallery, relative to its root.
pub const GALLERY: [&str; 2] = ["facegate", "gallery.fgal"];

/// Where a stick carries an export request, relative to its root.
pub const EXPORT_REQUEST: [&str; 2] = ["facegate", "export-request"];

/// Why nothing was taken from the stick (or written).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not on the stick.
    #[error("{path}: not on the stick")]
    Missing {
        /// The path on the stick.
        path: String,
    },
    /// A component is a symlink.
    #[error("{path}: is a symlink, refused (no symlink is followed)")]
    Symlink {
        /// The path on the stick.
        path: String,
    },
    /// A component has the wrong type (a FIFO, a device node, a directory …).
    #[error("{path}: is {found}, refused (expected {expected})")]
    WrongType {
        /// The path.
        path: String,
        /// What it is.
        found: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// The file changed between the check and the open.
    #[error("{path}: changed while being opened, refused")]
    Changed {
        /// The path.
        path: String,
    },
    /// Larger than the limit, refused without reading it.
    #[error("{path}: {size} bytes is over the limit of {limit} bytes, refused without reading it")]
    TooLarge {
        /// The path.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Empty file.
    #[error("{path}: empty, refused")]
    Empty {
        /// The path.
        path: String,
    },
    /// A system call failed.
    #[error("{path}: {cause}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        cause: std::io::Error,
    },
}

impl ImportError {
    /// A short stable name for logs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::Missing { .. } => "missing",
            ImportError::Symlink { .. } => "symlink",
            ImportError::WrongType { .. } => "wrong-type",
            ImportError::Changed { .. } => "changed",
            ImportError::TooLarge { .. } => "too-large",
            ImportError::Empty { .. } => "empty",
            ImportError::Io { .. } => "io",
        }
    }
}

fn io_err(path: &str, e: impl Into<std::io::Error>) -> ImportError {
    ImportError::Io {
        path: path.to_string(),
        cause: e.into(),
    }
}

fn kind(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn describe(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symlink",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "of unknown type",
    }
}

/// Opens a directory given by root (the mount point, the inbox), refusing a
/// symlink as its last component.
pub fn open_dir(path: &Path) -> Result<OwnedFd, ImportError> {
    let shown = path.display().to_string();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(CWD, path, flags, Mode::empty()).map_err(|e| match e {
        // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR.
        Errno::LOOP => ImportError::Symlink { path: shown },
        Errno::NOTDIR if path.is_symlink() => ImportError::Symlink { path: shown },
        Errno::NOTDIR => ImportError::WrongType {
            path: shown,
            found: "not a directory",
            expected: "a directory",
        },
        e => io_err(&shown, e),
    })
}

/// Opens `components` below `root` without following a symlink in any of
/// them; every component but the last must be a directory, the last must be
/// `want` (a regular file or a directory). Returns the fd and its status.
pub fn open_beneath(
    root: &OwnedFd,
    components: &[&str],
    want: FileType,
) -> Result<(OwnedFd, Stat), ImportError> {
    let mut dir: Option<OwnedFd> = None;
    for (i, name) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        let path = components[..=i].join("/");
        let parent = dir.as_ref().unwrap_or(root);
        let expected = if last { want } else { FileType::Directory };
        let before = match rustix::fs::statat(parent, *name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Err(ImportError::Missing { path }),
            Err(e) => return Err(io_err(&path, e)),
        };
        check_type(&path, &before, expected)?;
        let mut flags = OFlags::RDONLY
            | OFlags::NOFOLLOW
            | OFlags::CLOEXEC
            | OFlags::NOCTTY
            // A FIFO swapped in after the check must not block the open.
            | OFlags::NONBLOCK;
        if expected == FileType::Directory {
            flags |= OFlags::DIRECTORY;
        }
        let fd = rustix::fs::openat(parent, *name, flags, Mode::empty()).map_err(|e| match e {
            Errno::LOOP => ImportError::Symlink { path: path.clone() },
            Errno::NOENT => ImportError::Changed { path: path.clone() },
            e => io_err(&path, e),
        })?;
        let after = rustix::fs::fstat(&fd).map_err(|e| io_err(&path, e))?;
        check_type(&path, &after, expected)?;
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) {
            return Err(ImportError::Changed { path });
        }
        if last {
            return Ok((fd, after));
        }
        dir = Some(fd);
    }
    Err(io_err("", std::io::Error::other("empty path")))
}

fn check_type(path: &str, st: &Stat, expected: FileType) -> Result<(), ImportError> {
    let found = kind(st);
    if found == FileType::Symlink {
        return Err(ImportError::Symlink {
            path: path.to_string(),
        });
    }
    if found != expected {
        return Err(ImportError::WrongType {
            path: path.to_string(),
            found: describe(found),
            expected: describe(expected),
        });
    }
    Ok(())
}

/// Reads the regular file `components` below `root`: its size is checked
/// against `limit` before reading, and at most `limit + 1` bytes are read.
pub fn read_beneath(
    root: &OwnedFd,
    components: &[&str],
    limit: u64,
) -> Result<Vec<u8>, ImportError> {
    let path = components.join("/");
    let (fd, st) = open_beneath(root, components, FileType::RegularFile)?;
    let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
    if size > limit {
        return Err(ImportError::TooLarge { path, size, limit });
    }
    if size == 0 {
        return Err(ImportError::Empty { path });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    File::from(fd)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(&path, e))?;
    let read = bytes.len() as u64;
    if read > limit {
        return Err(ImportError::TooLarge {
            path,
            size: read,
            limit,
        });
    }
    if read == 0 {
        return Err(ImportError::Empty { path });
    }
    Ok(bytes)
}

/// `name` reduced to `[A-Za-z0-9_-]` (others become `_`), at most 32
/// characters: a partition or site name that is safe in a file name
/// whatever bytes it had (non-UTF-8 included).
pub fn safe_tag(name: &OsStr) -> String {
    let tag: String = name
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if tag.is_empty() { "usb".into() } else { tag }
}

/// A file name no other import picks: `{prefix}-{UTC time}-{pid}-{random}-{tag}{ext}`.
pub fn unique_name(prefix: &str, tag: &str, ext: &str) -> String {
    let now = std::time::SystemTime::now();
    let time: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let random = getrandom::u32().unwrap_or_else(|_| {
        now.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    });
    format!(
        "{prefix}-{time}-{}-{random:08x}-{tag}{ext}",
        std::process::id()
    )
}

/// Writes `bytes` as the new file `name` in `dir`: a hidden temp file
/// created with `O_CREAT|O_EXCL|O_NOFOLLOW`, fsynced, renamed with
/// `RENAME_NOREPLACE` (a link where the filesystem lacks it), the directory
/// fsynced. An existing name — file or planted symlink — is an error, never
/// followed or replaced. On error nothing is left behind.
pub fn write_new(dir: &OwnedFd, name: &str, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let temp = format!(".{name}.part");
    let flags = OFlags::WRONLY
        | OFlags::CREATE
        | OFlags::EXCL
        | OFlags::NOFOLLOW
        | OFlags::CLOEXEC
        | OFlags::NOCTTY;
    let fd = rustix::fs::openat(dir, temp.as_str(), flags, Mode::from_raw_mode(mode))?;
    let result = (|| -> std::io::Result<()> {
        let mut file = File::from(fd);
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        match rustix::fs::renameat_with(dir, temp.as_str(), dir, name, RenameFlags::NOREPLACE) {
            Ok(()) => {}
            Err(Errno::INVAL | Errno::NOSYS) => {
                rustix::fs::linkat(dir, temp.as_str(), dir, name, AtFlags::empty())?;
                rustix::fs::unlinkat(dir, temp.as_str(), AtFlags::empty())?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(rustix::fs::fsync(dir)?)
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, temp.as_str(), AtFlags::empty());
    }
    result
}

/// Copies the stick's `facegate/gallery.fgal` (mounted at `mount`) into
/// `inbox` under a unique name; `partition` tags the name. Returns the new
/// file's path.
pub fn import_gallery(
    mount: &Path,
    inbox: &Path,
    limit: u64,
    partition: &OsStr,
) -> Result<PathBuf, ImportError> {
    let root = open_dir(mount)?;
    let bytes = read_beneath(&root, &GALLERY, limit)?;
    // The state directory is the daemon user's; it makes the inbox if it is
    // missing (one level, no parents) and never follows a symlink to it.
    match std::fs::create_dir(inbox) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(io_err(&inbox.display().to_string(), e));
        }
        _ => {}
    }
    let dir = open_dir(inbox)?;
    let name = unique_name("usb", &safe_tag(partition), ".fgal");
    let path = inbox.join(&name);
    write_new(&dir, &name, &bytes, 0o640).map_err(|e| io_err(&path.display().to_string(), e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("facegate-usbi-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn tags_are_file_name_safe() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(safe_tag(OsStr::new("sdb1")), "sdb1");
        assert_eq!(safe_tag(OsStr::from_bytes(b"../\xffx")), "____x");
        assert_eq!(safe_tag(OsStr::new("")), "usb");
        let a = unique_name("usb", "sdb1", ".fgal");
        let b = unique_name("usb", "sdb1", ".fgal");
        assert_ne!(a, b);
        assert!(a.starts_with("usb-") && a.ends_with("-sdb1.fgal"), "{a}");
    }

    #[test]
    fn write_new_never_replaces_or_follows() {
        let d = tmp("write");
        let dir = open_dir(&d).unwrap();
        write_new(&dir, "a.fgal", b"one", 0o640).unwrap();
        assert!(write_new(&dir, "a.fgal", b"two", 0o640).is_err());
        assert_eq!(std::fs::read(d.join("a.fgal")).unwrap(), b"one");
        let canary = d.join("canary");
        std::fs::write(&canary, b"canary").unwrap();
        std::os::unix::fs::symlink(&canary, d.join(".b.fgal.part")).unwrap();
        assert!(write_new(&dir, "b.fgal", b"evil", 0o640).is_err());
        std::os::unix::fs::symlink(&canary, d.join("c.fgal")).unwrap();
        assert!(write_new(&dir, "c.fgal", b"evil", 0o640).is_err());
        assert_eq!(std::fs::read(&canary).unwrap(), b"canary");
        assert!(!d.join(".c.fgal.part").exists());
        let _ = std::fs::remove_dir_all(&d);
    }
}
