//! `detect`, `embed`, `compare`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use facegate::vision::{Face, Vision, picture};

pub fn detect(vision: &Vision, image: &Path, as_json: bool) -> Result<()> {
    let img = picture::load(image)?;
    let faces = vision.detector.detect(&img);
    if as_json {
        println!(
            "{}",
            json!({"image": image, "width": img.width(), "height": img.height(), "faces": faces})
        );
        return Ok(());
    }
    println!("{}: {} face(s)", image.display(), faces.len());
    for f in &faces {
        let [x, y, w, h] = f.bbox;
        println!("  box {x:.1},{y:.1} {w:.1}x{h:.1}  score {:.3}", f.score);
    }
    Ok(())
}

pub fn embed(vision: &Vision, image: &Path, as_json: bool) -> Result<()> {
    let face = largest(vision, image)?;
    if as_json {
        println!(
            "{}",
            json!({"image": image, "detection": face.detection, "embedding": face.embedding.0})
        );
    } else {
        let values: Vec<String> = face.embedding.0.iter().map(|v| format!("{v:.6}")).collect();
        println!("{}", values.join(" "));
    }
    Ok(())
}

/// Like `cmp`: exit 0 for the same person, 1 for different people.
pub fn compare(
    vision: &Vision,
    a: &Path,
    b: &Path,
    threshold: Option<f32>,
    as_json: bool,
) -> Result<ExitCode> {
    let threshold = threshold.unwrap_or(vision.default_threshold());
    let (fa, fb) = (largest(vision, a)?, largest(vision, b)?);
    let cosine = fa.embedding.cosine(&fb.embedding);
    let l2 = fa.embedding.l2(&fb.embedding);
    // The seed's ranking distance (unit vectors: 2 - 2 cosine).
    let squared_l2 = l2 * l2;
    let same = cosine >= threshold;
    if as_json {
        println!(
            "{}",
            json!({"a": a, "b": b, "cosine": cosine, "l2": l2, "squared_l2": squared_l2,
                   "threshold": threshold, "same": same, "embedder": vision.info().name})
        );
    } else {
        let verdict = if same {
            "same person"
        } else {
            "different people"
        };
        println!(
            "cosine {cosine:.4}  l2 {l2:.4}  squared l2 {squared_l2:.4}  threshold {threshold}  -> {verdict}"
        );
    }
    Ok(if same {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn largest(vision: &Vision, path: &Path) -> Result<Face> {
    let img = picture::load(path)?;
    Ok(vision.largest_face(&img, &path.display().to_string())?)
}
