//! Parity of facegate's dlib ResNet (imported from dlib's own `.dat` by
//! facegate's parser, run on burn) with the real dlib: PyPI `dlib-bin`'s
//! `compute_face_descriptor`, run by `scripts/dlib_reference.py`, on every
//! face dlib's detector finds in real photos of `../shared/data`.
//!
//! Two checks per face: the network alone (on dlib's own chip) and the whole
//! pipeline (facegate's landmarks from dlib's rectangle, facegate's chip,
//! facegate's network), each within [`DESCRIPTOR_TOL`] of dlib's descriptor.

use std::path::{Path, PathBuf};
use std::process::Command;

use facegate::vision::dlib::{self, DlibRect, ShapePredictor, chip};
use facegate::vision::{Backend, Embedder, ModelPaths};
use serde_json::Value;

/// Max |Δ| over the 128 components (issue #16's bar).
const DESCRIPTOR_TOL: f32 = 1e-3;

const PHOTOS: [&str; 4] = [
    "dlib-faces/bald_guys.jpg",
    "id-photos-wikimedia/person_a_1.jpg",
    "lfw-deepfunneled/Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
    "dlib-johns/John_Simm/000288_00470387.jpg",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn reference(out: &Path) -> Value {
    let Ok(python) = std::env::var("FACEGATE_DLIB_PYTHON") else {
        panic!(
            "FACEGATE_DLIB_PYTHON is not set: this test needs dlib; run \
             `source scripts/setup.sh && ensure_dlib_python` first"
        );
    };
    let data = root().join("../shared/data");
    let output = Command::new(&python)
        .arg(root().join("scripts/dlib_reference.py"))
        .arg("--out")
        .arg(out)
        .arg("--models")
        .arg(root().join("models"))
        .args(PHOTOS.iter().map(|p| data.join(p)))
        .output()
        .unwrap_or_else(|e| panic!("running {python} scripts/dlib_reference.py: {e}"));
    assert!(
        output.status.success(),
        "dlib_reference.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("dlib_reference.py prints JSON")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn descriptors_match_dlib() {
    let paths = ModelPaths::new(root().join("models"));
    let device = Backend::default().device().expect("backend");
    let model = dlib::import(&paths, &device)
        .expect("importing dlib's ResNet")
        .expect("models/dlib_face_recognition_resnet_model_v1.dat (scripts/seed_models.py dlib)");
    let bytes = std::fs::read(paths.file(dlib::SHAPE_FILE, "dat")).expect("shape predictor");
    let shapes = ShapePredictor::from_bytes(&bytes).expect("parsing the shape predictor");
    let embedder = dlib::DlibEmbedder::from_parts(model, shapes, device);
    assert_eq!(embedder.info().dim, 128);

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dlib_descriptors");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("creating the work directory");
    let reference = reference(&out);

    let (mut faces, mut worst_net, mut worst_all) = (0, 0f32, 0f32);
    for image in reference["images"].as_array().expect("images") {
        let rgb = image::open(image["rgb"].as_str().expect("rgb"))
            .expect("decoding the PNG")
            .to_rgb8();
        let faces_here = image["faces"].as_array().expect("faces");
        let dlib_chips: Vec<_> = faces_here
            .iter()
            .map(|f| {
                image::open(f["chip"].as_str().expect("chip"))
                    .expect("chip PNG")
                    .to_rgb8()
            })
            .collect();
        let ours_on_dlib_chips = embedder.descriptors(&dlib_chips);
        let own_chips: Vec<_> = faces_here
            .iter()
            .map(|f| {
                let r: Vec<i64> = f["rect"]
                    .as_array()
                    .expect("rect")
                    .iter()
                    .map(|v| v.as_i64().expect("integer"))
                    .collect();
                let rect = DlibRect {
                    left: r[0],
                    top: r[1],
                    right: r[2],
                    bottom: r[3],
                };
                let shape = embedder.landmarks(&rgb, rect);
                let details = chip::face_chip_details(&shape, 150, 0.25).expect("5 points");
                chip::extract_chip(&rgb, &details)
            })
            .collect();
        let ours_end_to_end = embedder.descriptors(&own_chips);
        assert_eq!(ours_on_dlib_chips.len(), faces_here.len());
        assert_eq!(ours_end_to_end.len(), faces_here.len());
        for ((f, net), all) in faces_here
            .iter()
            .zip(&ours_on_dlib_chips)
            .zip(&ours_end_to_end)
        {
            let want = floats(&f["descriptor"]);
            worst_net = worst_net.max(max_diff(net, &want));
            worst_all = worst_all.max(max_diff(all, &want));
            faces += 1;
        }
    }
    eprintln!(
        "dlib descriptors, {faces} faces: network on dlib's chips max |Δ| {worst_net:.2e}; \
         facegate's landmarks + chip + network max |Δ| {worst_all:.2e}"
    );
    assert!(faces >= 25, "only {faces} faces found by dlib");
    assert!(
        worst_net <= DESCRIPTOR_TOL,
        "network: max |Δ| {worst_net} > {DESCRIPTOR_TOL}"
    );
    assert!(
        worst_all <= DESCRIPTOR_TOL,
        "whole pipeline: max |Δ| {worst_all} > {DESCRIPTOR_TOL}"
    );
}
