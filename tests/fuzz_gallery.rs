//! A mutation fuzzer for the gallery decoder, on stable Rust, run for a bounded
//! time in every test run (`FACEGATE_FUZZ_SECONDS`, default 10).
//!
//! Valid galleries are mutated (bit flips, byte overwrites, truncation,
//! insertion, duplication, length fields set to random values), and most
//! mutants get their CRC recomputed so the postcard decoder itself sees them.
//! Every input must decode or fail with an error — no panic — and decoding may
//! allocate at most 16 bytes per input byte plus 1 MiB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
mod common;

use std::time::{Duration, Instant};

use common::Rng;

use ed25519_dalek::SigningKey;
use facegate::gallery::format::Name;
use facegate::gallery::{Gallery, Keyring, Person, Policy, quantise};
use facegate::vision::Embedding;

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn corpus(key: &SigningKey) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (persons, templates) in [(0, 1), (1, 1), (3, 2), (2, 16)] {
        let mut g = Gallery::new("sface-2021dec-128", [3; 32], 128, 0.4);
        for i in 0..persons {
            let ts = (0..templates)
                .map(|t| {
                    let e = Embedding::normalised(
                        (0..128)
                            .map(|j| ((i * 7 + t * 3 + j) % 11) as f32 - 5.0)
                            .collect(),
                    );
                    quantise(&e, [t as u8; 16])
                })
                .collect();
            g.body.persons.push(Person {
                id: i as u32,
                name: Name::try_from("Ada Lovelace").expect("name"),
                badge: None,
                valid_from: Some(1),
                valid_until: None,
                templates: ts,
            });
        }
        out.push(g.encode(None).expect("encode"));
        out.push(g.encode(Some(key)).expect("encode"));
    }
    out
}

fn mutate(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(4) {
        let n = b.len();
        match rng.below(7) {
            0 if n > 0 => {
                let i = rng.below(n);
                b[i] ^= 1 << rng.below(8);
            }
            1 if n > 0 => {
                let i = rng.below(n);
                b[i] = [0x00, 0xFF, 0x7F, 0x80, 0x01][rng.below(5)];
            }
            2 => b.truncate(rng.below(n + 1)),
            3 => {
                let at = rng.below(n + 1);
                let extra: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
                b.splice(at..at, extra);
            }
            4 if n > 2 => {
                let (s, len) = (rng.below(n), rng.below(64));
                let chunk: Vec<u8> = b[s..(s + len).min(n)].to_vec();
                let at = rng.below(n);
                b.splice(at..at, chunk);
            }
            5 if n >= 12 => {
                let v = [
                    rng.next() as u32,
                    u32::MAX,
                    (n as u32).wrapping_sub(12),
                    1 << 30,
                ][rng.below(4)];
                b[8..12].copy_from_slice(&v.to_le_bytes());
            }
            _ if n > 12 => {
                // Varint-shaped garbage inside the body.
                let i = 12 + rng.below(n - 12);
                b[i] = 0x80 | rng.next() as u8;
            }
            _ => {}
        }
    }
    // Most mutants get a valid CRC so the body decoder is exercised.
    if rng.below(10) < 8 && b.len() >= 12 {
        let len = u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize;
        if let Some(crc_at) = 12usize.checked_add(len).filter(|&c| c + 4 <= b.len()) {
            let crc = crc32fast::hash(&b[..crc_at]);
            b[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
        }
    }
    b
}

#[test]
fn gallery_decoder_survives_mutations() {
    let seconds: u64 = std::env::var("FACEGATE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let key = SigningKey::from_bytes(&[9; 32]);
    let policy = Policy {
        keyring: Keyring::new(vec![key.verifying_key()]),
        ..Policy::default()
    };
    let seeds = corpus(&key);
    let mut rng = Rng(0x5EED_F00D);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut accepted, mut worst) = (0u64, 0u64, 0.0f64);
    while Instant::now() < deadline {
        for _ in 0..256 {
            let seed = seeds[rng.below(seeds.len())].clone();
            let input = mutate(&mut rng, seed);
            let base = CURRENT.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let result = std::panic::catch_unwind(|| Gallery::decode(&input, &policy).is_ok());
            let used = PEAK.load(Ordering::Relaxed).saturating_sub(base);
            match result {
                Ok(ok) => accepted += u64::from(ok),
                Err(_) => panic!("decoder panicked on {:02x?}", input),
            }
            let budget = 16 * input.len() + (1 << 20);
            assert!(
                used <= budget,
                "decoding {} bytes allocated {used} bytes",
                input.len()
            );
            worst = worst.max(used as f64 / input.len().max(1) as f64);
            runs += 1;
        }
    }
    println!(
        "{runs} mutants in {seconds} s, {accepted} still valid, worst {worst:.1} bytes allocated per input byte"
    );
    assert!(runs > 1000, "only {runs} runs");
}
