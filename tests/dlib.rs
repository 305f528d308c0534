//! Parity of facegate's dlib shape predictor and face chip with the real dlib
//! (PyPI `dlib-bin`, run by `scripts/dlib_reference.py`) on real photos from
//! `../shared/data`: dlib's scene photos, ID portraits, LFW and a dlib "john".
//!
//! The script writes each photo as decoded by PIL (`face_recognition`'s loader)
//! to a lossless PNG, so both sides see the same pixels; it detects the faces
//! with dlib's HOG detector (one upsampling) or takes the rectangles given. For
//! every face: facegate's landmarks from the same rectangle within
//! [`LANDMARK_TOL`] px of dlib's, facegate's 150×150 chip from dlib's landmarks
//! within [`CHIP_TOL`] grey levels of `dlib.get_face_chip`; and facegate's
//! ResNet (imported from dlib's `.dat` by facegate's parser, run on burn)
//! within [`DESCRIPTOR_TOL`] of `compute_face_descriptor`, both on dlib's own
//! chip (the network alone) and on facegate's landmarks and chip (the whole
//! pipeline). One run of the script serves both checks.
//!
//! `FACEGATE_DLIB_LIST=FILE` adds photos (lines `PATH [L,T,R,B ...]`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::reference::floats;
use facegate::vision::dlib::chip::{extract_chip, face_chip_details};
use facegate::vision::dlib::shape::{DlibRect, ShapePredictor};
use facegate::vision::dlib::{self, DlibEmbedder};
use facegate::vision::{Backend, Embedder};
use serde_json::Value;

/// Landmarks, pixels (max over the 5 points and both axes).
const LANDMARK_TOL: f32 = 0.5;
/// Chip pixels, grey levels per channel.
const CHIP_TOL: u8 = 1;
/// Descriptors, max |Δ| over the 128 components (issue #16's bar).
const DESCRIPTOR_TOL: f32 = 1e-3;

/// Photos with the faces dlib's detector finds.
const PHOTOS: [&str; 8] = [
    "dlib-faces/2008_002470.jpg",
    "dlib-faces/2008_007676.jpg",
    "dlib-faces/bald_guys.jpg",
    "dlib-faces/Tom_Cruise_avp_2014_4.jpg",
    "id-photos-wikimedia/person_a_1.jpg",
    "id-photos-wikimedia/person_b_1.jpg",
    "lfw-deepfunneled/Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
    "dlib-johns/John_Simm/000288_00470387.jpg",
];

/// Given rectangles: one hanging over the top-left corner of an LFW photo (the
/// chip runs off the image) and a large one on a portrait (a deeper pyramid).
const GIVEN: [(&str, &str); 2] = [
    (
        "lfw-deepfunneled/Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
        "-30,-20,110,120",
    ),
    ("id-photos-wikimedia/person_b_1.jpg", "60,150,650,740"),
];

fn data() -> PathBuf {
    common::shared_data()
}

/// The dlib venv's interpreter; no silent skip without it.
fn dlib_python() -> String {
    std::env::var("FACEGATE_DLIB_PYTHON").unwrap_or_else(|_| {
        panic!(
            "FACEGATE_DLIB_PYTHON is not set: this test needs dlib; run \
             `source scripts/setup.sh && ensure_dlib_python` first"
        )
    })
}

fn reference(python: &str, out: &Path) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let list = out.join("given.txt");
    let lines: String = GIVEN
        .iter()
        .map(|(p, r)| format!("{} {r}\n", data().join(p).display()))
        .collect();
    // More photos (e.g. a few hundred from LFW) from a list in the script's format.
    let extra = std::env::var("FACEGATE_DLIB_LIST")
        .map(|f| std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{f}: {e}")))
        .unwrap_or_default();
    std::fs::write(&list, lines + &extra).expect("writing the rectangle list");
    let output = Command::new(python)
        .arg(root.join("scripts/dlib_reference.py"))
        .arg("--out")
        .arg(out)
        .arg("--models")
        .arg(root.join("models"))
        .arg("--list")
        .arg(&list)
        .args(PHOTOS.iter().map(|p| data().join(p)))
        .output()
        .unwrap_or_else(|e| panic!("running {python} scripts/dlib_reference.py: {e}"));
    assert!(
        output.status.success(),
        "dlib_reference.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("dlib_reference.py prints JSON")
}

fn rect(v: &Value) -> DlibRect {
    let r: Vec<i64> = v
        .as_array()
        .expect("rect")
        .iter()
        .map(|x| x.as_i64().expect("integer"))
        .collect();
    DlibRect {
        left: r[0],
        top: r[1],
        right: r[2],
        bottom: r[3],
    }
}

fn points(v: &Value) -> Vec<[f32; 2]> {
    v.as_array()
        .expect("landmarks")
        .iter()
        .map(|p| {
            let c = |i: usize| p[i].as_f64().expect("coordinate") as f32;
            [c(0), c(1)]
        })
        .collect()
}

fn shape_predictor() -> ShapePredictor {
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/shape_predictor_5_face_landmarks.dat");
    let bytes = std::fs::read(&model).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (scripts/seed_models.py dlib fetches it)",
            model.display()
        )
    });
    ShapePredictor::from_bytes(&bytes).expect("parsing the shape predictor")
}

#[test]
fn landmarks_chips_and_descriptors_match_dlib() {
    let python = dlib_python();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dlib-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("creating the work directory");
    let reference = reference(&python, &out);
    landmarks_and_chips(&reference);
    descriptors(&reference);
    let _ = std::fs::remove_dir_all(&out); // kept to look at if a check failed
}

