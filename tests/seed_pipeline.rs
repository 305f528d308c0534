//! The seed's own flow, end to end through the `facegate` binary: a gallery
//! enrolled with FaceNet (512-D) from ID photos, faces identified with
//! RetinaFace and ranked by squared L2, a gallery of one embedder refused by
//! another, and the terminal on the simulated board with every detector and
//! every embedder (checked on the sim relay's record file and the event log).

mod common;

use std::path::Path;

use common::scene::{Scene, read_relay};
use facegate::events::EventKind;
use facegate::gallery::{Gallery, Policy};
use facegate::vision::{DetectorKind, EmbedderKind};
use serde_json::Value;

/// `facegate --models M ARGS…`; panics with stderr unless it succeeds.
fn facegate(args: &[&str]) -> String {
    let out = common::facegate()
        .arg("--models")
        .arg(common::models().dir())
        .args(args)
        .output()
        .expect("facegate");
    assert!(
        out.status.success(),
        "facegate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn people(dir: &Path) {
    let ids = common::shared_data().join("id-photos-wikimedia");
    for (person, photo) in [
        ("Emmanuel Macron", "person_a_1.jpg"),
        ("Jacinda Ardern", "person_b_1.jpg"),
    ] {
        let d = dir.join(person);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::copy(ids.join(photo), d.join(photo)).expect("copy");
    }
}

#[test]
fn facenet_gallery_identified_with_retinaface_by_squared_l2() {
    let dir = common::TempDir::new("seed-flow");
    people(&dir.path().join("people"));
    let gallery = dir.path().join("g.fgal");
    let g = gallery.to_str().expect("utf-8");
    let people = dir.path().join("people");
    facegate(&[
        "--embedder",
        "facenet",
        "enroll",
        people.to_str().expect("utf-8"),
        "--out",
        g,
    ]);
    let loaded = Gallery::load(&gallery, &Policy::default()).expect("gallery");
    assert_eq!(loaded.header().model_id.as_str(), "facenet-20180408-512");
    assert_eq!(loaded.header().embedding_dim, 512);
    assert_eq!(loaded.persons().len(), 2);

    let probe = common::shared_data().join("id-photos-wikimedia/person_b_2.jpg");
    let text = facegate(&[
        "--detector",
        "retinaface",
        "--embedder",
        "facenet",
        "--json",
        "identify",
        probe.to_str().expect("utf-8"),
        "--gallery",
        g,
        "--top",
        "2",
    ]);
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let face = &v["faces"][0];
    assert_eq!(face["decision"]["person"], "Jacinda Ardern", "{v}");
    let ranked = face["ranked"].as_array().expect("ranked");
    let sq: Vec<f64> = ranked
        .iter()
        .map(|r| r["squared_l2"].as_f64().expect("l2²"))
        .collect();
    assert!(sq.windows(2).all(|w| w[0] <= w[1]), "not ascending: {sq:?}");
    for r in ranked {
        let (cos, d2) = (
            r["score"].as_f64().expect("cos"),
            r["squared_l2"].as_f64().expect("d2"),
        );
        assert!((d2 - (2.0 - 2.0 * cos)).abs() < 1e-4, "{r}");
    }

    // SFace cannot read FaceNet templates.
    let out = common::facegate()
        .arg("--models")
        .arg(common::models().dir())
        .args(["identify", probe.to_str().expect("utf-8"), "--gallery", g])
        .output()
        .expect("facegate");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("facenet-20180408-512") && err.contains("sface"),
        "{err}"
    );
}

/// The terminal with `[vision]` set to each detector (SFace) and each
/// embedder (YuNet): an enrolled person is granted with one pulse.
#[test]
fn the_terminal_runs_with_every_detector_and_embedder() {
    let mut combos: Vec<(DetectorKind, EmbedderKind)> = DetectorKind::ALL
        .iter()
        .map(|&d| (d, EmbedderKind::Sface))
        .collect();
    combos.extend(
        EmbedderKind::ALL
            .iter()
            .skip(1)
            .map(|&e| (DetectorKind::Yunet, e)),
    );
    for (detector, embedder) in combos {
        let what = format!("{detector} + {embedder}");
        let scene = Scene::new("seed-run", "person_b_2.jpg x12\nblank x3\n", "", "fps = 10");
        let people = scene.path("people");
        let g = scene.path("gallery.fgal");
        facegate(&[
            "--detector",
            detector.name(),
            "--embedder",
            embedder.name(),
            "enroll",
            people.to_str().expect("utf-8"),
            "--out",
            g.to_str().expect("utf-8"),
        ]);
        let text = std::fs::read_to_string(scene.path("board.toml")).expect("config")
            + &format!("[vision]\ndetector = \"{detector}\"\nembedder = \"{embedder}\"\n");
        std::fs::write(scene.path("board.toml"), text).expect("config");
        let out = scene.run();
        let granted: Vec<_> = out
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Granted)
            .collect();
        assert_eq!(granted.len(), 1, "{what}: {:?}", out.kinds());
        assert_eq!(granted[0].name.as_deref(), Some("Jacinda Ardern"), "{what}");
        let levels: Vec<bool> = read_relay(&scene.path("relay.jsonl"))
            .iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(levels, vec![false, true, false], "{what}");
        let started = out.events[0].detail.clone().unwrap_or_default();
        assert!(started.contains("people"), "{what}: {started}");
    }
}

