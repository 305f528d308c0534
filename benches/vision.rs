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

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use facegate::vision::yunet::DetectorInput;
use facegate::vision::{
    Backend, DetectorConfig, Embedder, Int8Weights, LoadOptions, ModelPaths, Precision,
    SFaceEmbedder, Vision, VisionConfig, YuNetDetector, align, picture,
};
use image::imageops::FilterType;

const ROUNDS: usize = 3;

struct Case {
    name: &'static str,
    model: &'static str,
    shape: Vec<usize>,
    data: Vec<f32>,
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let threads = rayon::current_num_threads();
    let models = ModelPaths::new(
        std::env::var_os("FACEGATE_MODELS").map_or(root.join("models"), PathBuf::from),
    );
    let shared =
        std::env::var_os("FACEGATE_SHARED_DATA").map_or(root.join("../shared/data"), PathBuf::from);
    let scene = picture::load(&shared.join("dlib-faces/2008_001322.jpg")).expect("scene photo");
    let portrait =
        picture::load(&shared.join("id-photos-wikimedia/person_b_1.jpg")).expect("portrait");

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
    std::fs::create_dir_all(&work).expect("work dir");
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
    .expect("write");

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
            };
            std::hint::black_box(embedder.run(std::slice::from_ref(&crop)));
        }
    };
    for _ in 0..3 {
        run();
    }
    let mut times: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
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