fn landmarks_and_chips(reference: &Value) {
    let sp = shape_predictor();
    assert_eq!(sp.num_parts(), 5);

    let (mut faces, mut given) = (0, 0);
    let (mut worst_px, mut worst_grey, mut off_pixels, mut chip_pixels) =
        (0f32, 0u8, 0usize, 0usize);
    let mut worst_details = 0f64;
    let mut failures = Vec::new();
    for image in reference["images"].as_array().expect("images") {
        let path = image["path"].as_str().expect("path");
        let rgb = image::open(image["rgb"].as_str().expect("rgb"))
            .expect("decoding the PNG")
            .to_rgb8();
        for (j, face) in image["faces"].as_array().expect("faces").iter().enumerate() {
            faces += 1;
            given += usize::from(face["source"] == "given");
            let r = rect(&face["rect"]);
            let want = points(&face["landmarks"]);
            let got = sp.predict(&rgb, r);
            let err = got
                .iter()
                .zip(&want)
                .flat_map(|(g, w)| [(g[0] - w[0]).abs(), (g[1] - w[1]).abs()])
                .fold(0f32, f32::max);
            worst_px = worst_px.max(err);
            if err > LANDMARK_TOL {
                failures.push(format!(
                    "{path} face {j} {r:?}: landmarks {got:?}, dlib {want:?}"
                ));
            }

            // The chip from dlib's own landmarks, so it tests the chip alone.
            let details = face_chip_details(&want, 150, 0.25).expect("5 landmarks");
            let dd = &face["chip_details"];
            let dr: Vec<f64> = dd["rect"]
                .as_array()
                .expect("rect")
                .iter()
                .map(|v| v.as_f64().expect("number"))
                .collect();
            let ours = [
                details.rect.left,
                details.rect.top,
                details.rect.right,
                details.rect.bottom,
            ];
            let d_err = ours.iter().zip(&dr).map(|(a, b)| (a - b).abs()).fold(
                (details.angle - dd["angle"].as_f64().expect("angle")).abs(),
                f64::max,
            );
            worst_details = worst_details.max(d_err);
            let chip = extract_chip(&rgb, &details);
            let want_chip = image::open(face["chip"].as_str().expect("chip"))
                .expect("chip PNG")
                .to_rgb8();
            assert_eq!(chip.dimensions(), want_chip.dimensions(), "{path} face {j}");
            let mut grey = 0u8;
            for (a, b) in chip.as_raw().iter().zip(want_chip.as_raw()) {
                let d = a.abs_diff(*b);
                grey = grey.max(d);
                off_pixels += usize::from(d != 0);
            }
            chip_pixels += want_chip.as_raw().len();
            worst_grey = worst_grey.max(grey);
            if grey > CHIP_TOL {
                failures.push(format!(
                    "{path} face {j}: chip differs by {grey} grey levels"
                ));
            }
        }
    }
    eprintln!(
        "dlib parity: {faces} faces ({given} on given rectangles) in {} photos; landmarks max |Δ| \
         {worst_px} px; chip details max |Δ| {worst_details:.3e}; chips max |Δ| {worst_grey} grey \
         levels, {off_pixels} of {chip_pixels} channel values differ",
        reference["images"].as_array().map_or(0, Vec::len),
    );
    assert!(
        faces >= 40,
        "only {faces} faces: dlib's detector found fewer than expected"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn descriptors(reference: &Value) {
    let paths = common::models();
    let device = Backend::default().device().expect("backend");
    let model = dlib::import(&paths, &device)
        .expect("importing dlib's ResNet")
        .expect("models/dlib_face_recognition_resnet_model_v1.dat (scripts/seed_models.py dlib)");
    let embedder = DlibEmbedder::from_parts(model, shape_predictor(), device);
    assert_eq!(embedder.info().dim, 128);

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
        let own_chips: Vec<_> = faces_here
            .iter()
            .map(|f| {
                let shape = embedder.landmarks(&rgb, rect(&f["rect"]));
                let details = face_chip_details(&shape, 150, 0.25).expect("5 points");
                extract_chip(&rgb, &details)
            })
            .collect();
        let on_dlib_chips = embedder.descriptors(&dlib_chips);
        let end_to_end = embedder.descriptors(&own_chips);
        assert_eq!(on_dlib_chips.len(), faces_here.len());
        assert_eq!(end_to_end.len(), faces_here.len());
        for ((f, net), all) in faces_here.iter().zip(&on_dlib_chips).zip(&end_to_end) {
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

/// dlib's `face_recognition` as the accuracy report runs it
/// (`scripts/accuracy_dlib.py`): its descriptors of the johns written as an
/// embeddings file, which `facegate calibrate --embeddings` scores with no
/// model of facegate's: 0 errors (README, *Accuracy*), every chip with a face.
#[test]
fn dlib_reference_embeddings_are_scored_by_calibrate() {
    let python = dlib_python();
    let dir = common::TempDir::new("dlib-reference-embeddings");
    let johns = data().join("dlib-johns");
    let file = dir.path().join("dlib.tsv");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(&python)
        .arg(root.join("scripts/accuracy_dlib.py"))
        .arg(&johns)
        .arg("largest")
        .arg(&file)
        .status()
        .expect("running accuracy_dlib.py");
    assert!(status.success());
    let out = common::facegate()
        .arg("--models")
        .arg(dir.path().join("no-models"))
        .args(["--json", "calibrate"])
        .arg(&johns)
        .arg("--embeddings")
        .arg(&file)
        .output()
        .expect("facegate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["photos"], 55, "{v}");
    assert_eq!(v["photos_without_face"], 0, "{v}");
    assert_eq!(v["calibration"]["eer"].as_f64(), Some(0.0), "{v}");
}
