//! The anti-rollback floor: the highest gallery version this device has ever
//! accepted, kept in `G.floor` beside the gallery `G`. Installs (USB inbox,
//! `gallery install`) must exceed it; a file changed on disk is used only at
//! or above it, or when it is the one `gallery rollback` made current (its
//! SHA-256 is recorded as sanctioned). Falling back to `G.previous` and
//! rolling back never lower it, so a replayed old gallery stays refused
//! after the current one was damaged or rolled back.
//!
//! The file is two lines of text (`version N`, `sha256 HEX`), replaced
//! atomically.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The floor and the file a rollback sanctioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Floor {
    /// Highest version ever accepted.
    pub version: u64,
    /// SHA-256 of the file last made current on purpose (install or
    /// rollback): accepted at start and on reload even below the floor.
    pub sanctioned: Option<[u8; 32]>,
}

/// The floor file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("anti-rollback floor {path}: {msg}")]
pub struct FloorError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub msg: String,
}

impl Floor {
    /// Reads `path`; a missing file is the floor 0 (a new device).
    pub fn read(path: &Path) -> Result<Self, FloorError> {
        let bad = |msg: String| FloorError {
            path: path.to_path_buf(),
            msg,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(bad(e.to_string())),
        };
        let mut floor = Self::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.split_once(' ') {
                Some(("version", v)) => {
                    floor.version = v.parse().map_err(|_| bad(format!("bad line {line:?}")))?;
                }
                Some(("sha256", h)) => {
                    floor.sanctioned =
                        Some(parse_hex(h).ok_or_else(|| bad(format!("bad line {line:?}")))?)
                }
                _ => return Err(bad(format!("unknown line {line:?}"))),
            }
        }
        Ok(floor)
    }

    /// Writes `path` atomically.
    pub fn write(&self, path: &Path) -> Result<(), FloorError> {
        let mut text = format!("version {}\n", self.version);
        if let Some(h) = &self.sanctioned {
            text.push_str(&format!("sha256 {}\n", crate::gallery::keys::hex(h)));
        }
        crate::atomic::write(path, text.as_bytes()).map_err(|e| FloorError {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })
    }

    /// Whether a gallery file of `version` with these `bytes` may be used
    /// as the installed one.
    pub fn permits(&self, version: u64, bytes: &[u8]) -> bool {
        version >= self.version || self.sanctioned == Some(sha256(bytes))
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn parse_hex(h: &str) -> Option<[u8; 32]> {
    if h.len() != 64 || !h.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_missing_and_damaged_files() {
        let dir = std::env::temp_dir().join(format!("facegate-floor-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.fgal.floor");
        assert_eq!(Floor::read(&path).unwrap(), Floor::default());
        let f = Floor {
            version: 7,
            sanctioned: Some(sha256(b"x")),
        };
        f.write(&path).unwrap();
        assert_eq!(Floor::read(&path).unwrap(), f);
        assert!(f.permits(7, b"y") && f.permits(8, b"y") && f.permits(3, b"x"));
        assert!(!f.permits(6, b"y"));
        for junk in ["version seven\n", "sha256 zz\n", "hello\n", "sha256 é\n"] {
            std::fs::write(&path, junk).unwrap();
            assert!(Floor::read(&path).is_err(), "{junk:?} accepted");
        }
    }
}
