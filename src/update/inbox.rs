//! The terminal's side of field updates: the inbox the USB import drops
//! offered galleries into, and the installed file watched for changes.

use std::path::PathBuf;

use std::path::Path;

use super::{Store, UpdateError, read_limited, stamp};
use crate::gallery::{Gallery, GalleryError, Policy};

/// Refused files kept for inspection in `inbox/refused/`, at most.
const REFUSED_KEEP: usize = 16;

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
                    prune(&refused, REFUSED_KEEP, self.policy.max_size as u64 * 2);
                }
            }
            out.push((file, result));
        }
        out
    }

    /// The installed gallery, if its file changed since last seen; refused
    /// below the anti-rollback floor unless a rollback sanctioned it.
    pub fn reload_if_changed(&mut self) -> Option<Result<Gallery, UpdateError>> {
        let now = stamp(self.store.current());
        if now == self.seen {
            return None;
        }
        self.seen = now;
        let path = self.store.current();
        Some(
            read_limited(path, self.policy.max_size as u64)
                .map_err(|cause| {
                    UpdateError::Refused(
                        GalleryError::Io {
                            path: path.to_path_buf(),
                            cause,
                        }
                        .into(),
                    )
                })
                .and_then(|bytes| self.store.check_installed(&bytes, &self.policy)),
        )
    }
}

/// Deletes the oldest files in `dir` until at most `keep` remain and they
/// hold at most `max_bytes` in all: refused files must not fill the disk.
fn prune(dir: &Path, keep: usize, max_bytes: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, std::path::PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok().filter(std::fs::Metadata::is_file)?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    files.sort();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    let mut count = files.len();
    for (_, len, path) in files {
        if count <= keep && total <= max_bytes {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            count -= 1;
            total -= len;
        }
    }
}
