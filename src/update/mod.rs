//! Field updates of the gallery: a candidate file (from a USB stick, or
//! `facegate gallery install`) is verified — signature, trusted key, model,
//! size, integrity, and a version counter strictly above the installed one —
//! then installed atomically with the previous gallery kept for rollback.
//! At start a damaged current gallery falls back to the previous one.
//!
//! On disk, beside the configured gallery path `G`: `G` (current),
//! `G.previous` (the one before), `G.floor` (the anti-rollback floor, see
//! [`floor`]). Every replacement is temp file → fsync → rename → fsync
//! directory, so a power cut leaves each name holding either its old or its
//! new content.

pub mod floor;
mod inbox;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use floor::{Floor, FloorError};
pub use inbox::Updates;

use crate::gallery::{Gallery, GalleryError, Policy};

/// Why an offered gallery was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The signature does not verify: tampered with or damaged.
    #[error("refused: signature invalid (key {0}): the file was altered after signing")]
    BadSignature(String),
    /// Signed by a key this device does not trust.
    #[error("refused: signed by untrusted key {0}")]
    UnknownKey(String),
    /// Not signed, and this device requires signatures.
    #[error("refused: not signed, and this device only accepts signed galleries")]
    Unsigned,
    /// Not newer than the installed gallery or the anti-rollback floor
    /// (replay or downgrade).
    #[error(
        "refused: version {offered} is not newer than version {installed}, the newest this device has accepted"
    )]
    NotNewer {
        /// The offered version.
        offered: u64,
        /// The installed version.
        installed: u64,
    },
    /// Made for another embedding model.
    #[error("refused: made for model {found}, this device runs {expected}")]
    ModelMismatch {
        /// The file's model.
        found: String,
        /// The device's model.
        expected: String,
    },
    /// Larger than the configured limit.
    #[error("refused: {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the offered file.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Truncated, corrupt or not a gallery at all.
    #[error("refused: corrupt or truncated file ({0})")]
    Corrupt(String),
    /// Encrypted for other devices, or not decryptable.
    #[error("refused: {0}")]
    NotForDevice(String),
    /// Its threshold would admit nearly anyone.
    #[error("refused: threshold {found:.3} is below this device's floor of {floor:.3}")]
    WeakThreshold {
        /// The gallery's threshold.
        found: f32,
        /// The device's floor.
        floor: f32,
    },
}

impl Refusal {
    /// A short stable name for logs and screens.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::BadSignature(_) => "bad-signature",
            Refusal::UnknownKey(_) => "unknown-key",
            Refusal::Unsigned => "unsigned",
            Refusal::NotNewer { .. } => "not-newer",
            Refusal::ModelMismatch { .. } => "model-mismatch",
            Refusal::TooLarge { .. } => "too-large",
            Refusal::Corrupt(_) => "corrupt",
            Refusal::NotForDevice(_) => "not-for-device",
            Refusal::WeakThreshold { .. } => "weak-threshold",
        }
    }

    /// A few words for a small display.
    pub fn short(&self) -> &'static str {
        match self {
            Refusal::BadSignature(_) => "Bad signature",
            Refusal::UnknownKey(_) => "Untrusted key",
            Refusal::Unsigned => "Not signed",
            Refusal::NotNewer { .. } => "Older version",
            Refusal::ModelMismatch { .. } => "Wrong model",
            Refusal::TooLarge { .. } => "File too large",
            Refusal::Corrupt(_) => "File corrupt",
            Refusal::NotForDevice(_) => "Not for this door",
            Refusal::WeakThreshold { .. } => "Unsafe threshold",
        }
    }
}

impl From<GalleryError> for Refusal {
    fn from(e: GalleryError) -> Self {
        match e {
            GalleryError::BadSignature(k) => Refusal::BadSignature(k),
            GalleryError::UnknownKey(k) => Refusal::UnknownKey(k),
            GalleryError::Unsigned => Refusal::Unsigned,
            GalleryError::ModelMismatch { found, expected } => {
                Refusal::ModelMismatch { found, expected }
            }
            GalleryError::WeightsMismatch { found, expected } => Refusal::ModelMismatch {
                found: format!("weights {found}"),
                expected: format!("weights {expected}"),
            },
            GalleryError::TooLarge { size, limit } => Refusal::TooLarge { size, limit },
            GalleryError::WeakThreshold { found, floor } => Refusal::WeakThreshold { found, floor },
            e @ GalleryError::Sealed(_) => Refusal::NotForDevice(e.to_string()),
            other => Refusal::Corrupt(other.to_string()),
        }
    }
}

