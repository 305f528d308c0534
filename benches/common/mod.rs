//! What the benchmarks share: where the models and the shared data are, the
//! iteration count, the input tensors handed to the reference scripts, and
//! the median timer.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use facegate::vision::ModelPaths;

/// The project root, the models, `../shared/data`, `BENCH_ITERS` and the
/// worker threads of this run.
pub struct Env {
    pub root: PathBuf,
    pub models: ModelPaths,
    pub shared: PathBuf,
    pub iters: usize,
    pub threads: usize,
}

impl Env {
    /// From the environment (`FACEGATE_MODELS`, `FACEGATE_SHARED_DATA`,
    /// `BENCH_ITERS`, default 20).
    pub fn new() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let models = ModelPaths::new(
            std::env::var_os("FACEGATE_MODELS").map_or(root.join("models"), PathBuf::from),
        );
        let shared = std::env::var_os("FACEGATE_SHARED_DATA")
            .map_or(root.join("../shared/data"), PathBuf::from);
        let iters = std::env::var("BENCH_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        Self {
            root,
            models,
            shared,
            iters,
            threads: rayon::current_num_threads(),
        }
    }
}

impl Env {
    /// The benches' two pictures: a dlib-faces scene and an ID portrait.
    pub fn pictures(&self) -> (image::RgbImage, image::RgbImage) {
        let load = |p: &str| facegate::vision::picture::load(&self.shared.join(p)).expect(p);
        (
            load("dlib-faces/2008_001322.jpg"),
            load("id-photos-wikimedia/person_b_1.jpg"),
        )
    }
}

/// One input tensor, timed in burn and by a reference script.
pub struct Case {
    pub name: &'static str,
    pub model: &'static str,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Writes every case as `<i>.f32` plus `cases.json` (name, model, shape,
/// file) into `work`, for the reference scripts.
pub fn write_cases(work: &Path, cases: &[Case]) {
    std::fs::create_dir_all(work).expect("work dir");
    let manifest: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let file = format!("{i}.f32");
            let bytes: Vec<u8> = c.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(work.join(&file), bytes).expect("write input");
            serde_json::json!({"name": c.name, "model": c.model, "shape": c.shape, "file": file})
        })
        .collect();
    std::fs::write(
        work.join("cases.json"),
        serde_json::to_string(&manifest).expect("json"),
    )
    .expect("write cases.json");
}

/// Median ms of `iters` calls of `f` after 3 warm-ups.
pub fn median_ms(iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut times: Vec<f64> = (0..iters.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
