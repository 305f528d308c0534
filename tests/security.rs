//! The attacks of `docs/security.md`, tried with the release workflow's own
//! commands: signature laundering through every command that re-signs a
//! gallery, a replayed old gallery after the current one was damaged, an
//! encrypted gallery read with the wrong key, a weak threshold, and (in
//! tests/terminal.rs) a clock set back. Each must be refused; outcomes are
//! checked on the files written and the exit codes.

mod common;

use std::path::Path;

use facegate::gallery::{DeviceKey, Gallery, Keyring, Policy, seal};

/// Runs the CLI; returns (exit code, stdout + stderr).
fn run(args: &[&str]) -> (i32, String) {
    let out = common::facegate()
        .arg("--models")
        .arg(common::models().dir())
        .args(args)
        .output()
        .expect("run facegate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn ok(args: &[&str]) -> String {
    let (code, text) = run(args);
    assert_eq!(code, 0, "facegate {args:?} failed: {text}");
    text
}

/// Two ID photos as `photos/Alice`, `photos/Bob`, a site key, a signed
/// gallery `v1.fgal`, and `forged.fgal`: v1 with its threshold set to 0,
/// CRC recomputed, written unsigned — what anyone holding a copy can make.
fn site(tag: &str) -> common::TempDir {
    let dir = common::TempDir::new(tag);
    common::alice_and_bob(dir.path());
    let p = |s: &str| dir.path().join(s).display().to_string();
    std::fs::create_dir_all(dir.path().join("keys")).expect("mkdir");
    ok(&["keygen", "--out", &p("site")]);
    std::fs::copy(
        dir.path().join("site.pub"),
        dir.path().join("keys/site.pub"),
    )
    .expect("copy");
    ok(&[
        "enroll",
        &p("photos"),
        "--out",
        &p("v1.fgal"),
        "--sign",
        &p("site.key"),
    ]);
    let mut g = Gallery::load(&dir.path().join("v1.fgal"), &inspect()).expect("load v1");
    g.body.header.threshold = 0.0;
    g.save(&dir.path().join("forged.fgal"), None)
        .expect("write forged");
    dir
}

fn inspect() -> Policy {
    Policy {
        check_signature: false,
        ..Policy::default()
    }
}

fn header(path: &Path) -> facegate::gallery::Header {
    Gallery::load(path, &inspect())
        .expect("load")
        .header()
        .clone()
}

#[test]
fn no_command_re_signs_an_unverified_gallery() {
    let dir = site("launder");
    let p = |s: &str| dir.path().join(s).display().to_string();
    let (key, keys) = (p("site.key"), p("keys"));
    // Every command that writes a signed gallery from an input gallery.
    let attempts: Vec<Vec<String>> = vec![
        vec![
            "enroll",
            &*p("photos"),
            "--update",
            &*p("forged.fgal"),
            "--out",
            &*p("out.fgal"),
        ],
        vec!["gallery", "rename", &*p("forged.fgal"), "Alice", "Carol"],
        vec!["gallery", "remove", &*p("forged.fgal"), "Bob"],
        vec![
            "gallery",
            "merge",
            &*p("forged.fgal"),
            &*p("v1.fgal"),
            "--out",
            &*p("out.fgal"),
        ],
        vec![
            "gallery",
            "synthetic",
            &*p("forged.fgal"),
            "--people",
            "5",
            "--out",
            &*p("out.fgal"),
        ],
        vec![
            "calibrate",
            "--scores",
            &*p("scores.tsv"),
            "--gallery",
            &*p("forged.fgal"),
        ],
    ]
    .into_iter()
    .map(|a| a.into_iter().map(String::from).collect())
    .collect();
    // Scores of a reference run, so calibrate reaches its gallery edit.
    let mut scores = String::from("a\tb\tsame\tscore\n");
    for i in 0..40 {
        scores.push_str(&format!("g{i}\th{i}\t1\t{}\n", 0.6 + i as f32 * 0.005));
        scores.push_str(&format!("i{i}\tj{i}\t0\t{}\n", 0.1 + i as f32 * 0.002));
    }
    std::fs::write(dir.path().join("scores.tsv"), scores).expect("scores");
    let forged = std::fs::read(dir.path().join("forged.fgal")).expect("read");
    let mut refused = 0;
    for mut args in attempts {
        args.extend(["--sign".into(), key.clone(), "--keys".into(), keys.clone()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, text) = run(&argv);
        assert_eq!(code, 2, "{argv:?} was not refused: {text}");
        assert!(text.contains("verified first"), "{argv:?}: {text}");
        assert!(
            !dir.path().join("out.fgal").exists(),
            "{argv:?} wrote a gallery"
        );
        assert_eq!(
            std::fs::read(dir.path().join("forged.fgal")).expect("read"),
            forged,
            "{argv:?} rewrote its input"
        );
        refused += 1;
    }
    assert_eq!(refused, 6);
    // A verified input is fine, and the signer's own key suffices.
    ok(&[
        "gallery",
        "rename",
        &p("v1.fgal"),
        "Alice",
        "Carol",
        "--sign",
        &key,
    ]);
    assert_eq!(header(&dir.path().join("v1.fgal")).version, 2);
    // --allow-unverified goes through, and says so in the output file.
    ok(&[
        "gallery",
        "remove",
        &p("forged.fgal"),
        "Bob",
        "--sign",
        &key,
        "--allow-unverified",
    ]);
    let laundered = header(&dir.path().join("forged.fgal"));
    assert!(laundered.from_unverified, "provenance not recorded");
    let text = ok(&[
        "gallery",
        "verify",
        &p("forged.fgal"),
        "--keys",
        &keys,
        "--require-signature",
    ]);
    assert!(text.contains("unverified input"), "{text}");
}

#[test]
fn a_device_refuses_a_weak_threshold_and_a_replayed_gallery() {
    let dir = site("floor");
    let p = |s: &str| dir.path().join(s).display().to_string();
    let key = p("site.key");
    let config = dir.path().join("board.toml");
    std::fs::write(
        &config,
        "[terminal]\ngallery = \"device/gallery.fgal\"\nkeys = \"keys\"\n\
         [camera.replay]\npath = \"scene.txt\"\n[door]\n[door.sim]\n",
    )
    .expect("config");
    std::fs::create_dir_all(dir.path().join("device")).expect("mkdir");
    let install = |f: &str| run(&["gallery", "install", &p(f), "--config", &p("board.toml")]);
    // v1, then v2 and v3 made from it.
    assert_eq!(install("v1.fgal").0, 0);
    for v in ["v2", "v3"] {
        std::fs::copy(
            dir.path().join("v1.fgal"),
            dir.path().join(format!("{v}.fgal")),
        )
        .ok();
    }
    ok(&[
        "gallery",
        "rename",
        &p("v2.fgal"),
        "Alice",
        "Ann",
        "--sign",
        &key,
    ]);
    ok(&[
        "gallery",
        "rename",
        &p("v3.fgal"),
        "Alice",
        "Ann",
        "--sign",
        &key,
    ]);
    ok(&[
        "gallery",
        "rename",
        &p("v3.fgal"),
        "Bob",
        "Ben",
        "--sign",
        &key,
    ]);
    assert_eq!(install("v2.fgal").0, 0);
    assert_eq!(install("v3.fgal").0, 0);
    // The installed file is damaged; the old v1 is offered again.
    let installed = dir.path().join("device/gallery.fgal");
    std::fs::write(&installed, b"FGAL junk").expect("damage");
    let (code, text) = install("v1.fgal");
    assert_eq!(code, 2, "replayed v1 accepted: {text}");
    assert!(text.contains("not newer than version 3"), "{text}");
    assert_eq!(std::fs::read(&installed).expect("read"), b"FGAL junk");
    // A signed gallery whose threshold admits everyone.
    ok(&[
        "gallery",
        "rename",
        &p("forged.fgal"),
        "Bob",
        "Bo",
        "--sign",
        &key,
        "--allow-unverified",
    ]);
    let mut weak = Gallery::load(&dir.path().join("forged.fgal"), &inspect()).expect("load");
    weak.body.header.version = 10;
    let signing =
        facegate::gallery::keys::read_signing_key(&dir.path().join("site.key")).expect("key");
    weak.save(&dir.path().join("weak.fgal"), Some(&signing))
        .expect("save");
    let (code, text) = install("weak.fgal");
    assert_eq!(code, 2, "threshold 0 accepted: {text}");
    assert!(text.contains("below this device's floor"), "{text}");
}

#[test]
fn an_encrypted_gallery_is_unreadable_without_its_device_key() {
    let dir = site("sealed");
    let p = |s: &str| dir.path().join(s).display().to_string();
    std::fs::create_dir_all(dir.path().join("doors")).expect("mkdir");
    ok(&["device-key", "--out", &p("front")]);
    ok(&["device-key", "--out", &p("back")]);
    std::fs::copy(
        dir.path().join("front.x25519"),
        dir.path().join("doors/front.x25519"),
    )
    .expect("copy");
    ok(&[
        "enroll",
        &p("photos"),
        "--out",
        &p("sealed.fgal"),
        "--sign",
        &p("site.key"),
        "--encrypt-to",
        &p("doors"),
    ]);
    let bytes = std::fs::read(dir.path().join("sealed.fgal")).expect("read");
    for name in ["Alice", "Bob"] {
        assert!(
            !bytes.windows(name.len()).any(|w| w == name.as_bytes()),
            "{name} readable in the encrypted file"
        );
    }
    let keyring = Keyring::from_dir(&dir.path().join("keys")).expect("keys");
    let with = |key: &str| Policy {
        keyring: keyring.clone(),
        require_signature: true,
        device_keys: vec![DeviceKey::read(&dir.path().join(key)).expect("device key")],
        ..Policy::default()
    };
    let g = Gallery::decode(&bytes, &with("front")).expect("front door reads it");
    assert_eq!(g.persons().len(), 2);
    assert_eq!(g.recipients.len(), 1);
    let wrong = Gallery::decode(&bytes, &with("back")).expect_err("back door read it");
    assert!(
        wrong.to_string().contains("encrypted for other devices"),
        "{wrong}"
    );
    // Without a key, the CLI says what is needed; with it, it lists people.
    let (code, text) = run(&["gallery", "list", &p("sealed.fgal")]);
    assert_eq!(code, 2, "{text}");
    let listed = ok(&[
        "--device-key",
        &p("front"),
        "gallery",
        "list",
        &p("sealed.fgal"),
    ]);
    assert!(
        listed.contains("Alice") && listed.contains("Bob"),
        "{listed}"
    );
    // An edit keeps the encryption.
    ok(&[
        "--device-key",
        &p("front"),
        "gallery",
        "rename",
        &p("sealed.fgal"),
        "Bob",
        "Robert",
        "--sign",
        &p("site.key"),
    ]);
    let again = std::fs::read(dir.path().join("sealed.fgal")).expect("read");
    assert!(
        !again.windows(6).any(|w| w == b"Robert"),
        "rename decrypted the file"
    );
    assert_eq!(
        seal::read_recipients(&dir.path().join("doors"))
            .expect("doors")
            .len(),
        1
    );
}
