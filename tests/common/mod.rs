//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub mod reference;
pub mod scene;
pub mod sets;

use facegate::vision::{
    Backend, DetectorConfig, LoadOptions, ModelPaths, Precision, Vision, VisionConfig,
};

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
        Precision::ALL
            .iter()
            .all(|&p| ["yunet", "retinaface", "sface"]
                .iter()
                .all(|m| paths.record(m, p).exists())),
        "models missing in {}: run scripts/fetch-models.sh",
        paths.dir().display()
    );
    paths
}

/// The default detector and embedder on `backend` at the default precision (int8).
pub fn vision(backend: Backend, config: DetectorConfig) -> Vision {
    vision_at(backend, Precision::default(), config)
}

/// The default detector and embedder on `backend` at `precision`.
pub fn vision_at(backend: Backend, precision: Precision, config: DetectorConfig) -> Vision {
    let options = LoadOptions::new(backend, precision, config);
    Vision::load(&models(), VisionConfig::default(), &options)
        .unwrap_or_else(|e| panic!("loading models: {e}"))
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

/// `root/photos/{Alice,Bob}/`: one ID photo each (Macron's and Ardern's
/// first), the folder-of-folders `enroll` takes.
pub fn alice_and_bob(root: &Path) {
    let ids = shared_data().join("id-photos-wikimedia");
    for (person, file) in [("Alice", "person_a_1.jpg"), ("Bob", "person_b_1.jpg")] {
        let d = root.join("photos").join(person);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::copy(ids.join(file), d.join(file)).expect("copy");
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

/// splitmix64: a small, seedable generator for the fuzzers.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// This test binary re-run as a child that executes only the ignored test
/// `name` (the crash harnesses' writers), stdout piped.
pub fn child_test(name: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--exact", name, "--ignored", "--nocapture", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    cmd
}

/// Starts `cmd`, kills it with SIGKILL after a random delay below
/// `max_delay`, and returns every line it printed to stdout before dying and
/// how it ended (to check that it was the kill, not a panic or an exit). With
/// `wait_for` set, the delay starts at its first line with that prefix (or when
/// it closes stdout, or after 30 s), else at spawn, so the kill may land while
/// the child is still starting up.
pub fn kill_child_lines(
    mut cmd: std::process::Command,
    wait_for: Option<&'static str>,
    max_delay: std::time::Duration,
) -> (Vec<String>, std::process::ExitStatus) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd.spawn().expect("spawn child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    if let Some(prefix) = wait_for {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while let Ok(line) =
            rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            let found = line.starts_with(prefix);
            lines.push(line);
            if found {
                break;
            }
        }
    }
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).expect("random");
    let micros = u64::from_le_bytes(r) % (max_delay.as_micros() as u64).max(1);
    std::thread::sleep(std::time::Duration::from_micros(micros));
    let _ = child.kill();
    let status = child.wait().expect("wait for child");
    let _ = reader.join();
    lines.extend(rx.try_iter());
    (lines, status)
}

/// [`kill_child_lines`] for children that acknowledge work with `PREFIX N`
/// lines: returns every N acknowledged before the kill; with `wait_first` the
/// delay starts at the first acknowledgement.
pub fn kill_child(
    cmd: std::process::Command,
    prefix: &'static str,
    max_delay: std::time::Duration,
    wait_first: bool,
) -> (Vec<u64>, std::process::ExitStatus) {
    let (lines, status) = kill_child_lines(cmd, wait_first.then_some(prefix), max_delay);
    let acks = lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix)?.parse().ok())
        .collect();
    (acks, status)
}

/// Scene photos, portraits and chips: every face size the terminal sees.
pub fn parity_pictures() -> Vec<PathBuf> {
    let data = shared_data();
    let mut files = images_in(&data.join("dlib-faces"));
    files.extend(images_in(&data.join("id-photos-wikimedia")));
    for person in ["John_Salley", "John_Simm"] {
        files.extend(
            images_in(&data.join("dlib-johns").join(person))
                .into_iter()
                .take(2),
        );
    }
    files
}
