//! Model speed beside onnxruntime, side by side in one run.
//!
//! `scripts/bench.sh` runs this once per thread count. Each case (YuNet at
//! 320×240 and 640×480, SFace on one face) is timed on every compiled-in burn
//! backend with the fp32 records, the int8 records expanded at load (what the
//! terminal runs) and the int8 records kept int8 (burn dequantizes them in
//! every call), and with onnxruntime (`scripts/bench_onnxruntime.py`: the int8bq
//! ONNX files as shipped, and the same folded to fp32) on the very same input
//! tensors, in alternating rounds; the best round median of each is reported
//! with the ratios burn / onnxruntime.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Case, Env, median_ms, write_cases};

use facegate::vision::yunet::DetectorInput;
use facegate::vision::{
    Backend, DetectorConfig, Embedder, Int8Weights, LoadOptions, Precision, SFaceEmbedder, Vision,
    VisionConfig, YuNetDetector, align,
};
use image::imageops::FilterType;

const ROUNDS: usize = 3;

fn main() {
    let env = Env::new();
    let (scene, portrait) = env.pictures();
    let Env {
        root,
        models,
        iters,
        threads,
        ..
    } = env;

    let mut cases = Vec::new();
    for (name, w, h) in [("yunet 320x240", 320, 240), ("yunet 640x480", 640, 480)] {
        let frame = image::imageops::resize(&scene, w, h, FilterType::Triangle);
        let input = DetectorInput::new(
            &frame,
            &DetectorConfig {
                input_width: w,
                input_height: h,
                ..Default::default()
            },
        );
        cases.push(Case {
            name,
            model: "yunet",
            shape: vec![1, 3, input.height, input.width],
            data: input.bgr,
        });
    }
    let options = LoadOptions::new(
        Backend::default(),
        Precision::Fp32,
        DetectorConfig::default(),
    );
    let vision = Vision::load(&models, VisionConfig::default(), &options).expect("models");
    let face = vision.largest_face(&portrait, "portrait").expect("face");
    let crop = align(&portrait, &face.detection.landmarks).expect("crop");
    cases.push(Case {
        name: "sface 1 face",
        model: "sface",
        shape: vec![1, 3, 112, 112],
        data: crop.bgr,
    });

    let work = std::env::temp_dir().join(format!("facegate-bench-{}", std::process::id()));
    write_cases(&work, &cases);

    // (backend, label, models) for every backend × weight variant.
    let variants = [
        ("fp32", Precision::Fp32, Int8Weights::ExpandAtLoad),
        ("int8", Precision::Int8, Int8Weights::ExpandAtLoad),
        ("int8 per call", Precision::Int8, Int8Weights::PerCall),
    ];
    let mut backends = Vec::new();
    let mut loaded = Vec::new();
    for b in Backend::available() {
        for (label, precision, int8) in variants {
            backends.push((b, label));
            let options = LoadOptions {
                int8,
                ..LoadOptions::new(b, precision, DetectorConfig::default())
            };
            loaded.push((
                YuNetDetector::load(&models, &options).expect("YuNet"),
                SFaceEmbedder::load(&models, &options).expect("SFace"),
            ));
        }
    }
    let mut best_burn = vec![vec![f64::INFINITY; cases.len()]; backends.len()];
    // onnxruntime: [int8bq as shipped, folded fp32].
    let mut best_ort = vec![[f64::INFINITY; 2]; cases.len()];
    for _ in 0..ROUNDS {
        for (b, vision) in loaded.iter().enumerate() {
            // ndarray is ~10x slower: fewer iterations keep the run short.
            let n = if backends[b].0 == Backend::Flex {
                iters
            } else {
                iters.div_ceil(5)
            };
            for (i, case) in cases.iter().enumerate() {
                best_burn[b][i] = best_burn[b][i].min(time_burn(vision, case, n));
            }
        }
        for (i, ms) in onnxruntime(&root, &work, threads, iters, &cases)
            .into_iter()
            .enumerate()
        {
            for v in 0..2 {
                best_ort[i][v] = best_ort[i][v].min(ms[v]);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);

    println!("\n{threads} thread(s); median ms, best of {ROUNDS} alternating rounds");
    println!(
        "| case | threads | burn backend, weights | burn ms | ort int8bq ms | ort fp32 ms | burn / ort int8bq | burn / ort fp32 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (i, case) in cases.iter().enumerate() {
        for (b, (backend, label)) in backends.iter().enumerate() {
            let ours = best_burn[b][i];
            let [q, f] = best_ort[i];
            println!(
                "| {} | {threads} | {backend}, {label} | {ours:.2} | {q:.2} | {f:.2} | {:.2}x | {:.2}x |",
                case.name,
                ours / q,
                ours / f
            );
        }
    }
}

fn time_burn(
    (detector, embedder): &(YuNetDetector, SFaceEmbedder),
    case: &Case,
    iters: usize,
) -> f64 {
    let run = || match case.model {
        "yunet" => {
            let input = DetectorInput {
                bgr: case.data.clone(),
                width: case.shape[3],
                height: case.shape[2],
                scale: 1.0,
            };
            std::hint::black_box(detector.run(input));
        }
        _ => {
            let crop = facegate::vision::AlignedFace {
                size: case.shape[3],
                bgr: case.data.clone(),
                more: Vec::new(),
            };
            std::hint::black_box(embedder.run(std::slice::from_ref(&crop)));
        }
    };
    median_ms(iters, run)
}

/// Per case: [int8bq, fp32] median ms.
fn onnxruntime(
    root: &Path,
    work: &Path,
    threads: usize,
    iters: usize,
    cases: &[Case],
) -> Vec<[f64; 2]> {
    let python = std::env::var("FACEGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(root.join("scripts/bench_onnxruntime.py"))
        .arg(work)
        .arg(threads.to_string())
        .arg(iters.to_string())
        .output()
        .expect("run bench_onnxruntime.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let times: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ms = |variant: &str, case: &str| times[variant][case].as_f64().expect("time");
    cases
        .iter()
        .map(|c| [ms("int8bq", c.name), ms("fp32", c.name)])
        .collect()
}
