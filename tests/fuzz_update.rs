//! A mutation fuzzer for the update path — the signature block and the
//! gallery decoder behind `Store::verify` — on stable Rust, for a bounded time
//! in every test run (`FACEGATE_FUZZ_SECONDS`, default 5).
//!
//! Signed galleries are mutated anywhere (signature kind, key id, signature
//! bytes, CRC, header, body; flips, overwrites, truncation, extension), often
//! with the CRC recomputed. Every mutant must be refused with an error, never
//! panic, and never be accepted: only the untouched, correctly signed file
//! may install.

mod common;

use std::time::{Duration, Instant};

use common::Rng;

use ed25519_dalek::SigningKey;
use facegate::gallery::{Gallery, Keyring, Person, Policy, quantise};
use facegate::update::Store;
use facegate::vision::Embedding;

fn signed(key: &SigningKey, persons: u32, version: u64) -> Vec<u8> {
    let mut g = Gallery::new("sface-2021dec-128", [5; 32], 128, 0.4);
    g.body.header.version = version;
    for i in 0..persons {
        let e: Vec<f32> = (0..128)
            .map(|j| ((i + 1) * (j + 3) % 23) as f32 - 11.0)
            .collect();
        g.body.persons.push(Person {
            id: i + 1,
            name: format!("person {i}")
                .as_str()
                .try_into()
                .unwrap_or_default(),
            badge: None,
            valid_from: None,
            valid_until: Some(2_000_000_000),
            templates: vec![quantise(&Embedding::normalised(e), [i as u8; 16])],
        });
    }
    g.encode(Some(key)).unwrap()
}

#[test]
fn mutated_updates_are_always_refused() {
    let seconds: f64 = std::env::var("FACEGATE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let key = SigningKey::from_bytes(&[7; 32]);
    let policy = Policy {
        model_id: Some("sface-2021dec-128".into()),
        keyring: Keyring::new(vec![key.verifying_key()]),
        require_signature: true,
        max_size: 1 << 20,
        ..Policy::default()
    };
    let store = Store::new(std::path::Path::new("/nonexistent/gallery.fgal"));
    let originals = [signed(&key, 0, 5), signed(&key, 1, 6), signed(&key, 4, 7)];
    for o in &originals {
        assert!(store.verify(o, &policy, Some(4)).is_ok());
    }
    let mut rng = Rng(0x5eed);
    let (mut tried, mut accepted) = (0u64, 0u64);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        for _ in 0..256 {
            let original = &originals[rng.below(originals.len())];
            let mut m = original.clone();
            let tail = m.len() - 73; // CRC(4) + kind(1) + key id(8) + signature(64) start
            for _ in 0..1 + rng.below(3) {
                match rng.below(7) {
                    0 => {
                        let i = rng.below(m.len());
                        m[i] ^= 1 << rng.below(8);
                    }
                    1 if m.len() > tail => {
                        // Somewhere in the CRC and signature block.
                        let i = tail + rng.below(m.len() - tail);
                        m[i] = rng.next() as u8;
                    }
                    2 => {
                        let n = rng.below(m.len());
                        m.truncate(n);
                    }
                    3 => m.extend((0..1 + rng.below(80)).map(|_| rng.next() as u8)),
                    4 => {
                        // Signature kind byte: unsigned, unknown kinds.
                        if tail + 4 < m.len() {
                            m[tail + 4] = rng.below(4) as u8;
                        }
                    }
                    5 => {
                        // Key id of another key.
                        if tail + 13 <= m.len() {
                            for b in &mut m[tail + 5..tail + 13] {
                                *b = rng.next() as u8;
                            }
                        }
                    }
                    _ => {
                        let i = rng.below(m.len());
                        m[i] = rng.next() as u8;
                    }
                }
                if m.is_empty() {
                    break;
                }
            }
            // Recompute the CRC over the (possibly changed) body most of the time.
            if rng.below(4) > 0 && m.len() > tail + 4 && m.len() == original.len() {
                let crc = crc32fast::hash(&m[..tail]);
                m[tail..tail + 4].copy_from_slice(&crc.to_le_bytes());
            }
            tried += 1;
            if store.verify(&m, &policy, Some(4)).is_ok() {
                accepted += 1;
                assert_eq!(&m, original, "a mutant was accepted");
            }
        }
    }
    println!(
        "{tried} mutants in {seconds:.1} s, {accepted} identical to their original, 0 accepted"
    );
    assert!(tried > 1000);
}
