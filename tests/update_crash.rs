//! Crash consistency of gallery updates: a child process installs ever newer
//! signed galleries and is killed with SIGKILL at random moments. The child
//! prints `installing N` before each install and `installed N` after it. After
//! every kill the device must start with a valid gallery: the last
//! acknowledged one, or (if the kill landed mid-install) the one being
//! installed, never a broken one. The run must prove it tested something: every
//! child died of SIGKILL (not a panic or an exit), installed at least one
//! version per round, and a good share of the kills landed mid-install.
//!
//! `FACEGATE_CRASH_KILLS` sets the number of kills (default 200;
//! `scripts/crash-update.sh` runs 1000).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use facegate::gallery::{Gallery, Keyring, Person, Policy, quantise};
use facegate::update::{Loaded, Store};
use facegate::vision::Embedding;

const CHILD_ENV: &str = "FACEGATE_UPDATE_CHILD";
const MODEL: &str = "sface-2021dec-128";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn policy() -> Policy {
    Policy {
        model_id: Some(MODEL.into()),
        keyring: Keyring::new(vec![key().verifying_key()]),
        require_signature: true,
        ..Policy::default()
    }
}

/// A signed gallery of version `v` with a size that varies with `v`.
fn gallery_bytes(v: u64) -> Vec<u8> {
    let mut g = Gallery::new(MODEL, [1; 32], 128, 0.363);
    g.body.header.version = v;
    for i in 0..(20 + v % 200) as u32 {
        let e: Vec<f32> = (0..128).map(|j| ((i * 31 + j) % 17) as f32 - 8.0).collect();
        g.body.persons.push(Person {
            id: i + 1,
            name: format!("person {i} of v{v}")
                .as_str()
                .try_into()
                .unwrap_or_default(),
            badge: None,
            valid_from: None,
            valid_until: None,
            templates: vec![quantise(&Embedding::normalised(e), [0; 16])],
        });
    }
    g.encode(Some(&key())).unwrap()
}

/// The child: install versions after the installed one, announcing each
/// install before it starts and acknowledging it when it is done.
#[test]
#[ignore = "run by update_survives_kill_9 as a child process"]
fn child_installer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::new(Path::new(&path));
    let mut version = store
        .load(&policy())
        .map(|l| l.gallery().header().version)
        .unwrap_or(0);
    loop {
        let next = version + 1;
        let bytes = gallery_bytes(next);
        println!("installing {next}");
        store.install(&bytes, &policy(), Some(version)).unwrap();
        println!("installed {next}");
        version = next;
    }
}

/// What one child did before its kill: the versions it finished installing
/// and the one it had started on (announced, not acknowledged), if any.
struct Round {
    acked: Vec<u64>,
    in_flight: Option<u64>,
}

/// Parses the child's `installing N` / `installed N` lines, checking they
/// alternate and count up from `installed + 1`.
fn parse_round(lines: &[String], installed: u64, round: usize) -> Round {
    let mut r = Round {
        acked: Vec::new(),
        in_flight: None,
    };
    let mut expected = installed + 1;
    for line in lines {
        if let Some(n) = line.strip_prefix("installing ") {
            let n: u64 = n.parse().expect("version");
            assert!(
                r.in_flight.is_none() && n == expected,
                "kill {round}: `{line}` out of order after {installed} (lines: {lines:?})"
            );
            r.in_flight = Some(n);
        } else if let Some(n) = line.strip_prefix("installed ") {
            let n: u64 = n.parse().expect("version");
            assert_eq!(
                r.in_flight,
                Some(n),
                "kill {round}: `{line}` without `installing {n}` (lines: {lines:?})"
            );
            r.acked.push(n);
            r.in_flight = None;
            expected = n + 1;
        }
    }
    r
}

#[test]
fn update_survives_kill_9() {
    let kills: usize = std::env::var("FACEGATE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("facegate-update-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let current: PathBuf = dir.join("gallery.fgal");
    let stderr_path = dir.join("child.stderr");
    let store = Store::new(&current);
    store.install(&gallery_bytes(1), &policy(), None).unwrap();
    let mut installed = 1u64;
    let mut acked_versions = 0u64;
    let (mut fell_back, mut mid_install, mut landed_unacked) = (0, 0, 0);
    let started = Instant::now();
    for round in 0..kills {
        let mut cmd = common::child_test("child_installer");
        cmd.env(CHILD_ENV, &current)
            .stderr(std::fs::File::create(&stderr_path).unwrap());
        // The delay starts at the first acknowledged install.
        let (lines, status) =
            common::kill_child_lines(cmd, Some("installed "), Duration::from_millis(20));
        assert_eq!(
            status.signal(),
            Some(9),
            "kill {round}: the child was not killed but exited ({status}): {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        let r = parse_round(&lines, installed, round);
        assert!(
            !r.acked.is_empty(),
            "kill {round}: the child acknowledged no install (lines: {lines:?})"
        );
        acked_versions += r.acked.len() as u64;
        let acked = r.acked.last().copied().unwrap_or(installed);

        let loaded = store
            .load(&policy())
            .unwrap_or_else(|e| panic!("kill {round}: no usable gallery: {e}"));
        let v = loaded.gallery().header().version;
        if let Loaded::FellBack { why, .. } = &loaded {
            fell_back += 1;
            eprintln!("kill {round}: fell back: {why}");
        }
        match r.in_flight {
            // Killed between `installing N` and `installed N`: either gallery.
            Some(next) => {
                mid_install += 1;
                assert!(
                    v == acked || v == next,
                    "kill {round}: version {v} after acknowledging {acked}, installing {next}"
                );
                landed_unacked += usize::from(v == next);
            }
            // Killed between installs: exactly the acknowledged one.
            None => assert_eq!(
                v, acked,
                "kill {round}: version {v} after acknowledging {acked}, no install under way"
            ),
        }
        installed = v;
    }
    println!(
        "{kills} kills in {:.1} s: {acked_versions} versions acknowledged (installed now {installed}), \
         {mid_install} kills mid-install ({landed_unacked} of them after the new file landed, \
         before the ack), {fell_back} fallbacks to the previous gallery, 0 broken",
        started.elapsed().as_secs_f64()
    );
    // Versions advanced: at least one acknowledged install per child.
    assert!(
        acked_versions >= kills as u64 && installed > kills as u64,
        "only {acked_versions} versions acknowledged in {kills} rounds"
    );
    // The kills test crashes during installs, not only between them.
    assert!(
        mid_install * 4 >= kills,
        "only {mid_install} of {kills} kills landed mid-install"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
