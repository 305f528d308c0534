//! Unit tests of field updates: refusals, rollback, fallback, the floor.

use super::*;
use crate::gallery::{Keyring, Person, quantise};
use crate::vision::Embedding;
use ed25519_dalek::SigningKey;

const MODEL: &str = "sface-2021dec-128";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn gallery(version: u64, names: &[&str]) -> Gallery {
    let mut g = Gallery::new(MODEL, [7; 32], 4, 0.363);
    g.body.header.version = version;
    for (i, n) in names.iter().enumerate() {
        g.body.persons.push(Person {
            id: i as u32 + 1,
            name: (*n).try_into().unwrap(),
            badge: None,
            valid_from: None,
            valid_until: None,
            templates: vec![quantise(
                &Embedding::normalised(vec![1.0, i as f32, 0.5, -0.25]),
                [0; 16],
            )],
        });
    }
    g
}

fn signed(version: u64, names: &[&str], k: &SigningKey) -> Vec<u8> {
    gallery(version, names).encode(Some(k)).unwrap()
}

fn policy() -> Policy {
    Policy {
        model_id: Some(MODEL.into()),
        keyring: Keyring::new(vec![key(1).verifying_key()]),
        require_signature: true,
        max_size: 64 * 1024,
        ..Policy::default()
    }
}

