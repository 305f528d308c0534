//! The `facegate` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;

use facegate::vision::{
    Backend, DEFAULT_COSINE_THRESHOLD, DetectorConfig, Face, ModelPaths, Vision, picture,
};

#[derive(Parser)]
#[command(version, about = "Face-recognition door terminal firmware")]
struct Cli {
    /// Models directory (default: $FACEGATE_MODELS, ./models, /usr/share/facegate/models).
    #[arg(long, global = true)]
    models: Option<PathBuf>,
    /// Compute backend.
    #[arg(long, global = true, default_value_t = Backend::default())]
    backend: Backend,
    /// Worker threads for the models (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Largest detector input, WIDTHxHEIGHT; larger images are scaled down.
    #[arg(long, global = true, default_value = "640x480", value_parser = parse_size)]
    input_size: (u32, u32),
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect faces: boxes, 5 landmarks and scores.
    Detect {
        /// Image file (JPEG or PNG).
        image: PathBuf,
    },
    /// Embed the largest face: a unit-length 128-D vector.
    Embed {
        /// Image file (JPEG or PNG).
        image: PathBuf,
    },
    /// Compare the largest faces of two images.
    Compare {
        /// First image.
        a: PathBuf,
        /// Second image.
        b: PathBuf,
        /// Cosine score at or above which the faces are the same person.
        #[arg(long, default_value_t = DEFAULT_COSINE_THRESHOLD)]
        threshold: f32,
    },
    /// Manage models.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Convert the exported weights (*.safetensors) into burn records (*.bpk).
    Import,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?} is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| {
        v.parse::<u32>()
            .ok()
            .filter(|n| (32..=4096).contains(n))
            .ok_or_else(|| format!("{v:?} is not a size in 32..=4096"))
    };
    Ok((parse(w)?, parse(h)?))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting the thread count")?;
    }
    let paths = ModelPaths::new(cli.models.clone().unwrap_or_else(ModelPaths::default_dir));
    let config = DetectorConfig {
        input_width: cli.input_size.0,
        input_height: cli.input_size.1,
        ..DetectorConfig::default()
    };
    match &cli.command {
        Command::Models {
            action: ModelsAction::Import,
        } => {
            let device = cli.backend.device()?;
            for path in facegate::vision::import_models(&paths, &device)? {
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Detect { image } => {
            let vision = Vision::load(&paths, cli.backend, config)?;
            let img = picture::load(image)?;
            let faces = vision.detector.detect(&img);
            if cli.json {
                println!(
                    "{}",
                    json!({"image": image, "width": img.width(), "height": img.height(), "faces": faces})
                );
            } else {
                println!("{}: {} face(s)", image.display(), faces.len());
                for f in &faces {
                    let [x, y, w, h] = f.bbox;
                    println!("  box {x:.1},{y:.1} {w:.1}x{h:.1}  score {:.3}", f.score);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Embed { image } => {
            let vision = Vision::load(&paths, cli.backend, config)?;
            let face = largest(&vision, image)?;
            if cli.json {
                println!(
                    "{}",
                    json!({"image": image, "detection": face.detection, "embedding": face.embedding.0})
                );
            } else {
                let values: Vec<String> =
                    face.embedding.0.iter().map(|v| format!("{v:.6}")).collect();
                println!("{}", values.join(" "));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare { a, b, threshold } => {
            let vision = Vision::load(&paths, cli.backend, config)?;
            let (fa, fb) = (largest(&vision, a)?, largest(&vision, b)?);
            let cosine = fa.embedding.cosine(&fb.embedding);
            let l2 = fa.embedding.l2(&fb.embedding);
            let same = cosine >= *threshold;
            if cli.json {
                println!(
                    "{}",
                    json!({"a": a, "b": b, "cosine": cosine, "l2": l2, "threshold": threshold, "same": same})
                );
            } else {
                let verdict = if same {
                    "same person"
                } else {
                    "different people"
                };
                println!("cosine {cosine:.4}  l2 {l2:.4}  threshold {threshold}  -> {verdict}");
            }
            // Like `cmp`: 0 same, 1 different, 2 error.
            Ok(if same {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn largest(vision: &Vision, path: &Path) -> Result<Face> {
    let img = picture::load(path)?;
    Ok(vision.largest_face(&img, &path.display().to_string())?)
}
