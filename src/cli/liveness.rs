//! `liveness` (one image) and `calibrate-liveness` (a labelled set).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::json;

use facegate::calibrate::liveness::{self as cal, Presentation};
use facegate::vision::minifasnet::{LiveScore, Passive};
use facegate::vision::{Detection, Detector, picture};

/// The detector and the liveness models.
pub struct Models {
    /// Face detector.
    pub detector: Box<dyn Detector>,
    /// MiniFASNet V2 + V1SE.
    pub passive: Passive,
}

/// Every face's liveness; exit 0 when there is a face and all are live.
pub fn liveness(models: &Models, image: &Path, threshold: f32, as_json: bool) -> Result<ExitCode> {
    let img = picture::load(image)?;
    let faces: Vec<(Detection, Option<LiveScore>)> = models
        .detector
        .detect(&img)
        .into_iter()
        .map(|d| (d, models.passive.score(&img, d.bbox)))
        .collect();
    let live = |s: &Option<LiveScore>| s.is_some_and(|s| s.live >= threshold);
    let all_live = !faces.is_empty() && faces.iter().all(|(_, s)| live(s));
    if as_json {
        let rows: Vec<_> = faces
            .iter()
            .map(|(d, s)| json!({"bbox": d.bbox, "detection_score": d.score, "liveness": s, "live": live(s)}))
            .collect();
        println!(
            "{}",
            json!({"image": image, "threshold": threshold, "faces": rows, "all_live": all_live})
        );
    } else {
        println!("{}: {} face(s)", image.display(), faces.len());
        for (d, s) in &faces {
            let [x, y, w, h] = d.bbox;
            match s {
                Some(s) => println!(
                    "  box {x:.0},{y:.0} {w:.0}x{h:.0}  liveness {:.3} (V2 {:.3}, V1SE {:.3})  -> {}",
                    s.live,
                    s.per_model[0],
                    s.per_model[1],
                    if live(&Some(*s)) { "live" } else { "NOT LIVE" }
                ),
                None => {
                    println!("  box {x:.0},{y:.0} {w:.0}x{h:.0}  cannot be cropped -> NOT LIVE")
                }
            }
        }
    }
    Ok(if all_live {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `calibrate-liveness`'s arguments.
pub struct CalibrateArgs<'a> {
    /// Labelled set: `labels.csv` (file, label, attack, tag), else `live/`
    /// and `spoof/` sub-folders.
    pub dir: Option<&'a Path>,
    /// More folders of live faces only (every image below them).
    pub bona_fide: &'a [PathBuf],
    /// Threshold to report at.
    pub threshold: f32,
    /// Target APCER for the suggested threshold.
    pub target_apcer: f64,
    /// DET plot PNG.
    pub plot: Option<&'a Path>,
    /// Every presentation's score, tab-separated.
    pub scores_out: Option<&'a Path>,
}

/// Scores a labelled set and prints APCER/BPCER.
pub fn calibrate(models: &Models, args: CalibrateArgs<'_>, as_json: bool) -> Result<()> {
    let mut todo: Vec<(PathBuf, Presentation)> = Vec::new();
    if let Some(dir) = args.dir {
        todo.extend(labelled(dir)?);
    }
    for dir in args.bona_fide {
        let tag = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bona-fide".into());
        for path in images_below(dir)? {
            let file = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            todo.push((path, presentation(file, true, "-", &tag)));
        }
    }
    if todo.is_empty() {
        bail!("no images: give a labelled set and/or --bona-fide folders");
    }
    let bar = indicatif::ProgressBar::new(todo.len() as u64);
    let mut items = Vec::with_capacity(todo.len());
    for (path, mut p) in todo {
        p.score = score(models, &path).unwrap_or(f32::NAN);
        items.push(p);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(out) = args.scores_out {
        let mut text = String::from("file\tlive\tattack\tsource\tscore\n");
        for p in &items {
            text += &format!(
                "{}\t{}\t{}\t{}\t{}\n",
                p.file, p.live, p.attack, p.source, p.score
            );
        }
        facegate::atomic::write(out, text.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
    }
    let report = cal::report(&items, args.threshold);
    let suggested = cal::threshold_for_apcer(&items, args.target_apcer);
    let at_suggested = suggested.map(|t| cal::rates(&items, t));
    if let Some(png) = args.plot {
        cal::plot(png, &items, args.threshold).map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    }
    if as_json {
        println!(
            "{}",
            json!({"report": report, "target_apcer": args.target_apcer,
                   "threshold_for_target": suggested, "at_target": at_suggested})
        );
        return Ok(());
    }
    let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.2} %", 100.0 * v));
    let line = |name: &str, r: &cal::Rates| {
        println!(
            "  {name:<28} attacks {:>3} accepted {:>3} (APCER {:>8})  bona fide {:>5} rejected {:>4} (BPCER {:>8})  no face {}",
            r.attacks,
            r.attacks_accepted,
            pct(r.apcer),
            r.bona_fide,
            r.bona_fide_rejected,
            pct(r.bpcer),
            r.no_face
        )
    };
    println!("at threshold {:.3}:", report.threshold);
    line("overall", &report.overall);
    for (k, r) in &report.per_source {
        line(&format!("source {k}"), r);
    }
    for (k, r) in &report.per_attack {
        line(&format!("attack {k}"), r);
    }
    println!("worst APCER per attack type: {}", pct(report.worst_apcer));
    if let (Some(t), Some(r)) = (suggested, &at_suggested) {
        println!(
            "threshold for APCER <= {}: {t:.4} (APCER {}, BPCER {})",
            pct(Some(args.target_apcer)),
            pct(r.apcer),
            pct(r.bpcer)
        );
    }
    for p in &report.errors {
        let kind = if p.live {
            "live rejected"
        } else {
            "attack accepted"
        };
        println!("  {kind}: {} ({}) score {:.3}", p.file, p.source, p.score);
    }
    Ok(())
}

/// The largest face's liveness; `None` without a face.
fn score(models: &Models, path: &Path) -> Option<f32> {
    let img = picture::load(path).ok()?;
    let found = models.detector.detect(&img);
    let face = Detection::largest(&found)?;
    models.passive.score(&img, face.bbox).map(|s| s.live)
}

fn presentation(file: String, live: bool, attack: &str, source: &str) -> Presentation {
    Presentation {
        file,
        live,
        attack: attack.to_string(),
        source: source.to_string(),
        score: f32::NAN,
    }
}

/// A set's presentations: from `labels.csv` (columns `file`, `label` =
/// live|spoof, `attack`, `tag`), else every image under `live/` and `spoof/`.
fn labelled(dir: &Path) -> Result<Vec<(PathBuf, Presentation)>> {
    let csv_path = dir.join("labels.csv");
    if !csv_path.exists() {
        let mut out = Vec::new();
        for (sub, live) in [("live", true), ("spoof", false)] {
            for path in images_below(&dir.join(sub))? {
                let file = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                let attack = if live { "-" } else { "unlabelled" };
                out.push((path, presentation(file, live, attack, sub)));
            }
        }
        return Ok(out);
    }
    let mut reader = csv::Reader::from_path(&csv_path)
        .with_context(|| format!("reading {}", csv_path.display()))?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column {name:?}", csv_path.display()))
    };
    let (file, label, attack, tag) = (col("file")?, col("label")?, col("attack")?, col("tag")?);
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", csv_path.display(), i + 2))?;
        let get = |c: usize| row.get(c).unwrap_or("").to_string();
        let live = match get(label).as_str() {
            "live" => true,
            "spoof" => false,
            other => bail!(
                "{}: row {}: label {other:?} is neither live nor spoof",
                csv_path.display(),
                i + 2
            ),
        };
        let name = get(file);
        // Attack types are "print (…)", "screen (…)": the word before the note.
        let kind = get(attack);
        let kind = kind.split(" (").next().unwrap_or("-").to_string();
        out.push((dir.join(&name), presentation(name, live, &kind, &get(tag))));
    }
    Ok(out)
}

/// JPEG and PNG files below `dir`, sorted.
fn images_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
