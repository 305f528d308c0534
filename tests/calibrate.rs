//! `facegate calibrate` on dlib's johns: pair counts, rates, threshold, plot,
//! and storing the threshold in a gallery.

mod common;

use serde_json::Value;

/// Runs facegate with the test models; its stdout, asserting success.
fn run(args: &[&std::ffi::OsStr]) -> String {
    let out = common::facegate()
        .arg("--models")
        .arg(common::models().dir())
        .args(args)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dir_of(file: &std::path::Path) -> std::path::PathBuf {
    file.parent().expect("in a folder").to_path_buf()
}

/// `gallery stats` of `gallery`, asserting the stored threshold is `t`.
fn gallery_stats(gallery: &std::path::Path, t: f64) -> Value {
    let stats: Value = serde_json::from_str(&run(&[
        "--json".as_ref(),
        "gallery".as_ref(),
        "stats".as_ref(),
        gallery.as_os_str(),
    ]))
    .expect("json");
    assert!(
        (stats["threshold"].as_f64().expect("stored") - t).abs() < 1e-6,
        "{stats}"
    );
    stats
}

/// A temporary folder, dlib's johns, and a gallery of one of them enrolled
/// there (for the threshold to be stored in).
fn johns_and_a_gallery(tag: &str) -> (common::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = common::TempDir::new(tag);
    let johns = common::shared_data().join("dlib-johns");
    let gallery = dir.path().join("g.fgal");
    let photos = dir.path().join("photos/Salley");
    std::fs::create_dir_all(&photos).expect("mkdir");
    let chip = common::images_in(&johns.join("John_Salley")).remove(0);
    std::fs::copy(&chip, photos.join("a.jpg")).expect("copy");
    run(&[
        "enroll".as_ref(),
        dir.path().join("photos").as_os_str(),
        "--out".as_ref(),
        gallery.as_os_str(),
    ]);
    (dir, johns, gallery)
}

#[test]
fn calibrate_johns_and_store_the_threshold() {
    let (dir, johns, gallery) = johns_and_a_gallery("calibrate");
    let plot = dir.path().join("roc.png");
    let out = run(&[
        "--json".as_ref(),
        "calibrate".as_ref(),
        johns.as_os_str(),
        "--far".as_ref(),
        "1e-3".as_ref(),
        "--plot".as_ref(),
        plot.as_os_str(),
        "--gallery".as_ref(),
        gallery.as_os_str(),
    ]);
    let v: Value = serde_json::from_str(out.lines().last().expect("json line")).expect("json");
    let cal = &v["calibration"];
    assert_eq!(v["photos"], 55);
    assert_eq!(
        (cal["genuine"].as_u64(), cal["impostor"].as_u64()),
        (Some(275), Some(1210))
    );
    assert_eq!(cal["eer"].as_f64(), Some(0.0), "{cal}");
    let t = cal["target"]["threshold"].as_f64().expect("threshold");
    assert!((0.25..0.45).contains(&t), "threshold {t}");
    assert_eq!(cal["target"]["tar"].as_f64(), Some(1.0));
    assert_eq!(v["pairs_without_face"], 0);

    // The pairs written out and read back (how a reference system is scored)
    // give the very same figures without the models.
    let scores = dir.path().join("pairs.tsv");
    run(&[
        "calibrate".as_ref(),
        johns.as_os_str(),
        "--scores-out".as_ref(),
        scores.as_os_str(),
    ]);
    let text = std::fs::read_to_string(&scores).expect("scores");
    assert_eq!(text.lines().count(), 1 + 275 + 1210);
    let again: Value = serde_json::from_str(
        run(&[
            "--json".as_ref(),
            "calibrate".as_ref(),
            "--scores".as_ref(),
            scores.as_os_str(),
            "--far".as_ref(),
            "1e-3".as_ref(),
        ])
        .trim(),
    )
    .expect("json");
    assert_eq!(again["calibration"], v["calibration"]);
    assert_eq!(again["photos"], Value::Null);
    let img = image::open(&plot).expect("plot is an image");
    assert_eq!((img.width(), img.height()), (1200, 500));
    let stats = gallery_stats(&gallery, t);
    assert_eq!(stats["version"], 2);
}

/// 1:N on the johns: galleries of 3 of the 5 people (one chip each), searched
/// by the other 10 chips of each enrolled person and the 22 chips of the two
/// others, twice; the johns separate perfectly, so no mated search misses and
/// the stored threshold is the one for the target FPIR.
#[test]
fn identification_on_johns_counts_searches_and_stores_the_threshold() {
    let (_dir, johns, gallery) = johns_and_a_gallery("calibrate-1n");
    let out = run(&[
        "--json".as_ref(),
        "calibrate".as_ref(),
        johns.as_os_str(),
        "--identification".as_ref(),
        "--gallery-size".as_ref(),
        "3".as_ref(),
        "--trials".as_ref(),
        "2".as_ref(),
        "--far".as_ref(),
        "1e-2".as_ref(),
        "--gallery".as_ref(),
        gallery.as_os_str(),
    ]);
    let v: Value = serde_json::from_str(out.lines().last().expect("json line")).expect("json");
    assert_eq!(v["photos"], 55);
    assert_eq!(v["photos_without_face"], 0);
    let r = &v["identification"][0];
    assert_eq!(r["gallery_size"], 3);
    assert_eq!(
        (r["mated"].as_u64(), r["non_mated"].as_u64()),
        (Some(2 * 3 * 10), Some(2 * 2 * 11)),
        "{r}"
    );
    assert_eq!(r["rank1_miss"].as_f64(), Some(0.0), "{r}");
    let target = &r["points"][2];
    assert_eq!(target["fnir"].as_f64(), Some(0.0), "{r}");
    assert_eq!(target["measured_fpir"].as_f64(), Some(0.0), "{r}");
    let t = target["threshold"].as_f64().expect("threshold");
    gallery_stats(&gallery, t);

    // Errata that are not two folder names, or errata beside a pairs file
    // (which carries its own labels): clear errors before any model runs.
    let errata = dir_of(&gallery).join("errata.txt");
    std::fs::write(&errata, "John_Salley\n").expect("write");
    let refused = |extra: &[&std::ffi::OsStr], says: &str| {
        let out = common::facegate()
            .args([
                "calibrate".as_ref(),
                johns.as_os_str(),
                "--same-person".as_ref(),
            ])
            .arg(&errata)
            .args(extra)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{err}");
    };
    refused(&["--identification".as_ref()], "expected two folder names");
    refused(
        &["--pairs".as_ref(), errata.as_os_str()],
        "carry their own labels",
    );

    // More people than the set has with two photos: a clear error.
    let out = common::facegate()
        .arg("--models")
        .arg(common::models().dir())
        .args(["calibrate".as_ref(), johns.as_os_str()])
        .args(["--identification", "--gallery-size", "6"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("needs 6 people with 2 photos or more (1 with a face)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--embeddings FILE`: the johns embedded once into the file, which a later
/// run (pairs, then 1:N) reads with no models at all and the same figures; a
/// file of another system that lacks a photo of the set is refused, and a
/// damaged one is an error naming the line.
#[test]
fn embeddings_file_embeds_each_photo_once() {
    let dir = common::TempDir::new("calibrate-embeddings");
    let johns = common::shared_data().join("dlib-johns");
    let file = dir.path().join("johns.tsv");
    let calibrate = |models: &std::path::Path, file: &std::path::Path, extra: &[&str]| {
        common::facegate()
            .arg("--models")
            .arg(models)
            .args(["--json", "calibrate"])
            .arg(&johns)
            .arg("--embeddings")
            .arg(file)
            .args(extra)
            .output()
            .expect("run")
    };
    let json = |out: std::process::Output| -> Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let first = json(calibrate(common::models().dir(), &file, &[]));
    let text = std::fs::read_to_string(&file).expect("written");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 + 55);
    assert_eq!(lines[0], "# facegate embeddings 1");
    assert!(
        lines[1].starts_with("# source: facegate retinaface sface int8 largest "),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2].split('\t').nth(1).map(|v| v.split(' ').count()),
        Some(128)
    );

    // No models: everything comes from the file.
    let none = dir.path().join("no-models");
    let again = json(calibrate(&none, &file, &[]));
    assert_eq!(again["calibration"], first["calibration"]);
    let ident = json(calibrate(
        &none,
        &file,
        &["--identification", "--gallery-size", "3", "--trials", "2"],
    ));
    assert_eq!(ident["identification"][0]["rank1_miss"].as_f64(), Some(0.0));
    assert_eq!(std::fs::read_to_string(&file).expect("kept"), text);

    // Another system's file without the last photo: refused, not filled in.
    let other = dir.path().join("other.tsv");
    let mut kept: Vec<&str> = lines[..lines.len() - 1].to_vec();
    kept[1] = "# source: someone else";
    std::fs::write(&other, kept.join("\n") + "\n").expect("write");
    let out = calibrate(common::models().dir(), &other, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("\"someone else\"") && err.contains("lacks 1 of"),
        "{err}"
    );
    std::fs::write(&other, text.replacen("\t0.", "\tx0.", 1)).expect("write");
    let out = calibrate(common::models().dir(), &other, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("line 3: a value is not a finite number"),
        "{err}"
    );
}
