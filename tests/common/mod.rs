//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use facegate::vision::{Backend, DetectorConfig, ModelPaths, Vision};

/// `../shared/data` beside the project (or `$FACEGATE_SHARED_DATA`).
pub fn shared_data() -> PathBuf {
    let dir = std::env::var_os("FACEGATE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(
        dir.is_dir(),
        "test data not found at {} (set FACEGATE_SHARED_DATA)",
        dir.display()
    );
    dir
}

/// The project's models directory, which `scripts/fetch-models.sh` fills.
pub fn models() -> ModelPaths {
    let paths = ModelPaths::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    assert!(
        paths.file("yunet", "bpk").exists() && paths.file("sface", "bpk").exists(),
        "models missing in {}: run scripts/fetch-models.sh",
        paths.dir().display()
    );
    paths
}

/// Both models on `backend`.
pub fn vision(backend: Backend, config: DetectorConfig) -> Vision {
    Vision::load(&models(), backend, config).unwrap_or_else(|e| panic!("loading models: {e}"))
}

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "facegate-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Image files (sorted) in `dir`.
pub fn images_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    files.sort();
    files
}

/// A `Command` for the built `facegate` binary; under cross-testing,
/// `$FACEGATE_TEST_RUNNER` (e.g. qemu-user) runs it.
pub fn facegate() -> std::process::Command {
    let bin = env!("CARGO_BIN_EXE_facegate");
    match std::env::var("FACEGATE_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut parts = runner.split_whitespace();
            let mut cmd = std::process::Command::new(parts.next().unwrap_or_default());
            cmd.args(parts).arg(bin);
            cmd
        }
        _ => std::process::Command::new(bin),
    }
}
