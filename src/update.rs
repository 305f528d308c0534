//! Field updates of the gallery: a candidate file (from a USB stick, or
//! `facegate gallery install`) is verified — signature, trusted key, model,
//! size, integrity, and a version counter strictly above the installed one —
//! then installed atomically with the previous gallery kept for rollback.
//! At start a damaged current gallery falls back to the previous one.
//!
//! On disk, beside the configured gallery path `G`: `G` (current),
//! `G.previous` (the one before). Every replacement is temp file → fsync →
//! rename → fsync directory, so a power cut leaves each name holding either
//! its old or its new content.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

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
    /// Not newer than the installed gallery (replay or downgrade).
    #[error("refused: version {offered} is not newer than the installed version {installed}")]
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
            GalleryError::TooLarge { size, limit } => Refusal::TooLarge { size, limit },
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
    /// The current one was damaged (`why`) and moved aside to `broken`; the
    /// previous one was restored as current.
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
}

impl Store {
    /// The store around the gallery at `current`.
    pub fn new(current: &Path) -> Self {
        let mut previous = current.as_os_str().to_owned();
        previous.push(".previous");
        Self {
            current: current.to_path_buf(),
            previous: previous.into(),
        }
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
    /// signature …) falls back to the previous one and makes it current.
    pub fn load(&self, policy: &Policy) -> Result<Loaded, UpdateError> {
        self.remove_stale_temp_files();
        let why = match Gallery::load(&self.current, policy) {
            Ok(g) => return Ok(Loaded::Current(g)),
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

    /// Checks an offered gallery against `policy` and the installed version.
    pub fn verify(
        &self,
        bytes: &[u8],
        policy: &Policy,
        installed_version: Option<u64>,
    ) -> Result<Gallery, Refusal> {
        let gallery = Gallery::decode(bytes, policy)?;
        let offered = gallery.header().version;
        if let Some(installed) = installed_version
            && offered <= installed
        {
            return Err(Refusal::NotNewer { offered, installed });
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
        let names: Vec<String> = [&self.current, &self.previous]
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

/// The terminal's side of field updates: an inbox directory polled for
/// offered galleries, and the installed file watched for outside changes.
#[derive(Debug)]
pub struct Updates {
    store: Store,
    policy: Policy,
    inbox: PathBuf,
    seen: Option<(std::time::SystemTime, u64)>,
}

impl Updates {
    /// Watches `inbox` and the store's current gallery.
    pub fn new(store: Store, policy: Policy, inbox: PathBuf) -> Self {
        let seen = stamp(store.current());
        Self {
            store,
            policy,
            inbox,
            seen,
        }
    }

    /// Offered files (`*.fgal`, not hidden) in name order. Each is verified
    /// against `installed_version` and installed or refused, then removed
    /// from the inbox (a refused file is kept in `inbox/refused/`).
    pub fn poll(
        &mut self,
        mut installed_version: u64,
    ) -> Vec<(PathBuf, Result<Gallery, UpdateError>)> {
        let Ok(entries) = std::fs::read_dir(&self.inbox) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.extension().is_some_and(|e| e == "fgal")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        let mut out = Vec::new();
        for file in files {
            let result = self
                .store
                .install_file(&file, &self.policy, Some(installed_version));
            match &result {
                Ok(g) => {
                    installed_version = g.header().version;
                    let _ = std::fs::remove_file(&file);
                    self.seen = stamp(self.store.current());
                }
                Err(_) => {
                    let refused = self.inbox.join("refused");
                    let kept = std::fs::create_dir_all(&refused).and_then(|()| {
                        std::fs::rename(&file, refused.join(file.file_name().unwrap_or_default()))
                    });
                    if kept.is_err() {
                        let _ = std::fs::remove_file(&file);
                    }
                }
            }
            out.push((file, result));
        }
        out
    }

    /// The installed gallery, if its file changed since last seen.
    pub fn reload_if_changed(&mut self) -> Option<Result<Gallery, GalleryError>> {
        let now = stamp(self.store.current());
        if now == self.seen {
            return None;
        }
        self.seen = now;
        Some(Gallery::load(self.store.current(), &self.policy))
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
mod tests {
    use super::*;
    use crate::gallery::{Keyring, Person, quantise};
    use crate::vision::Embedding;
    use ed25519_dalek::SigningKey;

    const MODEL: &str = "sface-2021dec-128";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn gallery(version: u64, names: &[&str]) -> Gallery {
        let mut g = Gallery::new(MODEL, [7; 32], 4, 0.363);
        g.body.header.version = version;
        for (i, n) in names.iter().enumerate() {
            g.body.persons.push(Person {
                id: i as u32 + 1,
                name: (*n).try_into().unwrap(),
                badge: None,
                valid_from: None,
                valid_until: None,
                templates: vec![quantise(
                    &Embedding::normalised(vec![1.0, i as f32, 0.5, -0.25]),
                    [0; 16],
                )],
            });
        }
        g
    }

    fn signed(version: u64, names: &[&str], k: &SigningKey) -> Vec<u8> {
        gallery(version, names).encode(Some(k)).unwrap()
    }

    fn policy() -> Policy {
        Policy {
            model_id: Some(MODEL.into()),
            keyring: Keyring::new(vec![key(1).verifying_key()]),
            require_signature: true,
            max_size: 64 * 1024,
            ..Policy::default()
        }
    }

    fn store(tag: &str) -> (PathBuf, Store) {
        let dir =
            std::env::temp_dir().join(format!("facegate-update-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::new(&dir.join("gallery.fgal"));
        (dir, store)
    }

    fn refusal(r: Result<Gallery, UpdateError>) -> &'static str {
        match r {
            Err(UpdateError::Refused(r)) => r.code(),
            Ok(_) => "accepted",
            Err(e) => panic!("not a refusal: {e}"),
        }
    }

    #[test]
    fn every_refusal_has_its_reason_and_changes_nothing() {
        let (_dir, store) = store("refusals");
        let v1 = signed(1, &["Ann"], &key(1));
        store.install(&v1, &policy(), None).unwrap();
        let p = policy();
        let mut tampered = signed(2, &["Ann", "Bob"], &key(1));
        tampered[20] ^= 1; // inside the body: CRC and signature break
        let body_len = tampered.len() - 73;
        let mut forged = signed(2, &["Ann", "Bob"], &key(1));
        forged[14] ^= 1;
        let crc = crc32fast::hash(&forged[..body_len - 4]);
        forged[body_len - 4..body_len].copy_from_slice(&crc.to_le_bytes());
        let mut other_model = gallery(2, &["Ann"]);
        other_model.body.header.model_id = "arcface-r100".try_into().unwrap();
        let cases: Vec<(&str, Vec<u8>, Policy)> = vec![
            ("corrupt", tampered, p.clone()),
            ("bad-signature", forged, p.clone()),
            ("unknown-key", signed(2, &["Ann"], &key(9)), p.clone()),
            ("not-newer", signed(1, &["Ann", "Eve"], &key(1)), p.clone()),
            (
                "model-mismatch",
                other_model.encode(Some(&key(1))).unwrap(),
                p.clone(),
            ),
            ("corrupt", v1[..v1.len() / 2].to_vec(), p.clone()),
            (
                "unsigned",
                gallery(2, &["Ann"]).encode(None).unwrap(),
                p.clone(),
            ),
            (
                "too-large",
                signed(2, &["Ann"], &key(1)),
                Policy {
                    max_size: 100,
                    ..p.clone()
                },
            ),
        ];
        for (want, bytes, policy) in cases {
            let got = refusal(store.install(&bytes, &policy, Some(1)));
            assert_eq!(got, want);
            assert_eq!(
                std::fs::read(store.current()).unwrap(),
                v1,
                "{want} changed the gallery"
            );
        }
        let v2 = signed(2, &["Ann", "Bob"], &key(1));
        assert_eq!(refusal(store.install(&v2, &p, Some(1))), "accepted");
        assert_eq!(std::fs::read(store.current()).unwrap(), v2);
        assert_eq!(std::fs::read(store.previous()).unwrap(), v1);
    }

    #[test]
    fn rollback_swaps_current_and_previous() {
        let (_dir, store) = store("rollback");
        let p = policy();
        assert!(matches!(
            store.rollback(&p),
            Err(UpdateError::NoPrevious(_))
        ));
        let v1 = signed(1, &["Ann"], &key(1));
        let v2 = signed(2, &["Ann", "Bob"], &key(1));
        store.install(&v1, &p, None).unwrap();
        store.install(&v2, &p, Some(1)).unwrap();
        let g = store.rollback(&p).unwrap();
        assert_eq!(g.header().version, 1);
        assert_eq!(std::fs::read(store.current()).unwrap(), v1);
        assert_eq!(std::fs::read(store.previous()).unwrap(), v2);
    }

    #[test]
    fn damaged_current_falls_back_to_previous() {
        let (dir, store) = store("fallback");
        let p = policy();
        let v1 = signed(1, &["Ann"], &key(1));
        let v2 = signed(2, &["Ann", "Bob"], &key(1));
        store.install(&v1, &p, None).unwrap();
        store.install(&v2, &p, Some(1)).unwrap();
        let mut bytes = v2.clone();
        let n = bytes.len();
        bytes[n - 10] ^= 0x40; // inside the signature
        std::fs::write(store.current(), &bytes).unwrap();
        std::fs::write(dir.join(".gallery.fgal.tmp-999"), b"half").unwrap();
        match store.load(&p).unwrap() {
            Loaded::FellBack {
                gallery,
                why,
                broken,
            } => {
                assert_eq!(gallery.header().version, 1);
                assert!(matches!(why, GalleryError::BadSignature(_)), "{why}");
                assert_eq!(std::fs::read(broken.unwrap()).unwrap(), bytes);
            }
            Loaded::Current(_) => panic!("loaded a damaged gallery"),
        }
        assert_eq!(std::fs::read(store.current()).unwrap(), v1);
        assert!(!dir.join(".gallery.fgal.tmp-999").exists());
        // Both damaged: a clear error naming both causes.
        std::fs::write(store.current(), b"FGAL").unwrap();
        std::fs::write(store.previous(), b"junk").unwrap();
        let e = store.load(&p).unwrap_err().to_string();
        assert!(e.contains("current:") && e.contains("previous:"), "{e}");
    }

    #[test]
    fn oversized_file_is_refused_before_reading_it_all() {
        let (dir, store) = store("big");
        let path = dir.join("huge.fgal");
        std::fs::write(&path, vec![0u8; 200_000]).unwrap();
        let r = store.install_file(&path, &policy(), None);
        assert_eq!(refusal(r), "too-large");
    }
}