fn store(tag: &str) -> (PathBuf, Store) {
    let dir = std::env::temp_dir().join(format!("facegate-update-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::new(&dir.join("gallery.fgal"));
    (dir, store)
}

fn refusal(r: Result<Gallery, UpdateError>) -> &'static str {
    match r {
        Err(UpdateError::Refused(r)) => r.code(),
        Ok(_) => "accepted",
        Err(e) => panic!("not a refusal: {e}"),
    }
}

#[test]
fn every_refusal_has_its_reason_and_changes_nothing() {
    let (_dir, store) = store("refusals");
    let v1 = signed(1, &["Ann"], &key(1));
    store.install(&v1, &policy(), None).unwrap();
    let p = policy();
    let mut tampered = signed(2, &["Ann", "Bob"], &key(1));
    tampered[20] ^= 1; // inside the body: CRC and signature break
    let body_len = tampered.len() - 73;
    let mut forged = signed(2, &["Ann", "Bob"], &key(1));
    forged[14] ^= 1;
    let crc = crc32fast::hash(&forged[..body_len - 4]);
    forged[body_len - 4..body_len].copy_from_slice(&crc.to_le_bytes());
    let mut other_model = gallery(2, &["Ann"]);
    other_model.body.header.model_id = "arcface-r100".try_into().unwrap();
    let cases: Vec<(&str, Vec<u8>, Policy)> = vec![
        ("corrupt", tampered, p.clone()),
        ("bad-signature", forged, p.clone()),
        ("unknown-key", signed(2, &["Ann"], &key(9)), p.clone()),
        ("not-newer", signed(1, &["Ann", "Eve"], &key(1)), p.clone()),
        (
            "model-mismatch",
            other_model.encode(Some(&key(1))).unwrap(),
            p.clone(),
        ),
        ("corrupt", v1[..v1.len() / 2].to_vec(), p.clone()),
        (
            "unsigned",
            gallery(2, &["Ann"]).encode(None).unwrap(),
            p.clone(),
        ),
        (
            "too-large",
            signed(2, &["Ann"], &key(1)),
            Policy {
                max_size: 100,
                ..p.clone()
            },
        ),
    ];
    for (want, bytes, policy) in cases {
        let got = refusal(store.install(&bytes, &policy, Some(1)));
        assert_eq!(got, want);
        assert_eq!(
            std::fs::read(store.current()).unwrap(),
            v1,
            "{want} changed the gallery"
        );
    }
    let v2 = signed(2, &["Ann", "Bob"], &key(1));
    assert_eq!(refusal(store.install(&v2, &p, Some(1))), "accepted");
    assert_eq!(std::fs::read(store.current()).unwrap(), v2);
    assert_eq!(std::fs::read(store.previous()).unwrap(), v1);
}

#[test]
fn rollback_swaps_current_and_previous() {
    let (_dir, store) = store("rollback");
    let p = policy();
    assert!(matches!(
        store.rollback(&p),
        Err(UpdateError::NoPrevious(_))
    ));
    let v1 = signed(1, &["Ann"], &key(1));
    let v2 = signed(2, &["Ann", "Bob"], &key(1));
    store.install(&v1, &p, None).unwrap();
    store.install(&v2, &p, Some(1)).unwrap();
    let g = store.rollback(&p).unwrap();
    assert_eq!(g.header().version, 1);
    assert_eq!(std::fs::read(store.current()).unwrap(), v1);
    assert_eq!(std::fs::read(store.previous()).unwrap(), v2);
}

#[test]
fn damaged_current_falls_back_to_previous() {
    let (dir, store) = store("fallback");
    let p = policy();
    let v1 = signed(1, &["Ann"], &key(1));
    let v2 = signed(2, &["Ann", "Bob"], &key(1));
    store.install(&v1, &p, None).unwrap();
    store.install(&v2, &p, Some(1)).unwrap();
    let mut bytes = v2.clone();
    let n = bytes.len();
    bytes[n - 10] ^= 0x40; // inside the signature
    std::fs::write(store.current(), &bytes).unwrap();
    std::fs::write(dir.join(".gallery.fgal.tmp-999"), b"half").unwrap();
    match store.load(&p).unwrap() {
        Loaded::FellBack {
            gallery,
            why,
            broken,
        } => {
            assert_eq!(gallery.header().version, 1);
            assert!(matches!(why, GalleryError::BadSignature(_)), "{why}");
            assert_eq!(std::fs::read(broken.unwrap()).unwrap(), bytes);
        }
        Loaded::Current(_) => panic!("loaded a damaged gallery"),
    }
    assert_eq!(std::fs::read(store.current()).unwrap(), v1);
    assert!(!dir.join(".gallery.fgal.tmp-999").exists());
    // Both damaged: a clear error naming both causes.
    std::fs::write(store.current(), b"FGAL").unwrap();
    std::fs::write(store.previous(), b"junk").unwrap();
    let e = store.load(&p).unwrap_err().to_string();
    assert!(e.contains("current:") && e.contains("previous:"), "{e}");
}

#[test]
fn oversized_file_is_refused_before_reading_it_all() {
    let (dir, store) = store("big");
    let path = dir.join("huge.fgal");
    std::fs::write(&path, vec![0u8; 200_000]).unwrap();
    let r = store.install_file(&path, &policy(), None);
    assert_eq!(refusal(r), "too-large");
}

#[test]
fn the_floor_outlives_damage_fallback_and_rollback() {
    let (_dir, store) = store("floor");
    let p = policy();
    let v = |n: u64| signed(n, &["Ann"], &key(1));
    for n in 1..=3 {
        store.install(&v(n), &p, None).unwrap();
    }
    assert_eq!(store.floor().unwrap().version, 3);
    // Damaged current: a replayed v1 or v2 is refused without the installed
    // version to compare with.
    std::fs::write(store.current(), b"FGAL junk").unwrap();
    assert_eq!(refusal(store.install(&v(1), &p, None)), "not-newer");
    assert_eq!(refusal(store.install(&v(3), &p, None)), "not-newer");
    // Start-up falls back to v2 (an incident) and the floor stays at 3.
    assert!(matches!(store.load(&p).unwrap(), Loaded::FellBack { .. }));
    assert_eq!(store.floor().unwrap().version, 3);
    assert_eq!(refusal(store.install(&v(3), &p, Some(2))), "not-newer");
    // Written over the installed file by hand: not used, at start or reload.
    let mut updates = super::Updates::new(store.clone(), p.clone(), store.previous().into());
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(store.current(), v(1)).unwrap();
    assert!(matches!(updates.reload_if_changed(), Some(Err(_))));
    assert!(matches!(store.load(&p).unwrap(), Loaded::FellBack { .. }));
    // v4 installs; a rollback to v3 is used (sanctioned) but the floor stays.
    store.install(&v(4), &p, None).unwrap();
    let back = store.rollback(&p).unwrap();
    assert!(back.header().version < 4);
    assert!(matches!(store.load(&p).unwrap(), Loaded::Current(_)));
    assert_eq!(store.floor().unwrap().version, 4);
    assert_eq!(refusal(store.install(&v(4), &p, None)), "not-newer");
    assert_eq!(refusal(store.install(&v(5), &p, None)), "accepted");
}

#[test]
fn refused_files_are_kept_but_bounded() {
    let (dir, store) = store("refused");
    let p = policy();
    store
        .install(&signed(5, &["Ann"], &key(1)), &p, None)
        .unwrap();
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let mut updates = super::Updates::new(store, p, inbox.clone());
    for i in 0..40 {
        std::fs::write(
            inbox.join(format!("old-{i:02}.fgal")),
            signed(1, &["Eve"], &key(1)),
        )
        .unwrap();
        let out = updates.poll(5);
        assert_eq!(out.len(), 1);
    }
    let kept = std::fs::read_dir(inbox.join("refused")).unwrap().count();
    assert!((1..=16).contains(&kept), "{kept} refused files kept");
}
