//! 1:N search speed beside numpy brute force (`G @ q` + `argpartition`), in
//! one run: 1k, 10k, 100k and 1M random unit templates, top 5.
//! `RAYON_NUM_THREADS` sets our threads; numpy gets the same BLAS threads.

use std::process::Command;
use std::time::Instant;

use facegate::gallery::format::Name;
use facegate::gallery::{Gallery, Index, Person, Policy, quantise};
use facegate::vision::Embedding;

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
const K: usize = 5;

fn main() {
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let threads = rayon::current_num_threads();
    let mut state = 7u64;
    let mut gauss = move || {
        // Box-Muller on a splitmix stream.
        let mut u = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let (a, b) = (u().max(1e-12), u());
        ((-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()) as f32
    };
    let mut ours = Vec::new();
    for &n in &SIZES {
        let mut index = Index::with_dim(128, n);
        let mut middle = None;
        for i in 0..n {
            let e = Embedding::normalised((0..128).map(|_| gauss()).collect());
            let t = quantise(&e, [0; 16]);
            index.push(i as u32, t.scale, &t.values);
            if i == n / 2 {
                middle = Some(e);
            }
        }
        let q = Embedding::normalised(
            middle
                .expect("query")
                .0
                .iter()
                .map(|v| v + 0.1 * gauss())
                .collect(),
        );
        for _ in 0..3 {
            std::hint::black_box(index.search(&q, K));
        }
        let mut times: Vec<f64> = (0..iters)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(index.search(&q, K));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        assert_eq!(
            index.search(&q, 1)[0].person,
            n / 2,
            "search finds the planted match"
        );
        ours.push(times[times.len() / 2]);
    }
    let load_ms = load_100k(&mut gauss);
    let python = std::env::var("FACEGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_search.py");
    let out = Command::new(python)
        .arg(script)
        .arg(iters.to_string())
        .arg(K.to_string())
        .args(SIZES.map(|n| n.to_string()))
        .env("OPENBLAS_NUM_THREADS", threads.to_string())
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .expect("run bench_search.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let numpy: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    println!("\n1:N search, top {K}, {threads} thread(s), median of {iters}");
    println!("| templates | facegate int8 ms | numpy f32 ms | facegate / numpy |");
    println!("|---|---|---|---|");
    for (n, ms) in SIZES.iter().zip(&ours) {
        let theirs = numpy[n.to_string()].as_f64().expect("time");
        println!("| {n} | {ms:.3} | {theirs:.3} | {:.2}x |", ms / theirs);
    }
    println!(
        "\n100k-person gallery file: decode, check and index in {load_ms:.1} ms (median of 5)"
    );
}

/// Median time to decode, validate and index a 100 000-person gallery file.
fn load_100k(gauss: &mut impl FnMut() -> f32) -> f64 {
    let mut g = Gallery::new("sface-2021dec-128", [0; 32], 128, 0.363);
    for i in 0..100_000u32 {
        let e = Embedding::normalised((0..128).map(|_| gauss()).collect());
        g.body.persons.push(Person {
            id: i,
            name: Name::try_from(format!("Person {i}").as_str()).expect("name"),
            badge: None,
            valid_from: None,
            valid_until: None,
            templates: vec![quantise(&e, [0; 16])],
        });
    }
    let bytes = g.encode(None).expect("encode");
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let loaded = Gallery::decode(&bytes, &Policy::default()).expect("decode");
            std::hint::black_box(Index::new(&loaded));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}
