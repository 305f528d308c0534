//! Start-up that degrades instead of failing: with no gallery, no camera or
//! no display the door thread, the exit button and the event log still come
//! up and work; the rest is retried, and an empty device takes its first
//! gallery from the inbox (signature checked). Checked from outside: the sim
//! relay's record file and the event log on disk.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::scene::{Scene, offer, read_relay, require_signed_updates, signed_galleries};
use facegate::events::{self, EventKind};
use facegate::terminal::Terminal;

fn wait_for(scene: &Scene, what: &str, secs: u64, done: impl Fn(&[events::Event]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !events::read(&scene.path("events.log"))
        .map(|c| done(&c.events))
        .unwrap_or(false)
    {
        assert!(Instant::now() < deadline, "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// No gallery installed (neither current nor previous): faces are unknown,
/// an unsigned gallery offered is refused, the signed one is installed and
/// the next approach is granted.
#[test]
fn an_empty_device_takes_its_first_gallery_from_the_inbox() {
    let scene = Scene::new(
        "first-gallery",
        "person_b_2.jpg x12\nblank x40\nperson_b_2.jpg x12\nblank x3\n",
        "",
        "fps = 10\nrealtime = true",
    );
    let signed = signed_galleries(&scene);
    let unsigned = std::fs::read(scene.path("gallery.fgal")).unwrap();
    std::fs::remove_file(scene.path("gallery.fgal")).unwrap();
    require_signed_updates(&scene);
    let config = scene.config();
    let run = std::thread::spawn(move || {
        let (terminal, _) = Terminal::open(config, Arc::new(AtomicBool::new(false)))?;
        terminal.run().map(|s| s.frames)
    });
    wait_for(&scene, "an unknown decision", 60, |e| {
        e.iter().any(|e| e.kind == EventKind::Unknown)
    });
    offer(&scene, "a-unsigned.fgal", &unsigned);
    offer(&scene, "b-first.fgal", &signed.v2);
    run.join().unwrap().unwrap();

    let out = scene.outcome(vec![]);
    let kinds = out.kinds();
    let at = |k: EventKind| kinds.iter().position(|x| *x == k);
    let (none, unknown, refused, installed, granted) = (
        at(EventKind::NoGallery),
        at(EventKind::Unknown),
        at(EventKind::GalleryRefused),
        at(EventKind::GalleryInstalled),
        at(EventKind::Granted),
    );
    assert!(
        none.is_some()
            && none < unknown
            && unknown < refused
            && refused < installed
            && installed < granted,
        "{kinds:?}"
    );
    let why = out.events[refused.unwrap()].detail.clone().unwrap();
    assert!(
        why.contains("a-unsigned.fgal") && why.contains("not signed"),
        "{why}"
    );
    assert_eq!(
        out.events[granted.unwrap()].name.as_deref(),
        Some("Jacinda Ardern")
    );
    assert_eq!(
        std::fs::read(scene.path("gallery.fgal")).unwrap(),
        signed.v2
    );
    // A pulse per grant, none before the install (the first approach may
    // still be in view when the gallery arrives, and then be granted too).
    let rises = read_relay(&scene.path("relay.jsonl"))
        .windows(2)
        .filter(|w| !w[0].1 && w[1].1)
        .count();
    assert!(rises >= 1);
    assert_eq!(rises, out.count(EventKind::Granted), "{kinds:?}");
}

/// A V4L2 camera and a framebuffer that do not exist: the terminal still
/// starts, the exit button pulses the relay, and both faults are logged.
#[test]
fn no_camera_and_no_display_still_leave_a_working_door() {
    let scene = Scene::new("no-devices", "", "300 exit press\n450 exit release\n", "");
    let text = std::fs::read_to_string(scene.path("board.toml"))
        .unwrap()
        .replace(
            "[camera.replay]\npath = \"scene.txt\"\n",
            "[camera.v4l2]\ndevice = \"/nonexistent/video9\"\n",
        )
        .replace(
            "[display.sim]\ndir = \"display\"\nwidth = 240\nheight = 240\nmono = false\n",
            "[display.framebuffer]\ndevice = \"/nonexistent/fb9\"\n",
        );
    assert!(text.contains("video9") && text.contains("fb9"), "{text}");
    std::fs::write(scene.path("board.toml"), text).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let config = scene.config();
    let flag = stop.clone();
    let run = std::thread::spawn(move || {
        let (terminal, _) = Terminal::open(config, flag)?;
        terminal.run().map(|s| s.frames)
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_relay(&scene.path("relay.jsonl"))
        .iter()
        .filter(|t| !t.1)
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "no full exit-button pulse within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_for(&scene, "the exit button logged", 10, |e| {
        e.iter().any(|e| e.kind == EventKind::ExitButton)
    });
    stop.store(true, Ordering::Relaxed);
    let frames = run.join().unwrap().unwrap();
    assert_eq!(frames, 0);

    let out = scene.outcome(vec![]);
    let levels: Vec<bool> = read_relay(&scene.path("relay.jsonl"))
        .iter()
        .map(|t| t.1)
        .collect();
    assert_eq!(levels, vec![false, true, false]);
    let detail = |k: EventKind| {
        out.events
            .iter()
            .find(|e| e.kind == k)
            .and_then(|e| e.detail.clone())
            .unwrap_or_else(|| panic!("no {k} in {:?}", out.kinds()))
    };
    assert!(detail(EventKind::DisplayFault).contains("/nonexistent/fb9"));
    let lost = detail(EventKind::CameraLost);
    assert!(
        lost.contains("not opened yet") && lost.contains("video9"),
        "{lost}"
    );
    assert_eq!(out.count(EventKind::CameraRecovered), 0);
    assert_eq!(out.kinds().last(), Some(&EventKind::Stopped));
}
