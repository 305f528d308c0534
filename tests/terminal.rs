//! The terminal on the simulated board: replayed frames, in-memory door
//! pins, a PNG display and a real event log (`common/scene.rs`).

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::scene::{Scene, offer, read_relay, require_signed_updates, signed_galleries};
use facegate::events::{self, Event, EventKind};
use facegate::gallery::Gallery;
use facegate::terminal::Terminal;

#[test]
fn enrolled_person_gets_exactly_one_pulse() {
    let scene = Scene::new(
        "granted",
        "blank x3\nperson_a_2.jpg x15\nblank x5\n",
        "",
        "fps = 10",
    );
    let out = scene.run();
    assert_eq!(out.count(EventKind::Granted), 1, "{:?}", out.events);
    let granted = out
        .events
        .iter()
        .find(|e| e.kind == EventKind::Granted)
        .unwrap();
    assert_eq!(granted.name.as_deref(), Some("Emmanuel Macron"));
    assert!(
        granted.score.unwrap() >= facegate::vision::VisionConfig::default().default_threshold()
    );
    assert!(granted.frames >= 3);
    let pulse = out.pulse_ms();
    assert!(
        (400..1900).contains(&pulse),
        "pulse {pulse} ms, configured 400"
    );
    assert_eq!(out.kinds().first(), Some(&EventKind::Started));
    assert_eq!(out.kinds().last(), Some(&EventKind::Stopped));
    assert!(out.shown("granted"), "{:?}", out.screens);
    assert!(out.shown("idle") && out.shown("face"), "{:?}", out.screens);
}

#[test]
fn unknown_face_is_denied_without_a_pulse() {
    let scene = Scene::new("unknown", "impostor_1.jpg x14\nblank x3\n", "", "fps = 10");
    let out = scene.run();
    assert_eq!(out.count(EventKind::Unknown), 1, "{:?}", out.events);
    assert_eq!(out.count(EventKind::Granted), 0);
    let unknown = out
        .events
        .iter()
        .find(|e| e.kind == EventKind::Unknown)
        .unwrap();
    assert!(unknown.score.unwrap() < facegate::vision::VisionConfig::default().default_threshold());
    assert_eq!(
        out.relay_levels(),
        vec![false],
        "relay moved: {:?}",
        out.relay
    );
    assert!(out.shown("denied"), "{:?}", out.screens);
}

#[test]
fn exit_button_pulses_the_relay() {
    let scene = Scene::new(
        "rex",
        "blank x30\n",
        "300 exit press\n450 exit release\n",
        "fps = 20\nrealtime = true",
    );
    let out = scene.run();
    assert_eq!(out.count(EventKind::ExitButton), 1, "{:?}", out.events);
    let pulse = out.pulse_ms();
    assert!(
        (400..1900).contains(&pulse),
        "pulse {pulse} ms, configured 400"
    );
}

#[test]
fn door_held_open_raises_the_alarm() {
    let scene = Scene::new(
        "held",
        "blank x40\n",
        "100 door open\n",
        "fps = 20\nrealtime = true",
    );
    let out = scene.run();
    let kinds = out.kinds();
    assert!(kinds.contains(&EventKind::DoorForced), "{kinds:?}");
    assert!(kinds.contains(&EventKind::DoorHeldOpen), "{kinds:?}");
    assert!(out.shown("alarm"), "{:?}", out.screens);
    assert_eq!(out.relay_levels(), vec![false]);
}

#[test]
fn lost_camera_recovers_and_says_so() {
    let scene = Scene::new(
        "lost",
        "blank x2\nlost x3\nperson_b_2.jpg x12\n",
        "",
        "fps = 10",
    );
    let out = scene.run();
    let kinds = out.kinds();
    let lost = kinds.iter().position(|k| *k == EventKind::CameraLost);
    let back = kinds.iter().position(|k| *k == EventKind::CameraRecovered);
    let granted = kinds.iter().position(|k| *k == EventKind::Granted);
    assert!(lost < back && back < granted && lost.is_some(), "{kinds:?}");
    assert!(out.shown("camera-lost"), "{:?}", out.screens);
    let who = &out.events[granted.unwrap()];
    assert_eq!(who.name.as_deref(), Some("Jacinda Ardern"));
}

