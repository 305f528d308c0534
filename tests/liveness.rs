//! Liveness (MiniFASNet V2 + V1SE) against upstream's own code, and its
//! error rates on `../shared/data/spoof` as the README states them.
//!
//! Parity: every image of the spoof set and two ID photos, decoded by
//! facegate and written as PNG; facegate's detector gives the face box; then
//! `scripts/generate_reference_liveness.py` runs upstream's `CropImage`
//! (OpenCV) and upstream's `MiniFASNet.py` with the original `.pth` weights
//! (PyTorch, venv-torch), imported from the model mirror. Checked: the crop
//! boxes are upstream's exactly, the crops within [`CROP_TOL`] grey levels,
//! the fp32 logits on upstream's crops within [`LOGIT_TOL`], the int8 live
//! probabilities within [`INT8_TOL`] with the same verdict at the default
//! threshold.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::reference::floats;
use facegate::liveness::DEFAULT_THRESHOLD;
use facegate::vision::minifasnet::{self, Passive, crop};
use facegate::vision::pipeline::load_detector;
use facegate::vision::{
    Backend, Detection, DetectorConfig, DetectorKind, LoadOptions, Precision, picture,
};
use serde_json::{Value, json};

/// Crop pixels, grey levels (OpenCV's fixed-point resize, replayed).
const CROP_TOL: i32 = 1;
/// fp32 logits on identical crops (the bar).
const LOGIT_TOL: f32 = 1e-4;
/// int8 live probability against upstream's fp32.
const INT8_TOL: f32 = 0.05;

fn images() -> Vec<PathBuf> {
    let data = common::shared_data();
    let mut out = Vec::new();
    for sub in ["spoof/live", "spoof/spoof"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(data.join(sub))
            .unwrap_or_else(|e| panic!("{sub}: {e}"))
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        out.extend(files);
    }
    out.push(data.join("id-photos-wikimedia/person_a_1.jpg"));
    out.push(data.join("id-photos-wikimedia/person_b_2.jpg"));
    out
}

