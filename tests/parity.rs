//! Parity of the burn models and facegate's YuNet decoding with independent
//! implementations.
//!
//! facegate decodes each picture, writes it losslessly with its aligned crop, and
//! `scripts/generate_reference.py` runs on exactly those pixels:
//!
//! * onnxruntime with the original int8bq YuNet: the raw network outputs (class,
//!   objectness, box and landmark maps of the three strides) must match
//!   facegate's `Detector::run` within [`RAW_TOL`];
//! * OpenCV's `cv2.FaceDetectorYN` (its own network run, decoding and NMS) at
//!   the picture's size, so it only pads, as facegate does: the same faces, boxes
//!   and landmarks within [`PX_TOL`] px, scores within [`SCORE_TOL`], as
//!   facegate's `Detector::detect`;
//! * onnxruntime with the original int8bq SFace on facegate's crop: embeddings
//!   within 1e-4 per component; end to end (our alignment vs an OpenCV
//!   `warpAffine` crop from OpenCV's landmarks) cosine ≥ 0.995.

mod common;

use std::path::Path;
use std::process::Command;

use common::reference::floats;
use facegate::vision::detection::iou;
use facegate::vision::yunet::DetectorInput;
use facegate::vision::{
    Backend, Detection, DetectorConfig, Embedder, Embedding, LoadOptions, Precision, SFaceEmbedder,
    YuNetDetector, align, picture,
};
use serde_json::{Value, json};

/// Raw network outputs vs onnxruntime: absolute, on every value (class and
/// objectness after the sigmoid; box and landmark offsets in stride units).
const RAW_TOL: f32 = 1e-3;
/// Boxes and landmarks vs `FaceDetectorYN`, pixels. Both sides see the same
/// pixels and the same weights, so only float rounding differs (about 1e-4 px
/// between onnxruntime's outputs decoded and FaceDetectorYN); a decoding
/// convention off by half a pixel fails.
const PX_TOL: f32 = 0.05;
/// Scores vs `FaceDetectorYN`.
const SCORE_TOL: f32 = 1e-4;
/// YuNet file OpenCV runs (models/onnx).
const OPENCV_YUNET: &str = "face_detection_yunet_2023mar_int8bq.onnx";
/// The head outputs in the order of facegate's 16 map channels per stride.
const HEADS: [(&str, usize); 4] = [("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)];

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

/// Largest difference between facegate's maps for one picture and onnxruntime's
/// outputs (`{head}_{stride}` files of `[1, cells, channels]`).
fn raw_difference(ours: &[Vec<f32>], raw: &Value, work: &Path, what: &str) -> f32 {
    assert_eq!(ours.len(), 3, "{what}: one map per stride");
    let mut worst = 0.0f32;
    for (map, stride) in ours.iter().zip([8, 16, 32]) {
        let cells = map.len() / 16;
        let mut channel = 0;
        for (head, channels) in HEADS {
            let out = &raw[format!("{head}_{stride}")];
            let shape: Vec<u64> = out["shape"]
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_u64().expect("dim"))
                .collect();
            assert_eq!(
                shape,
                [1, cells as u64, channels as u64],
                "{what}: {head}_{stride} shape"
            );
            let bytes =
                std::fs::read(work.join(out["file"].as_str().expect("file"))).expect("raw output");
            let theirs: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            for k in 0..channels {
                for i in 0..cells {
                    let d = (map[(channel + k) * cells + i] - theirs[i * channels + k]).abs();
                    assert!(
                        d <= RAW_TOL,
                        "{what}: {head}_{stride}[{i}, {k}] differs by {d}"
                    );
                    worst = worst.max(d);
                }
            }
            channel += channels;
        }
    }
    worst
}

#[test]
fn burn_models_match_onnxruntime_and_opencv() {
    for backend in Backend::available() {
        check_backend(backend);
    }
}

fn check_backend(backend: Backend) {
    // The concrete models: their raw outputs are compared.
    let options = LoadOptions::new(backend, Precision::Fp32, config());
    let detector = YuNetDetector::load(&common::models(), &options).expect("YuNet");
    let embedder = SFaceEmbedder::load(&common::models(), &options).expect("SFace");
    let work = common::TempDir::new("parity");
    let mut items = Vec::new();
    let mut ours = Vec::new();
    let mut maps = Vec::new();
    for (n, path) in common::parity_pictures().iter().enumerate() {
        let img = picture::load(path).expect("decode");
        let id = format!("{n:02}");
        img.save(work.path().join(format!("{id}.png")))
            .expect("write png");
        let faces = detector.detect(&img);
        let input = DetectorInput::new(&img, &detector.config);
        assert_eq!(input.scale, 1.0, "{}: resized", path.display());
        maps.push(detector.run(input));
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
    let cfg = detector.config;
    let manifest = json!({
        "detector": {"score_threshold": cfg.score_threshold, "nms_threshold": cfg.nms_threshold, "top_k": cfg.top_k},
        "opencv_yunet": OPENCV_YUNET,
        "items": items,
    });
    std::fs::write(work.path().join("manifest.json"), manifest.to_string()).expect("manifest");
    let reference = reference(work.path());

    let (mut faces_compared, mut max_px, mut max_emb, mut min_cos) = (0, 0.0f32, 0.0f32, 1.0f32);
    let (mut max_raw, mut max_score) = (0.0f32, 0.0f32);
    for (n, (path, faces, crop)) in ours.iter().enumerate() {
        let r = &reference["results"][format!("{n:02}")];
        let what = format!("{backend}: {}", path.display());
        max_raw = max_raw.max(raw_difference(&maps[n], &r["raw"], work.path(), &what));
        let theirs: Vec<Detection> = r["detections"]
            .as_array()
            .expect("detections")
            .iter()
            .map(|d| common::reference::detection(d, "bbox"))
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
                px <= PX_TOL,
                "{backend}: {}: box/landmarks differ by {px} px from FaceDetectorYN",
                path.display()
            );
            let ds = (f.score - t.score).abs();
            assert!(
                ds <= SCORE_TOL,
                "{backend}: {}: score {} vs FaceDetectorYN {}",
                path.display(),
                f.score,
                t.score
            );
            max_px = max_px.max(px);
            max_score = max_score.max(ds);
            faces_compared += 1;
        }
        if let Some(crop) = crop {
            let raw = embedder.run(std::slice::from_ref(crop)).remove(0);
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
        "{backend}: raw YuNet outputs vs onnxruntime {}: max diff {max_raw:.2e}; \
         {faces_compared} faces vs OpenCV {} FaceDetectorYN ({}): max box/landmark diff {max_px:.4} px, \
         max score diff {max_score:.2e}; max embedding diff {max_emb:.2e}, min end-to-end cosine {min_cos:.5}",
        reference["onnxruntime"], reference["opencv"], reference["opencv_yunet"]
    );
}
