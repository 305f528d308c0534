//! `facegate run`'s pipeline speed with a 10k-person gallery (the default
//! YuNet + SFace with int8 and fp32 models, every other detector × embedder
//! with the default precision), beside the same pipeline in OpenCV
//! (`scripts/bench_pipeline_opencv.py`) and dlib's `face_recognition`
//! (`scripts/bench_pipeline_dlib.py`) on the same 640×480 frames, in
//! alternating rounds. Prints frames per second, the per-stage milliseconds and
//! the ratios per frame.
//!
//! `BENCH_FRAMES` (default 120) frames; `RAYON_NUM_THREADS` threads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use facegate::camera::replay::letterbox;
use facegate::config::Config;
use facegate::gallery::{Gallery, Person, dequantise, quantise};
use facegate::terminal::{Stats, Terminal};
use facegate::vision::{
    Backend, DetectorConfig, DetectorKind, EmbedderKind, Embedding, LoadOptions, ModelPaths,
    Precision, Vision, VisionConfig, picture,
};

const PEOPLE: usize = 10_000;
const ROUNDS: usize = 3;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let frames: usize = std::env::var("BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let threads = rayon::current_num_threads();
    let models = ModelPaths::new(
        std::env::var_os("FACEGATE_MODELS").map_or(root.join("models"), PathBuf::from),
    );
    let shared =
        std::env::var_os("FACEGATE_SHARED_DATA").map_or(root.join("../shared/data"), PathBuf::from);
    let ids = shared.join("id-photos-wikimedia");
    let work = std::env::temp_dir().join(format!("facegate-bench-run-{}", std::process::id()));
    std::fs::create_dir_all(work.join("frames")).expect("work dir");

    // A gallery per embedder: the two enrolled people plus synthetic ones
    // up to 10k.
    for embedder in EmbedderKind::ALL {
        let options = LoadOptions::new(
            Backend::default(),
            Precision::default(),
            DetectorConfig::default(),
        );
        let config = VisionConfig {
            embedder,
            ..VisionConfig::default()
        };
        let vision =
            Vision::load(&models, config, &options).expect("models (scripts/fetch-models.sh)");
        let info = vision.info();
        let mut gallery = Gallery::new(
            info.model_id,
            info.weights_sha256,
            info.dim as u16,
            vision.default_threshold(),
        );
        for (i, photo) in ["person_a_1.jpg", "person_b_1.jpg"].iter().enumerate() {
            let img = picture::load(&ids.join(photo)).expect("id photo");
            let face = vision.largest_face(&img, photo).expect("face");
            gallery
                .body
                .persons
                .push(person(i as u32 + 1, photo, &face.embedding));
        }
        let gallery = facegate::gallery::synthetic(gallery, PEOPLE);
        gallery
            .save(&work.join(format!("gallery-{embedder}.fgal")), None)
            .expect("save");
        if embedder == EmbedderKind::default() {
            // The references search the default embedder's templates.
            let matrix: Vec<u8> = gallery
                .persons()
                .iter()
                .flat_map(|p| dequantise(&p.templates[0]).0)
                .flat_map(f32::to_le_bytes)
                .collect();
            std::fs::write(work.join("gallery.f32"), matrix).expect("gallery.f32");
            std::fs::write(
                work.join("gallery.json"),
                format!("{{\"rows\": {PEOPLE}, \"dim\": {}}}", info.dim),
            )
            .expect("gallery.json");
        }
    }

    // The frames: people at the door, an unknown one, an empty hall.
    let pictures = ["person_a_2.jpg", "impostor_1.jpg", "person_b_2.jpg"];
    let mut playlist = String::new();
    for i in 0..frames {
        let name = format!("{i:04}.png");
        let slot = i % 40;
        if slot < 30 {
            let img = picture::load(&ids.join(pictures[slot / 10])).expect("frame photo");
            letterbox(&img, (640, 480))
                .save(work.join("frames").join(&name))
                .expect("frame");
            playlist.push_str(&format!("frames/{name}\n"));
        } else {
            playlist.push_str("blank\n");
            image::RgbImage::from_pixel(640, 480, image::Rgb([96, 96, 96]))
                .save(work.join("frames").join(&name))
                .expect("frame");
        }
    }
    std::fs::write(work.join("scene.txt"), playlist).expect("playlist");
    let mut setups = Vec::new();
    for detector in DetectorKind::ALL {
        for embedder in EmbedderKind::ALL {
            let vision = VisionConfig { detector, embedder };
            for precision in Precision::ALL {
                if vision != VisionConfig::default() && precision != Precision::default() {
                    continue;
                }
                let label = format!("{detector} + {embedder}, {precision}");
                let config_text = format!(
                    "[terminal]\ngallery = \"gallery-{embedder}.fgal\"\nrequire_signature = false\nmodels = \"{}\"\nprecision = \"{precision}\"\n\
                     [vision]\ndetector = \"{detector}\"\nembedder = \"{embedder}\"\n\
                     [camera.replay]\npath = \"scene.txt\"\nfps = 10\n\
                     [door]\npulse_ms = 1\n[door.sim]\n[events]\npath = \"events.log\"\n",
                    models.dir().display()
                );
                let path = work.join(format!("{detector}-{embedder}-{precision}.toml"));
                std::fs::write(&path, config_text).expect("config");
                setups.push((label, path));
            }
        }
    }

    let python = std::env::var("FACEGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut best: Vec<Option<Stats>> = vec![None; setups.len()];
    let mut reference = f64::INFINITY;
    let mut dlib = f64::INFINITY;
    for _ in 0..ROUNDS {
        for (i, (_, config)) in setups.iter().enumerate() {
            let stats = run(config);
            if best[i].as_ref().is_none_or(|b| stats.wall < b.wall) {
                best[i] = Some(stats);
            }
        }
        let out = Command::new(&python)
            .arg(root.join("scripts/bench_pipeline_opencv.py"))
            .arg(&work)
            .arg(threads.to_string())
            .arg("1")
            .output()
            .expect("python");
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|_| {
            panic!("reference failed: {}", String::from_utf8_lossy(&out.stderr))
        });
        reference = reference.min(v["ms_per_frame"].as_f64().unwrap_or(f64::INFINITY));
        // dlib's face_recognition, when installed (scripts/requirements-dlib.txt).
        let out = Command::new(&python)
            .arg(root.join("scripts/bench_pipeline_dlib.py"))
            .arg(&work)
            .arg("1")
            .env("OMP_NUM_THREADS", threads.to_string())
            .output()
            .expect("python");
        if let Ok(v) =
            serde_json::from_str::<serde_json::Value>(String::from_utf8_lossy(&out.stdout).trim())
        {
            dlib = dlib.min(v["ms_per_frame"].as_f64().unwrap_or(f64::INFINITY));
        }
    }
    let ms = |d: std::time::Duration, n: u64| d.as_secs_f64() * 1e3 / n.max(1) as f64;
    println!("#### facegate run, {PEOPLE}-person gallery, 640x480 frames, {threads} thread(s)");
    println!(
        "| models | capture ms/frame | detect ms/frame | align ms/face | embed ms/face | search 10k ms/face | **ms/frame** | fps | / OpenCV {reference:.2} ms | / dlib {dlib:.1} ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for ((label, _), s) in setups.iter().zip(&best) {
        let Some(s) = s else { continue };
        let per_frame = ms(s.wall, s.frames);
        println!(
            "| facegate {label} | {:.2} | {:.2} | {:.3} | {:.2} | {:.3} | **{per_frame:.2}** | {:.1} | {:.2}x | {:.3}x |",
            ms(s.capture, s.frames),
            ms(s.detect, s.frames),
            ms(s.align, s.faces),
            ms(s.embed, s.faces),
            ms(s.search, s.faces),
            1e3 / per_frame,
            per_frame / reference,
            per_frame / dlib,
        );
    }
    println!(
        "| OpenCV 5 DNN (same fp32 ONNX) | | | | | | {reference:.2} | {:.1} | | |",
        1e3 / reference
    );
    if dlib.is_finite() {
        println!(
            "| dlib face_recognition (HOG + ResNet) | | | | | | {dlib:.1} | {:.1} | | |",
            1e3 / dlib
        );
    } else {
        println!(
            "(dlib reference skipped: pip install --no-deps -r scripts/requirements-dlib.txt)"
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

fn person(id: u32, name: &str, e: &Embedding) -> Person {
    Person {
        id,
        name: name.try_into().unwrap_or_default(),
        badge: None,
        valid_from: None,
        valid_until: None,
        templates: vec![quantise(e, [0; 16])],
    }
}

fn run(config: &Path) -> Stats {
    let config = Config::load(config).expect("config");
    let (terminal, _) = Terminal::open(config, Arc::new(AtomicBool::new(false))).expect("open");
    terminal.run().expect("run")
}