fn python(step: &str, interpreter: &Path, job: &Path, out: &Path) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/generate_reference_liveness.py");
    let run = Command::new(interpreter)
        .arg(&script)
        .arg(step)
        .arg(job)
        .arg(out)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", interpreter.display()));
    assert!(
        run.status.success(),
        "generate_reference_liveness.py {step} failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn json_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn crops_and_logits_match_upstreams_opencv_and_pytorch() {
    let models = common::models();
    let options = |p| LoadOptions::new(Backend::default(), p, DetectorConfig::default());
    let detector = load_detector(DetectorKind::Retinaface, &models, &options(Precision::Int8))
        .expect("detector");
    let fp32 = Passive::load(&models, &options(Precision::Fp32)).expect("liveness fp32");
    let int8 = Passive::load(&models, &options(Precision::Int8)).expect("liveness int8");
    let work = common::TempDir::new("liveness-ref");

    // facegate's pixels and boxes, for the reference to start from.
    let mut decoded = Vec::new();
    let mut job = Vec::new();
    for (i, path) in images().iter().enumerate() {
        let img = picture::load(path).unwrap_or_else(|e| panic!("{e}"));
        let found = detector.detect(&img);
        let Some(face) = Detection::largest(&found).copied() else {
            continue;
        };
        let png = work.path().join(format!("img{i}.png"));
        img.save(&png).expect("writing PNG");
        // As f64: the reference computes in Python floats from these values.
        job.push(json!({"png": png, "bbox": face.bbox.map(f64::from)}));
        decoded.push((path.clone(), img, face.bbox));
    }
    assert!(
        decoded.len() >= 55,
        "faces found in only {} images",
        decoded.len()
    );
    let job_path = work.path().join("job.json");
    std::fs::write(&job_path, json!({"images": job}).to_string()).expect("job");
    let tools = std::env::var("FACEGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    python("crops", Path::new(&tools), &job_path, work.path());
    python(
        "logits",
        &common::reference::torch_python(),
        &job_path,
        work.path(),
    );
    let boxes = json_file(&work.path().join("crops.json"));
    let logits = json_file(&work.path().join("logits.json"));

    let (mut worst_grey, mut off_by_one, mut pixels) = (0i32, 0usize, 0usize);
    let (mut worst_logit, mut worst_int8, mut worst_end) = (0f32, 0f32, 0f32);
    let mut failures = Vec::new();
    for (i, (path, img, bbox)) in decoded.iter().enumerate() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let ours = Passive::crops(img, *bbox).expect("crops");
        let reference = &logits[i];
        let mut int8_live = [0f32; 2];
        for (m, key) in ["v2", "v1se"].iter().enumerate() {
            let variant = minifasnet::Variant::ALL[m];
            let want_box: Vec<u32> = boxes[i][key]
                .as_array()
                .expect("box")
                .iter()
                .map(|v| v.as_u64().expect("int") as u32)
                .collect();
            let got_box = crop::crop_box(img.width(), img.height(), *bbox, variant.crop_scale());
            if got_box.map(|b| b.to_vec()) != Some(want_box.clone()) {
                failures.push(format!(
                    "{name} {key}: box {got_box:?}, upstream {want_box:?}"
                ));
            }
            let theirs = image::open(work.path().join(format!("{i}_{key}.png")))
                .expect("reference crop")
                .to_rgb8();
            for (a, b) in ours[m].as_raw().iter().zip(theirs.as_raw()) {
                let d = (i32::from(*a) - i32::from(*b)).abs();
                worst_grey = worst_grey.max(d);
                off_by_one += usize::from(d > 0);
                pixels += 1;
            }
            // The network alone: upstream's crop through our fp32 model.
            let got = fp32.logits(m, std::slice::from_ref(&theirs)).remove(0);
            let want = floats(&reference[key]["logits"]);
            let d = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            worst_logit = worst_logit.max(d);
            if d > LOGIT_TOL {
                failures.push(format!("{name} {key}: logits {got:?}, upstream {want:?}"));
            }
            let p8 =
                minifasnet::live_probability(&int8.logits(m, std::slice::from_ref(&theirs))[0])
                    .expect("probability");
            let want_p = floats(&reference[key]["softmax"])[1];
            worst_int8 = worst_int8.max((p8 - want_p).abs());
            int8_live[m] = p8;
        }
        // int8 verdict on upstream's crops, and the whole path (our crops).
        let want_live = reference["value"].as_f64().expect("value") as f32;
        let want_label = reference["label"].as_u64().expect("label");
        let up_live = if want_label == 1 { want_live } else { -1.0 };
        let p_int8 = (int8_live[0] + int8_live[1]) / 2.0;
        let ours_live = fp32.score(img, *bbox).expect("score").live;
        let up_mean = (floats(&reference["v2"]["softmax"])[1]
            + floats(&reference["v1se"]["softmax"])[1])
            / 2.0;
        worst_end = worst_end.max((ours_live - up_mean).abs());
        if (p_int8 >= DEFAULT_THRESHOLD) != (up_mean >= DEFAULT_THRESHOLD) {
            failures.push(format!(
                "{name}: int8 live {p_int8:.3}, upstream {up_mean:.3} (label {want_label}, {up_live:.3})"
            ));
        }
    }
    println!(
        "{} faces: crop boxes equal; crops max |d| {worst_grey} grey ({off_by_one} of {pixels} values off); \
         fp32 logits max |d| {worst_logit:.2e}; int8 live probability max |d| {worst_int8:.4}; \
         whole path (our crops, fp32) live score max |d| {worst_end:.4}",
        decoded.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        worst_grey <= CROP_TOL,
        "crops differ by {worst_grey} grey levels"
    );
    assert!(worst_int8 <= INT8_TOL, "int8 differs by {worst_int8}");
}

/// The terminal on the sim board, a replayed approach of an enrolled person.
/// The attacker holds up a print of the enrolment photo, so recognition
/// matches by construction: only liveness stands between the print and the
/// door. Outcome read from the relay record and the event log.
mod terminal {
    use super::common::scene::Scene;
    use facegate::events::EventKind;

