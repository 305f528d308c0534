//! Liveness speed beside upstream's PyTorch model, side by side in one run.
//!
//! Both MiniFASNets (V2 on the 2.7× crop, V1SE on the 4× crop) of one face —
//! the ID portrait's, found by RetinaFace — timed in burn (fp32 and int8
//! records on flex) and in PyTorch (`scripts/generate_reference_liveness.py
//! bench`: upstream's `MiniFASNet.py` and `.pth` weights on the very same
//! crops, `torch.set_num_threads(T)`), in alternating rounds; the best round
//! median of each and the ratio burn / PyTorch.

mod common;

use std::process::Command;

use common::{Env, median_ms};
use facegate::vision::minifasnet::Passive;
use facegate::vision::pipeline::load_detector;
use facegate::vision::{Backend, Detection, DetectorConfig, DetectorKind, LoadOptions, Precision};
use serde_json::json;

const ROUNDS: usize = 3;

fn main() {
    let env = Env::new();
    let (_, portrait) = env.pictures();
    let options = |p| LoadOptions::new(Backend::Flex, p, DetectorConfig::default());
    let detector = load_detector(
        DetectorKind::Retinaface,
        &env.models,
        &options(Precision::Int8),
    )
    .expect("detector");
    let found = detector.detect(&portrait);
    let face = Detection::largest(&found).expect("a face");
    let crops = Passive::crops(&portrait, face.bbox).expect("crops");
    let work = std::env::temp_dir().join(format!("facegate-bench-live-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    for (crop, name) in crops.iter().zip(["v2", "v1se"]) {
        crop.save(work.join(format!("0_{name}.png")))
            .expect("crop PNG");
    }
    let job = work.join("job.json");
    std::fs::write(&job, json!({"images": []}).to_string()).expect("job");

    let models: Vec<(&str, Passive)> = [("fp32", Precision::Fp32), ("int8", Precision::Int8)]
        .into_iter()
        .map(|(label, p)| {
            (
                label,
                Passive::load(&env.models, &options(p)).expect("liveness models"),
            )
        })
        .collect();
    let torch = std::env::var_os("FACEGATE_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/facegate")
        })
        .join("venv-torch/bin/python");
    let mut best = vec![f64::INFINITY; models.len()];
    let mut best_torch = f64::INFINITY;
    for _ in 0..ROUNDS {
        for (i, (_, passive)) in models.iter().enumerate() {
            let ms = median_ms(env.iters, || {
                for (m, crop) in crops.iter().enumerate() {
                    std::hint::black_box(passive.logits(m, std::slice::from_ref(crop)));
                }
            });
            best[i] = best[i].min(ms);
        }
        let out = Command::new(&torch)
            .arg(env.root.join("scripts/generate_reference_liveness.py"))
            .args([
                std::ffi::OsStr::new("bench"),
                job.as_os_str(),
                work.as_os_str(),
            ])
            .arg(env.iters.to_string())
            .arg(env.threads.to_string())
            .output()
            .expect("running the PyTorch reference (venv-torch)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        best_torch = best_torch.min(v["ms_per_face"].as_f64().expect("ms"));
    }
    let _ = std::fs::remove_dir_all(&work);
    let threads = env.threads;
    println!(
        "\n{threads} thread(s); median ms per face (both models), best of {ROUNDS} alternating rounds"
    );
    println!("| case | threads | burn weights | burn ms | PyTorch fp32 ms | burn / PyTorch |");
    println!("|---|---|---|---|---|---|");
    for ((label, _), ms) in models.iter().zip(&best) {
        println!(
            "| MiniFASNet V2 + V1SE, 1 face | {threads} | flex, {label} | {ms:.2} | {best_torch:.2} | {:.2}x |",
            ms / best_torch
        );
    }
}
