//! Golden images of every screen at 128×64 (mono), 240×240 and 320×240.
//! `FACEGATE_BLESS=1 cargo test --test display` rewrites them after a
//! deliberate change; look at them before committing.

use std::path::PathBuf;

use facegate::display::{Canvas, Screen};

fn screens() -> Vec<(&'static str, Screen)> {
    vec![
        (
            "idle",
            Screen::Idle {
                site: "Main entrance".into(),
            },
        ),
        (
            "face",
            Screen::FaceSeen {
                bbox: [250.0, 120.0, 390.0, 300.0],
                frame: (640, 480),
            },
        ),
        (
            "granted",
            Screen::Granted {
                name: "José Müller".into(),
            },
        ),
        (
            "granted-long-name",
            Screen::Granted {
                name: "Maximilian Alexander von Hohenberg".into(),
            },
        ),
        (
            "denied",
            Screen::Denied {
                reason: "Not recognised".into(),
            },
        ),
        ("camera-lost", Screen::CameraLost { retry_in_s: 4 }),
        (
            "updating",
            Screen::Updating {
                percent: Some(60),
                message: "Installing".into(),
            },
        ),
        (
            "update-refused",
            Screen::Updating {
                percent: None,
                message: "Refused: bad signature".into(),
            },
        ),
        (
            "alarm",
            Screen::Alarm {
                message: "Door held open".into(),
            },
        ),
        (
            "fault",
            Screen::Fault {
                message: "Door not unlocked".into(),
            },
        ),
    ]
}

#[test]
fn every_screen_matches_its_golden_image() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/display");
    let bless = std::env::var_os("FACEGATE_BLESS").is_some();
    let mut failures = Vec::new();
    for (w, h, mono) in [(128, 64, true), (240, 240, false), (320, 240, false)] {
        for (name, screen) in screens() {
            let actual = Canvas::render(&screen, w, h, mono).image;
            let path = dir.join(format!("{w}x{h}-{name}.png"));
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                actual.save(&path).unwrap();
                continue;
            }
            let golden = image::open(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (FACEGATE_BLESS=1 makes it)", path.display()))
                .to_rgb8();
            let differing = golden
                .pixels()
                .zip(actual.pixels())
                .filter(|(a, b)| a != b)
                .count();
            if golden.dimensions() != actual.dimensions() || differing > 0 {
                let out = std::env::temp_dir().join(format!("facegate-actual-{w}x{h}-{name}.png"));
                actual.save(&out).unwrap();
                failures.push(format!(
                    "{}: {differing} pixels differ; actual image at {}",
                    path.display(),
                    out.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mono_screens_are_black_and_white_only() {
    for (_, screen) in screens() {
        let img = Canvas::render(&screen, 128, 64, true).image;
        assert!(
            img.pixels()
                .all(|p| p.0 == [0, 0, 0] || p.0 == [255, 255, 255])
        );
        // Something is drawn: at least 5 % white pixels.
        let white = img.pixels().filter(|p| p.0[0] == 255).count();
        assert!(white > 128 * 64 / 20, "{screen:?}: {white} white pixels");
    }
}