    const LIVE: &str = "siwm_race_Live_Test_Live_670_5c33489.jpg";
    const PRINT: &str = "siwm_race-test_Spoof_Paper_Paper_118_0f6cf82.jpg";

    fn scene(tag: &str, picture: &str, extra: &str) -> Scene {
        let spoof = super::common::shared_data().join("spoof");
        let photo = match picture {
            LIVE => spoof.join("live").join(LIVE),
            _ => spoof.join("spoof").join(PRINT),
        };
        Scene::with_people(
            tag,
            &[("Visitor", photo.clone())],
            &[photo],
            &format!("{picture} x12\nblank x3\n"),
            "",
            &format!("fps = 10\n{extra}"),
        )
    }

    #[test]
    fn a_print_of_an_enrolled_person_is_refused_as_not_live() {
        let out = scene("live-print", PRINT, "").run();
        assert_eq!(out.count(EventKind::NotLive), 1, "{:?}", out.kinds());
        assert_eq!(out.count(EventKind::Granted), 0, "{:?}", out.kinds());
        assert!(
            out.relay_levels().iter().all(|high| !high),
            "relay moved: {:?}",
            out.relay
        );
        let e = out
            .events
            .iter()
            .find(|e| e.kind == EventKind::NotLive)
            .unwrap();
        assert_eq!(e.name.as_deref(), Some("Visitor"));
        assert!(out.shown("denied"), "screens: {:?}", out.screens);
    }

    #[test]
    fn the_same_print_opens_the_door_with_liveness_off() {
        let out = scene("live-off", PRINT, "[liveness]\nmode = \"off\"").run();
        assert_eq!(out.count(EventKind::Granted), 1, "{:?}", out.kinds());
        assert_eq!(out.count(EventKind::NotLive), 0);
        assert!(out.pulse_ms() > 0);
    }

    #[test]
    fn a_live_enrolled_person_is_let_in() {
        let out = scene("live-ok", LIVE, "").run();
        assert_eq!(out.count(EventKind::Granted), 1, "{:?}", out.kinds());
        assert_eq!(out.count(EventKind::NotLive), 0);
        assert!(out.pulse_ms() > 0);
    }
}

/// README, *Liveness*: on the spoof set at the default threshold (int8), no
/// attack accepted and only the two 256-px face crops without context
/// rejected among the live images; every ID photo live.
#[test]
fn spoof_set_and_id_photos_give_the_readmes_error_rates() {
    let data = common::shared_data();
    let run = Command::new(env!("CARGO_BIN_EXE_facegate"))
        .arg("--models")
        .arg(common::models().dir())
        .args(["--json", "calibrate-liveness"])
        .arg(data.join("spoof"))
        .arg("--bona-fide")
        .arg(data.join("id-photos-wikimedia"))
        .output()
        .expect("running facegate");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: Value = serde_json::from_slice(&run.stdout).expect("JSON");
    let r = &v["report"];
    println!(
        "{}",
        serde_json::to_string_pretty(&r["overall"]).unwrap_or_default()
    );
    let count = |group: &Value, key: &str| group[key].as_u64().expect(key);
    let overall = &r["overall"];
    assert_eq!(
        (
            count(overall, "attacks"),
            count(overall, "attacks_accepted")
        ),
        (19, 0)
    );
    assert_eq!(
        (
            count(overall, "bona_fide"),
            count(overall, "bona_fide_rejected")
        ),
        (48, 2)
    );
    assert_eq!(count(overall, "no_face"), 0);
    let ids = &r["per_source"]["id-photos-wikimedia"];
    assert_eq!(
        (count(ids, "bona_fide"), count(ids, "bona_fide_rejected")),
        (6, 0)
    );
    let mut rejected: Vec<&str> = r["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["file"].as_str().expect("file"))
        .collect();
    rejected.sort();
    assert_eq!(
        rejected,
        [
            "live/siwm_demo_1_24484cc.png",
            "live/siwm_demo_20_30bef71.png"
        ]
    );
    assert_eq!(
        r["threshold"].as_f64().map(|t| t as f32),
        Some(DEFAULT_THRESHOLD)
    );
}
