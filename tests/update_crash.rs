//! Crash consistency of gallery updates: a child process installs ever newer
//! signed galleries and is killed with SIGKILL at random moments. After every
//! kill the device must start with a valid gallery, the last acknowledged one
//! or the one being installed, never a broken one.
//!
//! `FACEGATE_CRASH_KILLS` sets the number of kills (default 200;
//! `scripts/crash-update.sh` runs 1000).

mod common;

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

/// The child: install versions after the installed one, acknowledging each.
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
        store
            .install(&gallery_bytes(next), &policy(), Some(version))
            .unwrap();
        version = next;
        println!("installed {version}");
    }
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
    let store = Store::new(&current);
    store.install(&gallery_bytes(1), &policy(), None).unwrap();
    let mut acked = 1u64;
    let (mut fell_back, mut mid_write) = (0, 0);
    let started = Instant::now();
    for round in 0..kills {
        let mut cmd = common::child_test("child_installer");
        cmd.env(CHILD_ENV, &current);
        let acks = common::kill_at_random(cmd, "installed ", Duration::from_millis(20));
        acked = acks.into_iter().fold(acked, u64::max);

        let loaded = store
            .load(&policy())
            .unwrap_or_else(|e| panic!("kill {round}: no usable gallery: {e}"));
        let v = loaded.gallery().header().version;
        assert!(
            v == acked || v == acked + 1,
            "kill {round}: version {v} after acknowledging {acked}"
        );
        if v == acked + 1 {
            mid_write += 1; // the new file landed, the ack did not
            acked = v;
        }
        if let Loaded::FellBack { why, .. } = &loaded {
            fell_back += 1;
            eprintln!("kill {round}: fell back: {why}");
        }
    }
    println!(
        "{kills} kills in {:.1} s: {acked} versions installed, {mid_write} killed between \
         rename and ack, {fell_back} fallbacks to the previous gallery, 0 broken",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
