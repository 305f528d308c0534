//! Parity of the burn models with the original ONNX files under onnxruntime.
//!
//! facegate decodes each picture, writes it losslessly with its aligned crop, and
//! `scripts/generate_reference.py` runs the original int8bq YuNet and SFace with
//! onnxruntime on exactly those pixels. Limits: boxes and landmarks within 1 px,
//! SFace embeddings within 1e-4 per component on the same crop; end to end (our
//! alignment vs OpenCV's `warpAffine` crop) cosine ≥ 0.995.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use facegate::vision::yunet::iou;
use facegate::vision::{Backend, Detection, DetectorConfig, Embedding, Precision, align, picture};
use serde_json::{Value, json};

/// Scene photos, portraits and chips: every face size the terminal sees.
fn pictures() -> Vec<PathBuf> {
    let data = common::shared_data();
    let mut files = common::images_in(&data.join("dlib-faces"));
    files.extend(common::images_in(&data.join("id-photos-wikimedia")));
    for person in ["John_Salley", "John_Simm"] {
        files.extend(
            common::images_in(&data.join("dlib-johns").join(person))
                .into_iter()
                .take(2),
        );
    }
    files
}

/// A detector that never resizes these pictures (both sides pad only).
fn config() -> DetectorConfig {
    DetectorConfig {
        input_width: 2048,
        input_height: 2048,
        ..DetectorConfig::default()
    }
}

fn reference(work: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/generate_reference.py");
    // scripts/setup.sh exports the venv's interpreter.
    let python = std::env::var("FACEGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(&script)
        .arg(work)
        .output()
        .expect("running scripts/generate_reference.py (FACEGATE_PYTHON or python3)");
    assert!(
        out.status.success(),
        "generate_reference.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(work.join("reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("reference.json is JSON")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn detection(v: &Value) -> Detection {
    let bbox = floats(&v["bbox"]);
    let lm: Vec<Vec<f32>> = v["landmarks"]
        .as_array()
        .expect("landmarks")
        .iter()
        .map(floats)
        .collect();
    Detection {
        bbox: [bbox[0], bbox[1], bbox[2], bbox[3]],
        landmarks: std::array::from_fn(|k| [lm[k][0], lm[k][1]]),
        score: v["score"].as_f64().expect("score") as f32,
    }
}

#[test]
fn burn_models_match_onnxruntime() {
    for backend in Backend::available() {
        check_backend(backend);
    }
}

fn check_backend(backend: Backend) {
    let vision = common::vision_at(backend, Precision::Fp32, config());
    let work = common::TempDir::new("parity");
    let mut items = Vec::new();
    let mut ours = Vec::new();
    for (n, path) in pictures().iter().enumerate() {
        let img = picture::load(path).expect("decode");
        let id = format!("{n:02}");
        img.save(work.path().join(format!("{id}.png")))
            .expect("write png");
        let faces = vision.detector.detect(&img);
        let largest = Detection::largest(&faces);
        let crop = largest.and_then(|f| align(&img, &f.landmarks));
        let mut item = json!({"id": id, "image": format!("{id}.png")});
        if let Some(crop) = &crop {
            let bytes: Vec<u8> = crop.bgr.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(work.path().join(format!("{id}.crop.f32")), bytes).expect("write crop");
            item["crop"] = json!(format!("{id}.crop.f32"));
        }
        items.push(item);
        ours.push((path.clone(), faces, crop));
    }
    let cfg = vision.detector.config;
    let manifest = json!({
        "detector": {"score_threshold": cfg.score_threshold, "nms_threshold": cfg.nms_threshold, "top_k": cfg.top_k},
        "items": items,
    });
    std::fs::write(work.path().join("manifest.json"), manifest.to_string()).expect("manifest");
    let reference = reference(work.path());

    let (mut faces_compared, mut max_px, mut max_emb, mut min_cos) = (0, 0.0f32, 0.0f32, 1.0f32);
    for (n, (path, faces, crop)) in ours.iter().enumerate() {
        let r = &reference["results"][format!("{n:02}")];
        let theirs: Vec<Detection> = r["detections"]
            .as_array()
            .expect("detections")
            .iter()
            .map(detection)
            .collect();
        assert_eq!(
            faces.len(),
            theirs.len(),
            "{backend}: {}: face count",
            path.display()
        );
        for t in &theirs {
            // Pair by overlap: equal scores may order differently.
            let f = faces
                .iter()
                .max_by(|a, b| iou(&a.bbox, &t.bbox).total_cmp(&iou(&b.bbox, &t.bbox)))
                .expect("a face");
            let px = f
                .bbox
                .iter()
                .zip(&t.bbox)
                .map(|(a, b)| (a - b).abs())
                .chain(
                    f.landmarks
                        .iter()
                        .flatten()
                        .zip(t.landmarks.iter().flatten())
                        .map(|(a, b)| (a - b).abs()),
                )
                .fold(0.0f32, f32::max);
            assert!(
                px <= 1.0,
                "{backend}: {}: box/landmarks differ by {px} px",
                path.display()
            );
            assert!(
                (f.score - t.score).abs() < 1e-3,
                "{backend}: {}: score {} vs {}",
                path.display(),
                f.score,
                t.score
            );
            max_px = max_px.max(px);
            faces_compared += 1;
        }
        if let Some(crop) = crop {
            let raw = vision.embedder.run(std::slice::from_ref(crop)).remove(0);
            let expected = floats(&r["embedding"]);
            let ours_n = Embedding::normalised(raw.clone());
            let theirs_n = Embedding::normalised(expected.clone());
            let d = ours_n
                .0
                .iter()
                .zip(&theirs_n.0)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                d <= 1e-4,
                "{backend}: {}: embedding differs by {d}",
                path.display()
            );
            max_emb = max_emb.max(d);
            let cv2 = Embedding::normalised(floats(&r["cv2_embedding"]));
            let cos = ours_n.cosine(&cv2);
            assert!(
                cos >= 0.995,
                "{backend}: {}: end-to-end cosine vs OpenCV alignment {cos}",
                path.display()
            );
            min_cos = min_cos.min(cos);
        }
    }
    assert!(faces_compared >= 20, "only {faces_compared} faces compared");
    println!(
        "{backend}: {faces_compared} faces, max box/landmark diff {max_px:.4} px, max embedding diff {max_emb:.2e}, min end-to-end cosine {min_cos:.5} (onnxruntime {})",
        reference["onnxruntime"]
    );
}