/// An update could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The offered file was refused; nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Reading or writing a file failed; the installed gallery is unchanged.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// Neither the current nor the previous gallery is usable.
    #[error("no usable gallery: current: {current}; previous: {previous}")]
    NoGallery {
        /// Why the current one failed.
        current: GalleryError,
        /// Why the previous one failed.
        previous: GalleryError,
    },
    /// There is no previous gallery to roll back to.
    #[error("no previous gallery to roll back to ({0})")]
    NoPrevious(GalleryError),
    /// The anti-rollback floor cannot be read or written.
    #[error(transparent)]
    Floor(#[from] FloorError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UpdateError + '_ {
    move |cause| UpdateError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// How the gallery in use was obtained at start.
#[derive(Debug)]
pub enum Loaded {
    /// The current gallery.
    Current(Gallery),
    /// The current one was damaged or below the anti-rollback floor
    /// (`why`) and moved aside to `broken`; the previous one was restored as
    /// current. An incident: whoever damaged the file may want the older
    /// gallery back.
    FellBack {
        /// The restored gallery.
        gallery: Gallery,
        /// What was wrong with the current one.
        why: GalleryError,
        /// Where the damaged file was kept.
        broken: Option<PathBuf>,
    },
}

impl Loaded {
    /// The gallery in use.
    pub fn gallery(&self) -> &Gallery {
        match self {
            Loaded::Current(g) | Loaded::FellBack { gallery: g, .. } => g,
        }
    }

    /// Takes the gallery out.
    pub fn into_gallery(self) -> Gallery {
        match self {
            Loaded::Current(g) | Loaded::FellBack { gallery: g, .. } => g,
        }
    }
}

/// The installed gallery and its predecessor.
#[derive(Debug, Clone)]
pub struct Store {
    current: PathBuf,
    previous: PathBuf,
    floor: PathBuf,
}

impl Store {
    /// The store around the gallery at `current`.
    pub fn new(current: &Path) -> Self {
        let mut previous = current.as_os_str().to_owned();
        previous.push(".previous");
        Self {
            current: current.to_path_buf(),
            previous: previous.into(),
            floor: sibling(current, "floor"),
        }
    }

    /// The anti-rollback floor.
    pub fn floor(&self) -> Result<Floor, FloorError> {
        Floor::read(&self.floor)
    }

    /// The floor file's path.
    pub fn floor_path(&self) -> &Path {
        &self.floor
    }

    /// Decodes the installed file's `bytes` if the floor permits them; a
    /// newer one than the floor raises it (a crash between writing the
    /// gallery and the floor, or a file written by hand).
    pub fn check_installed(&self, bytes: &[u8], policy: &Policy) -> Result<Gallery, UpdateError> {
        let gallery = Gallery::decode(bytes, policy).map_err(Refusal::from)?;
        self.admit(&gallery, bytes)?;
        Ok(gallery)
    }

    /// Whether the floor lets the installed file (`gallery`, decoded from
    /// `bytes`) be used; raises the floor to a newer one.
    fn admit(&self, gallery: &Gallery, bytes: &[u8]) -> Result<(), UpdateError> {
        let mut floor = self.floor()?;
        let version = gallery.header().version;
        if !floor.permits(version, bytes) {
            return Err(Refusal::NotNewer {
                offered: version,
                installed: floor.version,
            }
            .into());
        }
        if version > floor.version {
            floor.version = version;
            floor.write(&self.floor)?;
        }
        Ok(())
    }

    /// The current gallery's path.
    pub fn current(&self) -> &Path {
        &self.current
    }

    /// The previous gallery's path.
    pub fn previous(&self) -> &Path {
        &self.previous
    }

    /// Loads the current gallery; if it is damaged (corrupt, truncated, bad
    /// signature …) or below the anti-rollback floor without a rollback
    /// having sanctioned it, falls back to the previous one and makes it
    /// current (the floor stays).
    pub fn load(&self, policy: &Policy) -> Result<Loaded, UpdateError> {
        self.remove_stale_temp_files();
        let current =
            read_limited(&self.current, policy.max_size as u64).map_err(|cause| GalleryError::Io {
                path: self.current.clone(),
                cause,
            });
        let why = match current.and_then(|bytes| Ok((Gallery::decode(&bytes, policy)?, bytes))) {
            Ok((g, bytes)) => match self.admit(&g, &bytes) {
                Ok(()) => return Ok(Loaded::Current(g)),
                Err(UpdateError::Refused(r)) => GalleryError::Malformed(format!(
                    "below the anti-rollback floor, not made current by a rollback ({r})"
                )),
                Err(e) => return Err(e),
            },
            Err(e) => e,
        };
        let previous = read_limited(&self.previous, policy.max_size as u64)
            .map_err(|cause| GalleryError::Io {
                path: self.previous.clone(),
                cause,
            })
            .and_then(|bytes| Ok((Gallery::decode(&bytes, policy)?, bytes)));
        let (gallery, previous_bytes) = match previous {
            Ok(found) => found,
            Err(previous) => {
                return Err(UpdateError::NoGallery {
                    current: why,
                    previous,
                });
            }
        };
        let broken = if self.current.exists() {
            let aside = sibling(
                &self.current,
                &format!("broken-{}", crate::gallery::now_unix()),
            );
            std::fs::rename(&self.current, &aside).map_err(io(&self.current))?;
            Some(aside)
        } else {
            None
        };
        crate::atomic::write(&self.current, &previous_bytes).map_err(io(&self.current))?;
        Ok(Loaded::FellBack {
            gallery,
            why,
            broken,
        })
    }

    /// Checks an offered gallery against `policy`, the installed version
    /// and the anti-rollback floor: it must be newer than both.
    pub fn verify(
        &self,
        bytes: &[u8],
        policy: &Policy,
        installed_version: Option<u64>,
    ) -> Result<Gallery, UpdateError> {
        let gallery = Gallery::decode(bytes, policy).map_err(Refusal::from)?;
        let offered = gallery.header().version;
        let bar = installed_version.unwrap_or(0).max(self.floor()?.version);
        if offered <= bar {
            return Err(Refusal::NotNewer {
                offered,
                installed: bar,
            }
            .into());
        }
        Ok(gallery)
    }

    /// Verifies `bytes` and installs them, keeping the current gallery as
    /// the previous one. Returns the new gallery.
    pub fn install(
        &self,
        bytes: &[u8],
        policy: &Policy,
        installed_version: Option<u64>,
    ) -> Result<Gallery, UpdateError> {
        let gallery = self.verify(bytes, policy, installed_version)?;
        if let Ok(current) = std::fs::read(&self.current) {
            crate::atomic::write(&self.previous, &current).map_err(io(&self.previous))?;
        }
        crate::atomic::write(&self.current, bytes).map_err(io(&self.current))?;
        // Raised after the gallery is in place: a crash in between leaves a
        // current file above the floor, which the next start accepts and
        // raises the floor to.
        Floor {
            version: gallery.header().version,
            sanctioned: Some(floor::sha256(bytes)),
        }
        .write(&self.floor)?;
        Ok(gallery)
    }

    /// Reads an offered file (at most `policy.max_size` bytes) and installs it.
    pub fn install_file(
        &self,
        path: &Path,
        policy: &Policy,
        installed_version: Option<u64>,
    ) -> Result<Gallery, UpdateError> {
        let bytes = read_limited(path, policy.max_size as u64).map_err(|e| match e.kind() {
            std::io::ErrorKind::FileTooLarge => UpdateError::Refused(Refusal::TooLarge {
                size: std::fs::metadata(path).map_or(0, |m| m.len()),
                limit: policy.max_size as u64,
            }),
            _ => io(path)(e),
        })?;
        self.install(&bytes, policy, installed_version)
    }

    /// Makes the previous gallery current again (and the current one previous).
    pub fn rollback(&self, policy: &Policy) -> Result<Gallery, UpdateError> {
        let previous = std::fs::read(&self.previous).map_err(|cause| {
            UpdateError::NoPrevious(GalleryError::Io {
                path: self.previous.clone(),
                cause,
            })
        })?;
        let gallery = Gallery::decode(&previous, policy).map_err(UpdateError::NoPrevious)?;
        let current = std::fs::read(&self.current).ok();
        // The floor keeps its version (the next install must still exceed
        // it) and sanctions the restored file.
        let mut floor = self.floor()?;
        floor.version = floor.version.max(
            current
                .as_deref()
                .and_then(|c| Gallery::decode(c, policy).ok())
                .map_or(0, |g| g.header().version),
        );
        floor.sanctioned = Some(floor::sha256(&previous));
        floor.write(&self.floor)?;
        crate::atomic::write(&self.current, &previous).map_err(io(&self.current))?;
        if let Some(current) = current {
            crate::atomic::write(&self.previous, &current).map_err(io(&self.previous))?;
        }
        Ok(gallery)
    }

    /// Temporary files of writes a crash interrupted.
    fn remove_stale_temp_files(&self) {
        let Some(dir) = self.current.parent() else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let names: Vec<String> = [&self.current, &self.previous, &self.floor]
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| format!(".{}.tmp-", n.to_string_lossy()))
            .collect();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if names.iter().any(|n| name.starts_with(n)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Modification time and length of a file.
fn stamp(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// `path` with `.suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    s.into()
}

/// Reads at most `limit` bytes; a longer file is an `ErrorKind::FileTooLarge` error.
pub fn read_limited(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