/// SIGTERM in the middle of an unlock pulse: the relay locks at once and the
/// process exits cleanly.
#[test]
fn sigterm_mid_pulse_locks_the_relay() {
    let scene = Scene::new(
        "sigterm",
        "person_a_2.jpg x600\n",
        "",
        "fps = 10\nrealtime = true",
    );
    let text = std::fs::read_to_string(scene.path("board.toml"))
        .unwrap()
        .replace("pulse_ms = 400", "pulse_ms = 20000");
    std::fs::write(scene.path("board.toml"), text).unwrap();
    let mut child = common::facegate()
        .args(["run", "--config"])
        .arg(scene.path("board.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let relay = scene.path("relay.jsonl");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !read_relay(&relay).iter().any(|t| t.1) {
        assert!(Instant::now() < deadline, "no unlock within 120 s");
        assert!(child.try_wait().unwrap().is_none(), "terminal exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let t = read_relay(&relay);
    assert_eq!(
        t.iter().map(|x| x.1).collect::<Vec<_>>(),
        vec![false, true, false]
    );
    assert!(
        t[2].0 - t[1].0 < 20_000,
        "locked only when the pulse ended: {t:?}"
    );
    let out = scene.outcome(vec![]);
    assert_eq!(out.kinds().last(), Some(&EventKind::Stopped));
}

/// While the terminal processes frames, a tampered update is refused and a
/// good one installed; the next decision uses the new gallery.
#[test]
fn gallery_update_while_running() {
    let scene = Scene::new(
        "update",
        "person_b_2.jpg x12\nblank x40\nperson_b_2.jpg x12\nblank x3\n",
        "",
        "fps = 10\nrealtime = true",
    );
    let signed = signed_galleries(&scene);
    std::fs::write(scene.path("gallery.fgal"), &signed.v1).unwrap();
    require_signed_updates(&scene);
    let config = scene.config();
    // The terminal owns its camera, which stays on the thread that opened it.
    let run = std::thread::spawn(move || {
        let (terminal, _) = Terminal::open(config, Arc::new(AtomicBool::new(false)))?;
        terminal.run().map(|s| s.frames)
    });

    // Wait until Jacinda Ardern has been refused as unknown, then offer updates.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !events::read(&scene.path("events.log"))
        .map(|c| c.events.iter().any(|e| e.kind == EventKind::Unknown))
        .unwrap_or(false)
    {
        assert!(Instant::now() < deadline, "no unknown decision");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut tampered = signed.v2.clone();
    tampered[40] ^= 0x04;
    offer(&scene, "a-tampered.fgal", &tampered);
    offer(&scene, "b-update.fgal", &signed.v2);
    let frames = run.join().unwrap().unwrap();
    assert!(frames >= 60, "the run was not interrupted: {frames} frames");

    let out = scene.outcome(vec![]);
    let kinds = out.kinds();
    let at = |k: EventKind| kinds.iter().position(|x| *x == k);
    let (unknown, refused, installed, granted) = (
        at(EventKind::Unknown),
        at(EventKind::GalleryRefused),
        at(EventKind::GalleryInstalled),
        at(EventKind::Granted),
    );
    assert!(
        unknown < refused && refused < installed && installed < granted && unknown.is_some(),
        "{kinds:?}"
    );
    let refusal = out.events[refused.unwrap()].detail.clone().unwrap();
    assert!(
        refusal.contains("a-tampered.fgal") && refusal.contains("corrupt"),
        "{refusal}"
    );
    let who = &out.events[granted.unwrap()];
    assert_eq!(who.name.as_deref(), Some("Jacinda Ardern"));
    assert!(out.shown("updating"), "{:?}", out.screens);
    assert_eq!(
        std::fs::read(scene.path("gallery.fgal")).unwrap(),
        signed.v2
    );
    assert_eq!(
        std::fs::read(scene.path("gallery.fgal.previous")).unwrap(),
        signed.v1
    );
    assert!(scene.path("inbox/refused/a-tampered.fgal").exists());
    assert!(!scene.path("inbox/b-update.fgal").exists());
}

/// A damaged installed gallery: the terminal starts on the previous one and
/// logs it.
#[test]
fn damaged_gallery_falls_back_to_the_previous_one() {
    let scene = Scene::new("fallback", "person_a_2.jpg x10\n", "", "fps = 10");
    let signed = signed_galleries(&scene);
    require_signed_updates(&scene);
    let config = scene.config();
    let policy = facegate::terminal::gallery_policy(&config).unwrap();
    let store = facegate::update::Store::new(&scene.path("gallery.fgal"));
    std::fs::remove_file(scene.path("gallery.fgal")).unwrap();
    store.install(&signed.v1, &policy, None).unwrap();
    store.install(&signed.v2, &policy, Some(1)).unwrap();
    let mut damaged = signed.v2.clone();
    let n = damaged.len();
    damaged[n / 2] ^= 0x80;
    std::fs::write(scene.path("gallery.fgal"), &damaged).unwrap();

    let out = scene.run();
    let rolled = out
        .events
        .iter()
        .find(|e| e.kind == EventKind::GalleryRolledBack)
        .unwrap_or_else(|| panic!("{:?}", out.kinds()));
    assert!(
        rolled.detail.as_ref().unwrap().contains("corrupt"),
        "{rolled:?}"
    );
    assert_eq!(out.count(EventKind::Granted), 1);
    assert_eq!(
        std::fs::read(scene.path("gallery.fgal")).unwrap(),
        signed.v1
    );
}

/// `facegate gallery install` and `rollback`: each refusal has its message
/// and exit code, and nothing changes on a refusal.
#[test]
fn gallery_install_cli() {
    let scene = Scene::new("install-cli", "blank\n", "", "fps = 10");
    let signed = signed_galleries(&scene);
    require_signed_updates(&scene);
    std::fs::write(scene.path("gallery.fgal"), &signed.v1).unwrap();
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let inspect = facegate::gallery::Policy {
        check_signature: false,
        ..Default::default()
    };
    let v2 = Gallery::decode(&signed.v2, &inspect).unwrap();
    let mut forged = signed.v2.clone();
    let sig_at = forged.len() - 64;
    forged[sig_at + 5] ^= 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not signed", v2.encode(None).unwrap()),
        ("untrusted key", v2.encode(Some(&other)).unwrap()),
        ("signature invalid", forged),
        (
            "corrupt or truncated",
            signed.v2[..signed.v2.len() - 100].to_vec(),
        ),
        ("not newer than version 1, the newest", signed.v1.clone()),
    ];
    for (message, bytes) in cases {
        std::fs::write(scene.path("offer.fgal"), &bytes).unwrap();
        let out = common::facegate()
            .args(["gallery", "install"])
            .arg(scene.path("offer.fgal"))
            .arg("--config")
            .arg(scene.path("board.toml"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{message}: {stderr}");
        assert!(stderr.contains(message), "expected {message:?} in {stderr}");
        assert_eq!(
            std::fs::read(scene.path("gallery.fgal")).unwrap(),
            signed.v1
        );
    }
    std::fs::write(scene.path("offer.fgal"), &signed.v2).unwrap();
    let ok = common::facegate()
        .args(["gallery", "install"])
        .arg(scene.path("offer.fgal"))
        .arg("--config")
        .arg(scene.path("board.toml"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("version 2 (was 1)"));
    let back = common::facegate()
        .args(["gallery", "rollback", "--config"])
        .arg(scene.path("board.toml"))
        .output()
        .unwrap();
    assert!(
        back.status.success(),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    assert_eq!(
        std::fs::read(scene.path("gallery.fgal")).unwrap(),
        signed.v1
    );
    let _ = signed.key;
}

#[test]
fn a_clock_set_back_denies_people_with_a_window_and_is_logged() {
    let scene = Scene::new("clock", "person_a_2.jpg x15\nblank x3\n", "", "fps = 10");
    // Macron's access ends in 12 hours; the terminal last logged an event a
    // day from now, so this clock is a day behind: he may be expired.
    let now = facegate::gallery::now_unix();
    let path = scene.path("gallery.fgal");
    let mut g = Gallery::load(&path, &Default::default()).unwrap();
    for p in &mut g.body.persons {
        p.valid_until = Some(now + 12 * 3600);
    }
    g.save(&path, None).unwrap();
    let mut log = events::EventLog::open(&scene.path("events.log"), Default::default()).unwrap();
    let e = Event {
        time_ms: (now + 24 * 3600) * 1000,
        kind: EventKind::Stopped,
        person_id: None,
        name: None,
        score: None,
        frames: 0,
        detail: None,
    };
    log.append(&e).unwrap();
    drop(log);
    let out = scene.run();
    assert_eq!(out.count(EventKind::ClockWentBack), 1, "{:?}", out.kinds());
    assert_eq!(out.count(EventKind::Granted), 0, "{:?}", out.kinds());
    let denied = out.events.iter().find(|e| e.kind == EventKind::Denied);
    assert!(
        denied.is_some_and(|d| d.detail.as_deref().unwrap_or("").contains("Clock not set")),
        "{:?}",
        out.events
    );
    assert_eq!(out.relay_levels(), vec![false], "relay moved");
    // With the clock right (no later event), the same person is let in.
    let fresh = Scene::new("clock-ok", "person_a_2.jpg x15\nblank x3\n", "", "fps = 10");
    g.save(&fresh.path("gallery.fgal"), None).unwrap();
    assert_eq!(fresh.run().count(EventKind::Granted), 1);
}
