//! Enrolment and identification on real photos.

mod common;

use std::path::{Path, PathBuf};

use facegate::enroll::{self, Outcome};
use facegate::gallery::{Gallery, Index, Policy};
use facegate::vision::sface::{EMBEDDING_DIM, MODEL_ID};
use facegate::vision::{Backend, DetectorConfig, picture};
use serde_json::Value;

/// dlib's johns, all but the last photo of each person, copied into `root`;
/// returns the held-back photos with their person.
fn johns_without_last(root: &Path) -> Vec<(String, PathBuf)> {
    let src = common::shared_data().join("dlib-johns");
    let mut held = Vec::new();
    let mut people: Vec<_> = std::fs::read_dir(&src)
        .expect("johns")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    people.sort();
    for dir in people {
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let mut photos = common::images_in(&dir);
        let last = photos.pop().expect("photos");
        std::fs::create_dir_all(root.join(&name)).expect("mkdir");
        for p in photos {
            std::fs::copy(&p, root.join(&name).join(p.file_name().expect("file"))).expect("copy");
        }
        held.push((name, last));
    }
    held
}

fn new_gallery() -> Gallery {
    Gallery::new(
        MODEL_ID,
        facegate::vision::sface::WEIGHTS_SHA256,
        EMBEDDING_DIM as u16,
        facegate::vision::VisionConfig::default().default_threshold(),
    )
}

#[test]
fn enrolled_johns_identify_their_held_back_photos() {
    let vision = common::vision(Backend::default(), DetectorConfig::default());
    let dir = common::TempDir::new("johns");
    let held = johns_without_last(dir.path());
    let mut seen = 0;
    let (gallery, report) = enroll::enroll(
        &vision,
        dir.path(),
        new_gallery(),
        &enroll::Options::default(),
        |_| seen += 1,
    )
    .expect("enrol");
    assert_eq!(seen, 50);
    assert_eq!(
        report.counts(),
        (50, 0, 0, 0),
        "{:#?}",
        report
            .files
            .iter()
            .filter(|f| f.outcome != Outcome::Enrolled)
            .collect::<Vec<_>>()
    );
    assert!(report.lookalikes.is_empty(), "{:?}", report.lookalikes);
    assert_eq!(gallery.persons().len(), 5);
    let index = Index::new(&gallery);
    for (name, photo) in &held {
        let img = picture::load(photo).expect("decode");
        let face = vision.largest_face(&img, "held").expect("face");
        let top = index.search(&face.embedding, 5);
        assert_eq!(
            gallery.persons()[top[0].person].name.as_str(),
            name,
            "{}",
            photo.display()
        );
        assert!(
            top[0].score >= gallery.header().threshold,
            "{name}: {}",
            top[0].score
        );
        assert!(
            top[1].score < gallery.header().threshold,
            "{name}: runner-up {}",
            top[1].score
        );
    }

    // Saved, reloaded, updated: unchanged photos keep their templates.
    let path = dir.path().join("g.fgal");
    gallery.save(&path, None).expect("save");
    let previous = Gallery::load(&path, &Policy::default()).expect("load");
    let options = enroll::Options {
        previous: Some(previous),
        ..Default::default()
    };
    let (updated, report) =
        enroll::enroll(&vision, dir.path(), new_gallery(), &options, |_| {}).expect("update");
    assert_eq!(report.counts(), (0, 50, 0, 0));
    assert_eq!(updated.header().version, gallery.header().version + 1);
    assert_eq!(updated.persons(), gallery.persons());
}

#[test]
fn bad_files_are_reported_and_skipped() {
    let vision = common::vision(Backend::default(), DetectorConfig::default());
    let dir = common::TempDir::new("badfiles");
    let ids = common::shared_data().join("id-photos-wikimedia");
    let a = dir.path().join("Person A");
    std::fs::create_dir_all(&a).expect("mkdir");
    std::fs::copy(ids.join("person_a_1.jpg"), a.join("a1.JPG")).expect("copy");
    let bytes = std::fs::read(ids.join("person_a_2.jpg")).expect("read");
    std::fs::write(a.join("a2-truncated.jpg"), &bytes[..bytes.len() / 2]).expect("write");
    std::fs::write(a.join("notes.txt"), "badge 1234").expect("write");
    std::fs::write(a.join("fake.png"), "not a png").expect("write");
    let b = dir.path().join("Person B");
    std::fs::create_dir_all(&b).expect("mkdir");
    std::fs::copy(ids.join("person_b_1.jpg"), b.join("b1.jpeg")).expect("copy");
    let empty = dir.path().join("Nobody");
    std::fs::create_dir_all(&empty).expect("mkdir");
    image::RgbImage::from_pixel(200, 200, image::Rgb([120, 120, 120]))
        .save(empty.join("wall.png"))
        .expect("png");

    let (gallery, report) = enroll::enroll(
        &vision,
        dir.path(),
        new_gallery(),
        &enroll::Options::default(),
        |_| {},
    )
    .expect("enrol");
    let outcome = |file: &str| {
        report
            .files
            .iter()
            .find(|f| f.file.file_name().is_some_and(|n| n == file))
            .map(|f| f.outcome.clone())
            .expect(file)
    };
    assert_eq!(outcome("a1.JPG"), Outcome::Enrolled);
    assert!(matches!(outcome("a2-truncated.jpg"), Outcome::Failed(r) if r.contains("truncated")));
    assert!(matches!(outcome("notes.txt"), Outcome::Skipped(r) if r.contains("not a photo")));
    assert!(matches!(outcome("fake.png"), Outcome::Failed(r) if r.contains("not a JPEG or PNG")));
    assert!(matches!(outcome("wall.png"), Outcome::Failed(r) if r.contains("no face")));
    assert_eq!(report.empty_persons, vec!["Nobody".to_string()]);
    let names: Vec<&str> = gallery.persons().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["Person A", "Person B"]);
}

