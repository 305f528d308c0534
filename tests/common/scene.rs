//! The terminal on the simulated board, set up for a test: a gallery of two
//! people, a replayed playlist, scripted door inputs, a PNG display and a
//! real event log in a temp dir (`tests/terminal.rs`, `tests/door_faults.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use facegate::config::Config;
use facegate::door::SimPins;
use facegate::door::sim::Transition;
use facegate::enroll;
use facegate::events::{self, Event, EventKind};
use facegate::gallery::Gallery;
use facegate::terminal::Terminal;
use facegate::vision::sface::{EMBEDDING_DIM, MODEL_ID};
use facegate::vision::{Backend, DetectorConfig};

/// A scene: a gallery of two people enrolled from ID photos, a playlist, door
/// inputs and a config, in a temp dir.
pub struct Scene {
    dir: super::TempDir,
}

impl Scene {
    pub fn new(tag: &str, playlist: &str, inputs: &str, extra: &str) -> Self {
        let ids = super::shared_data().join("id-photos-wikimedia");
        let people = [
            ("Emmanuel Macron", ids.join("person_a_1.jpg")),
            ("Jacinda Ardern", ids.join("person_b_1.jpg")),
        ];
        let frames = ["person_a_2.jpg", "person_b_2.jpg", "impostor_1.jpg"].map(|p| ids.join(p));
        Self::with_people(tag, &people, &frames, playlist, inputs, extra)
    }

    /// A scene with these people (name, enrolment photo) and these pictures
    /// beside the playlist (which names them by file name).
    pub fn with_people(
        tag: &str,
        people: &[(&str, PathBuf)],
        pictures: &[PathBuf],
        playlist: &str,
        inputs: &str,
        extra: &str,
    ) -> Self {
        let dir = super::TempDir::new(tag);
        for (person, photo) in people {
            let d = dir.path().join("people").join(person);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::copy(photo, d.join(photo.file_name().unwrap())).unwrap();
        }
        for photo in pictures {
            std::fs::copy(photo, dir.path().join(photo.file_name().unwrap())).unwrap();
        }
        let vision = super::vision(Backend::default(), DetectorConfig::default());
        let empty = Gallery::new(
            MODEL_ID,
            facegate::vision::sface::WEIGHTS_SHA256,
            EMBEDDING_DIM as u16,
            vision.default_threshold(),
        );
        let (gallery, report) = enroll::enroll(
            &vision,
            &dir.path().join("people"),
            empty,
            &enroll::Options::default(),
            |_| {},
        )
        .unwrap();
        assert_eq!(gallery.persons().len(), people.len(), "{report:?}");
        gallery
            .save(&dir.path().join("gallery.fgal"), None)
            .unwrap();
        std::fs::write(dir.path().join("scene.txt"), playlist).unwrap();
        std::fs::write(dir.path().join("inputs.txt"), inputs).unwrap();
        std::fs::write(dir.path().join("board.toml"), config_text(extra)).unwrap();
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config(&self) -> Config {
        Config::load(&self.path("board.toml")).unwrap()
    }

    /// Runs the terminal to the end of the playlist.
    pub fn run(&self) -> Outcome {
        self.run_with(|_| {})
    }

    /// Runs the terminal to the end of the playlist, `before` having done
    /// something to the simulated door lines (broken one).
    pub fn run_with(&self, before: impl FnOnce(&SimPins)) -> Outcome {
        let (terminal, pins) = Terminal::open(self.config(), Arc::new(AtomicBool::new(false)))
            .unwrap_or_else(|e| panic!("{e:#}"));
        let pins = pins.expect("sim door");
        before(&pins);
        terminal.run().unwrap();
        self.outcome(pins.relay.transitions())
    }

    pub fn outcome(&self, relay: Vec<Transition>) -> Outcome {
        let events = events::read(&self.path("events.log")).unwrap().events;
        let mut screens: Vec<String> = std::fs::read_dir(self.path("display"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        screens.sort();
        Outcome {
            events,
            relay,
            screens,
        }
    }
}

pub fn config_text(extra: &str) -> String {
    format!(
        r#"
[terminal]
site = "Test"
gallery = "gallery.fgal"
models = "{models}"
result_screen_ms = 300
camera_retry_max_ms = 200
require_signature = false
[camera.replay]
path = "scene.txt"
{extra}
[door]
pulse_ms = 400
held_open_s = 1
[door.sim]
inputs = "inputs.txt"
record = "relay.jsonl"
[display.sim]
dir = "display"
width = 240
height = 240
mono = false
[events]
path = "events.log"
"#,
        models = super::models().dir().display()
    )
}

pub struct Outcome {
    pub events: Vec<Event>,
    pub relay: Vec<Transition>,
    pub screens: Vec<String>,
}

impl Outcome {
    pub fn kinds(&self) -> Vec<EventKind> {
        self.events.iter().map(|e| e.kind).collect()
    }

    pub fn count(&self, kind: EventKind) -> usize {
        self.events.iter().filter(|e| e.kind == kind).count()
    }

    pub fn relay_levels(&self) -> Vec<bool> {
        self.relay.iter().map(|t| t.high).collect()
    }

    pub fn shown(&self, kind: &str) -> bool {
        self.screens.iter().any(|s| s.contains(kind))
    }

    /// Length of the one unlock pulse, milliseconds.
    pub fn pulse_ms(&self) -> u64 {
        assert_eq!(
            self.relay_levels(),
            vec![false, true, false],
            "{:?}",
            self.relay
        );
        self.relay[2].t_ms - self.relay[1].t_ms
    }
}

/// (ms, high) per line of a relay record.
pub fn read_relay(path: &Path) -> Vec<(u64, bool)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| (v["t_ms"].as_u64().unwrap(), v["high"].as_bool().unwrap()))
        .collect()
}

/// Signed galleries for update tests: v1 without Jacinda Ardern, v2 with her.
pub struct Signed {
    pub key: ed25519_dalek::SigningKey,
    pub v1: Vec<u8>,
    pub v2: Vec<u8>,
}

pub fn signed_galleries(scene: &Scene) -> Signed {
    let keys = scene.path("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (_, _, key) = facegate::gallery::keys::generate(&keys.join("site")).unwrap();
    std::fs::remove_file(keys.join("site.key")).unwrap(); // the device holds public keys only
    let full = Gallery::load(&scene.path("gallery.fgal"), &Default::default()).unwrap();
    let mut v1 = full.clone();
    v1.body
        .persons
        .retain(|p| p.name.as_str() != "Jacinda Ardern");
    v1.body.header.version = 1;
    let mut v2 = full;
    v2.body.header.version = 2;
    Signed {
        v1: v1.encode(Some(&key)).unwrap(),
        v2: v2.encode(Some(&key)).unwrap(),
        key,
    }
}

pub fn require_signed_updates(scene: &Scene) {
    let text = std::fs::read_to_string(scene.path("board.toml"))
        .unwrap()
        .replace(
            "require_signature = false",
            "keys = \"keys\"\nrequire_signature = true",
        )
        + "[update]\ninbox = \"inbox\"\npoll_ms = 100\n";
    std::fs::write(scene.path("board.toml"), text).unwrap();
}

/// Drops a file into the inbox the way the USB import does (temp + rename).
pub fn offer(scene: &Scene, name: &str, bytes: &[u8]) {
    let inbox = scene.path("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join(format!(".{name}.part")), bytes).unwrap();
    std::fs::rename(inbox.join(format!(".{name}.part")), inbox.join(name)).unwrap();
}
