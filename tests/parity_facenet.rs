//! FaceNet parity: facegate's burn InceptionResnetV1 against TensorFlow
//! itself (tensorflow-cpu in its own venv, `scripts/generate_reference_facenet.py`,
//! which shares no code with the Rust side) running the original frozen
//! graph on the same 160×160 crops.
//!
//! Each crop is facegate's (the YuNet box cut and resized as the seed's
//! `MTCNN(image_size=160, margin=0)` does), written as PNG; TensorFlow reads
//! the PNG and standardises it the same way (`(x − 127.5) / 128`). Checked on
//! every backend: the stem's activations within 1e-3 and the normalised
//! embeddings within 1e-4 per component (`EMB_TOL`, the bar).

mod common;

use std::path::Path;
use std::process::Command;

use facegate::vision::facenet::{self, FaceNetEmbedder};
use facegate::vision::{
    Backend, Detection, DetectorConfig, Embedding, LoadOptions, Precision, YuNetDetector, picture,
};
use serde_json::Value;

const EMB_TOL: f32 = 1e-4;

fn tf_python() -> String {
    std::env::var("FACEGATE_TF_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/facegate/venv-tf/bin/python")
    })
}

#[test]
fn burn_facenet_matches_tensorflow() {
    let work = common::TempDir::new("parity-facenet");
    let options = LoadOptions::new(
        Backend::default(),
        Precision::Fp32,
        DetectorConfig::default(),
    );
    let detector = YuNetDetector::load(&common::models(), &options).expect("YuNet");
    let mut crops = Vec::new();
    for (n, path) in common::parity_pictures().iter().enumerate() {
        let img = picture::load(path).expect("decode");
        let Some(face) = Detection::largest(&detector.detect(&img)).copied() else {
            continue;
        };
        let crop = facenet::box_crop(&img, &face).expect("crop");
        let id = format!("c{n:02}");
        crop.to_rgb()
            .save(work.path().join(format!("{id}.png")))
            .expect("png");
        crops.push((id, crop));
    }
    assert!(crops.len() >= 15, "only {} crops", crops.len());

    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/generate_reference_facenet.py");
    let graph = common::models().dir().join("tf/graph_final.pb");
    let run = Command::new(tf_python())
        .arg(&script)
        .arg("embed")
        .arg(work.path())
        .arg("--graph")
        .arg(&graph)
        .args(["--standardize", "fixed", "--threads", "1", "--repeat", "1"])
        .output()
        .expect("running generate_reference_facenet.py (venv-tf: scripts/setup.sh makes it)");
    assert!(
        run.status.success(),
        "generate_reference_facenet.py failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(work.path().join("reference_facenet.json")).expect("json");
    let reference: Value = serde_json::from_str(&text).expect("JSON");

    for backend in Backend::available() {
        let options = LoadOptions::new(backend, Precision::Fp32, DetectorConfig::default());
        let embedder = FaceNetEmbedder::load(&common::models(), &options).expect("FaceNet");
        let (mut max_emb, mut max_input) = (0f32, 0f32);
        for (id, crop) in &crops {
            let r = &reference["items"][id]["fixed"];
            let what = format!("{backend}: {id}");
            // The input tensor TensorFlow was fed (NHWC) against ours (NCHW).
            let theirs_in =
                common::reference::f32s(&work.path().join(r["input"].as_str().expect("input")));
            let ours_in: Vec<f32> = facenet::standardise(crop).collect();
            let plane = facenet::INPUT_SIZE * facenet::INPUT_SIZE;
            for (i, t) in theirs_in.iter().enumerate() {
                let d = (ours_in[(i % 3) * plane + i / 3] - t).abs();
                max_input = max_input.max(d);
            }
            let raw = embedder.run_standardised(ours_in, 1).remove(0);
            let ours = Embedding::normalised(raw);
            let theirs = common::reference::f32s(
                &work
                    .path()
                    .join(r["embedding"].as_str().expect("embedding")),
            );
            assert_eq!(ours.0.len(), theirs.len(), "{what}: size");
            let d = ours
                .0
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(d <= EMB_TOL, "{what}: embedding differs by {d}");
            max_emb = max_emb.max(d);
        }
        assert!(max_input <= 1e-6, "{backend}: inputs differ by {max_input}");
        eprintln!(
            "{backend}: {} crops; embeddings max |Δ| {max_emb:.2e} (inputs {max_input:.1e})",
            crops.len()
        );
    }
}