/// A crop of another size than the embedder's is refused as a batch (no
/// embeddings), never run or shifted against the other crops' faces.
#[test]
fn every_embedder_refuses_a_batch_with_a_wrong_size_crop() {
    use facegate::vision::{
        AlignedFace, Backend, DetectorConfig, LoadOptions, Precision, pipeline::load_embedder,
    };
    let options = LoadOptions::new(
        Backend::default(),
        Precision::default(),
        DetectorConfig::default(),
    );
    for kind in EmbedderKind::ALL {
        let embedder = load_embedder(kind, &common::models(), &options).expect("embedder");
        let img = facegate::vision::picture::load(
            &common::shared_data().join("id-photos-wikimedia/person_a_1.jpg"),
        )
        .expect("photo");
        let vision = common::vision(Backend::default(), DetectorConfig::default());
        let face = vision.largest_face(&img, "person_a_1").expect("face");
        let good = embedder.align(&img, &face.detection).expect("crop");
        assert_eq!(
            embedder.embed(std::slice::from_ref(&good)).len(),
            1,
            "{kind}"
        );
        let wrong = AlignedFace {
            size: good.size + 8,
            bgr: vec![0.0; 3 * (good.size + 8) * (good.size + 8)],
            more: Vec::new(),
        };
        assert!(
            embedder.embed(&[good.clone(), wrong]).is_empty(),
            "{kind}: a batch with a {}-pixel crop was embedded",
            good.size + 8
        );
    }
}

/// A fused embedder's score is the weighted mean of its members' cosines on
/// real photos (the rule `scripts/fusion_cv.py` fits and reports), and its
/// embedding holds every member's template.
#[test]
fn fused_scores_are_the_weighted_mean_of_the_members() {
    use facegate::vision::{
        Backend, DetectorConfig, Embedding, LoadOptions, Precision, pipeline::load_embedder,
    };
    let options = LoadOptions::new(
        Backend::default(),
        Precision::default(),
        DetectorConfig::default(),
    );
    let vision = common::vision(Backend::default(), DetectorConfig::default());
    let ids = common::shared_data().join("id-photos-wikimedia");
    let faces: Vec<_> = ["person_a_1.jpg", "person_a_2.jpg", "person_b_1.jpg"]
        .iter()
        .map(|p| {
            let img = facegate::vision::picture::load(&ids.join(p)).expect("photo");
            let d = vision.largest_face(&img, p).expect("face").detection;
            (img, d)
        })
        .collect();
    let embed = |kind: EmbedderKind| -> Vec<Embedding> {
        let e = load_embedder(kind, &common::models(), &options).expect("embedder");
        faces
            .iter()
            .map(|(img, d)| {
                let crop = e.align(img, d).expect("crop");
                e.embed(&[crop]).pop().expect("embedding")
            })
            .collect()
    };
    for fused in [EmbedderKind::SfaceDlib, EmbedderKind::SfaceFacenetDlib] {
        let rule = fused.rule().expect("a fusion");
        let whole = embed(fused);
        let members: Vec<(Vec<Embedding>, f32)> = rule
            .members
            .iter()
            .map(|&(name, w)| (embed(name.parse().expect("member")), w))
            .collect();
        assert_eq!(whole[0].0.len(), fused.info().dim, "{fused}");
        for (i, j) in [(0, 1), (0, 2), (1, 2)] {
            let mean: f32 = members.iter().map(|(e, w)| w * e[i].cosine(&e[j])).sum();
            let got = whole[i].cosine(&whole[j]);
            assert!(
                (got - mean).abs() < 1e-5,
                "{fused} {i}~{j}: {got} vs {mean}"
            );
        }
    }
}