fn facegate(args: &[&str]) -> (i32, String, String) {
    let out = common::facegate()
        .arg("--models")
        .arg(common::models().dir())
        .args(args)
        .output()
        .expect("run facegate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_enrol_sign_identify_and_verify() {
    let dir = common::TempDir::new("cli-gallery");
    common::alice_and_bob(dir.path());
    let ids = common::shared_data().join("id-photos-wikimedia");
    let p = |s: &str| dir.path().join(s).display().to_string();
    let (code, _, err) = facegate(&["keygen", "--out", &p("site")]);
    assert_eq!(code, 0, "{err}");
    std::fs::create_dir_all(dir.path().join("keys")).expect("mkdir");
    std::fs::copy(
        dir.path().join("site.pub"),
        dir.path().join("keys/site.pub"),
    )
    .expect("copy");
    let (code, out, err) = facegate(&[
        "enroll",
        &p("photos"),
        "--out",
        &p("g.fgal"),
        "--sign",
        &p("site.key"),
        "--report",
        &p("report.json"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(report["files"].as_array().map(Vec::len), Some(2));

    let (code, out, err) = facegate(&[
        "--json",
        "identify",
        &ids.join("person_a_2.jpg").display().to_string(),
        "--gallery",
        &p("g.fgal"),
        "--keys",
        &p("keys"),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["faces"][0]["ranked"][0]["name"], "Alice", "{v}");
    assert_eq!(v["faces"][0]["decision"]["person"], "Alice", "{v}");
    for impostor in ["impostor_1.jpg", "impostor_2.jpg"] {
        let (code, out, err) = facegate(&[
            "--json",
            "identify",
            &ids.join(impostor).display().to_string(),
            "--gallery",
            &p("g.fgal"),
        ]);
        assert_eq!(code, 2, "unknown signer refused without --keys: {out}");
        assert!(err.contains("unknown key"), "{err}");
        let (code, out, _) = facegate(&[
            "--json",
            "identify",
            &ids.join(impostor).display().to_string(),
            "--gallery",
            &p("g.fgal"),
            "--keys",
            &p("keys"),
        ]);
        assert_eq!(code, 0);
        let v: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["faces"][0]["decision"], "unknown", "{impostor}: {v}");
    }

    let (code, out, _) = facegate(&[
        "gallery",
        "verify",
        &p("g.fgal"),
        "--keys",
        &p("keys"),
        "--require-signature",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = facegate(&["--json", "gallery", "stats", &p("g.fgal")]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert!(
        v["bytes_per_template"].as_f64().expect("number") <= 400.0,
        "{v}"
    );
    assert_eq!(v["signed"], true, "{v}");
    let (code, _, err) = facegate(&[
        "gallery",
        "rename",
        &p("g.fgal"),
        "Bob",
        "Robert",
        "--sign",
        &p("site.key"),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = facegate(&["gallery", "list", &p("g.fgal")]);
    assert_eq!(code, 0, "inspecting needs no key: {out}");
    assert!(out.contains("Robert") && !out.contains("Bob"), "{out}");

    // Tampering is refused with a clear message.
    let mut bytes = std::fs::read(dir.path().join("g.fgal")).expect("read");
    let n = bytes.len();
    bytes[n / 2] ^= 0x10;
    std::fs::write(dir.path().join("bad.fgal"), &bytes).expect("write");
    let (code, _, err) = facegate(&["gallery", "verify", &p("bad.fgal"), "--keys", &p("keys")]);
    assert_eq!(code, 2);
    assert!(err.contains("corrupt"), "{err}");
}

/// `enroll --fpir 1e-3`: the stored threshold is the one measured on LFW for
/// a gallery of that size (two people: the smallest measured, 100), above
/// the 1:1 default; an FPIR nothing was measured for is refused before any
/// photo is embedded, and nothing is written.
#[test]
fn enrol_for_a_target_fpir_stores_the_gallery_size_threshold() {
    let dir = common::TempDir::new("enroll-fpir");
    common::alice_and_bob(dir.path());
    let p = |s: &str| dir.path().join(s).display().to_string();
    let (code, out, err) = facegate(&[
        "--json",
        "enroll",
        &p("photos"),
        "--out",
        &p("g.fgal"),
        "--fpir",
        "1e-3",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    let config = facegate::vision::VisionConfig::default();
    let want = config.gallery_threshold(2, 1e-3).expect("measured");
    let got = v["threshold"].as_f64().expect("threshold") as f32;
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    assert!(got > config.default_threshold());
    let stored = Gallery::load(&dir.path().join("g.fgal"), &Policy::default())
        .expect("gallery")
        .header()
        .threshold;
    assert_eq!(stored, got);

    let (code, _, err) = facegate(&[
        "enroll",
        &p("photos"),
        "--out",
        &p("h.fgal"),
        "--fpir",
        "1e-4",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("no 1:N thresholds were measured"), "{err}");
    assert!(!dir.path().join("h.fgal").exists());
}
