//! `calibrate`: the threshold from a labelled photo set — 1:1 (pairs: TAR at
//! FAR, EER) or 1:N (`--identification`: FNIR at FPIR for galleries of the
//! site's size, `facegate::calibrate::identification`).

use std::path::Path;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use serde_json::json;

use super::gallery::{Trust, edit};
use facegate::calibrate::{self, embeddings::Embeddings, identification as ident};
use facegate::enroll;
use facegate::vision::{Embedding, Subject, Vision, picture};

pub struct CalibrateArgs<'a> {
    pub dir: Option<&'a Path>,
    pub far: f64,
    pub plot: Option<&'a Path>,
    pub gallery: Option<&'a Path>,
    pub trust: Trust<'a>,
    pub max_impostors: usize,
    pub pairs: Option<&'a Path>,
    /// Errata: folders that hold one person (`calibrate::same_person`).
    pub same_person: Option<&'a Path>,
    pub per_person: usize,
    pub min_photos: usize,
    pub scores: Option<&'a Path>,
    pub scores_out: Option<&'a Path>,
    /// Each photo's embedding is read from (and what is computed written
    /// to) this file (`calibrate::embeddings`).
    pub embeddings: Option<&'a Path>,
    /// The system the models named make, as an embeddings file names it.
    pub source: String,
    /// 1:N mode: gallery sizes to simulate (empty: the 1:1 pairs mode).
    pub gallery_sizes: &'a [usize],
    pub trials: usize,
    /// 1:N: photos enrolled per person (the gallery keeps several).
    pub templates: usize,
    /// Which face of each photo is scored.
    pub subject: Subject,
}

/// The pairs to score: photos (relative to `dir`) and (i, j, same).
type PairPlan = (Vec<String>, Vec<(usize, usize, bool)>);

/// Scored pairs, and (photos embedded, photos without a face) when the
/// models ran.
type Scored = (Vec<calibrate::ScoredPair>, Option<(usize, usize)>);

fn plan_pairs(dir: &Path, a: &CalibrateArgs) -> Result<PairPlan> {
    if let Some(pairs_file) = a.pairs {
        if a.same_person.is_some() {
            bail!("--same-person relabels folders; --pairs files carry their own labels");
        }
        let text = std::fs::read_to_string(pairs_file)
            .with_context(|| format!("reading {}", pairs_file.display()))?;
        let listed = calibrate::parse_pairs(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", pairs_file.display()))?;
        let mut photos: Vec<String> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let mut at = |p: &String| {
            *index.entry(p.clone()).or_insert_with(|| {
                photos.push(p.clone());
                photos.len() - 1
            })
        };
        let pairs = listed
            .iter()
            .map(|(x, y, same)| (at(x), at(y), *same))
            .collect();
        return Ok((photos, pairs));
    }
    let (photos, persons) = list_photos(dir, a)?;
    let pairs = calibrate::all_pairs(&persons, a.max_impostors);
    Ok((photos, pairs))
}

/// The photos of a folder-of-folders (relative paths) and each one's person.
/// With `--same-person`, the folders it names as one person share an index.
fn list_photos(dir: &Path, a: &CalibrateArgs) -> Result<(Vec<String>, Vec<usize>)> {
    let canon = match a.same_person {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            calibrate::same_person(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Default::default(),
    };
    let mut ids = std::collections::HashMap::new();
    let (mut photos, mut persons) = (Vec::new(), Vec::new());
    for p in enroll::scan(dir)?.iter() {
        if p.files.len() < a.min_photos {
            continue;
        }
        let name = canon.get(&p.name).unwrap_or(&p.name);
        let next = ids.len();
        let id = *ids.entry(name.clone()).or_insert(next);
        for file in p.files.iter().take(a.per_person) {
            let rel = file.strip_prefix(dir).unwrap_or(file);
            photos.push(rel.to_string_lossy().into_owned());
            persons.push(id);
        }
    }
    Ok((photos, persons))
}

/// The embedding of each photo (relative to `dir`): its `subject` face, `None`
/// without a usable one. With `--embeddings FILE`, the photos the file holds
/// are read from it; the others are computed, only when the file is of this
/// run's models, and written back.
fn embed(
    vision: impl FnOnce() -> Result<Vision>,
    dir: &Path,
    photos: &[String],
    a: &CalibrateArgs,
) -> Result<Vec<Option<Embedding>>> {
    let mut file = match a.embeddings {
        Some(path) => Embeddings::read(path).map_err(anyhow::Error::msg)?,
        None => None,
    }
    .unwrap_or_else(|| Embeddings::new(a.source.clone()));
    let missing: Vec<&String> = photos
        .iter()
        .filter(|p| !file.rows.contains_key(*p))
        .collect();
    if !missing.is_empty() {
        if file.source != a.source {
            bail!(
                "the embeddings file is of \"{}\", not of this run's models (\"{}\"), \
                 and lacks {} of the photos ({} …)",
                file.source,
                a.source,
                missing.len(),
                missing[0]
            );
        }
        let vision = vision()?;
        for (rel, e) in missing
            .iter()
            .zip(compute(&vision, dir, &missing, a.subject))
        {
            file.rows.insert((*rel).clone(), e.map(|e| e.0));
        }
        if let Some(path) = a.embeddings {
            file.write(path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(photos
        .iter()
        .map(|p| {
            file.rows
                .get(p)
                .cloned()
                .flatten()
                .map(Embedding::normalised)
        })
        .collect())
}

/// Runs the models on `photos` (relative to `dir`), reporting those without
/// a usable face.
fn compute(
    vision: &Vision,
    dir: &Path,
    photos: &[&String],
    subject: Subject,
) -> Vec<Option<Embedding>> {
    let bar = ProgressBar::new(photos.len() as u64);
    let embeddings = photos
        .iter()
        .map(|rel| {
            bar.inc(1);
            let file = dir.join(rel);
            match picture::load(&file)
                .map_err(anyhow::Error::from)
                .and_then(|img| {
                    Ok(vision.chosen_face(&img, &file.display().to_string(), subject)?)
                }) {
                Ok(face) => Some(face.embedding),
                Err(e) => {
                    bar.println(format!("skipped {e}"));
                    None
                }
            }
        })
        .collect();
    bar.finish_and_clear();
    embeddings
}

/// Embeds every photo and scores the planned pairs (NaN where a photo had no
/// face); also returns (photos embedded, photos without a face).
fn score_pairs(
    vision: impl FnOnce() -> Result<Vision>,
    dir: &Path,
    plan: PairPlan,
    a: &CalibrateArgs,
) -> Result<Scored> {
    let (photos, pairs) = plan;
    let embeddings = embed(vision, dir, &photos, a)?;
    let failed = embeddings.iter().filter(|e| e.is_none()).count();
    let scored = pairs
        .into_iter()
        .map(|(i, j, same)| calibrate::ScoredPair {
            a: photos[i].clone(),
            b: photos[j].clone(),
            same,
            score: match (&embeddings[i], &embeddings[j]) {
                (Some(x), Some(y)) => x.cosine(y),
                _ => f32::NAN,
            },
        })
        .collect();
    Ok((scored, Some((photos.len() - failed, failed))))
}

pub fn calibrate(
    vision: impl FnOnce() -> Result<Vision>,
    a: CalibrateArgs,
    as_json: bool,
) -> Result<()> {
    if !a.gallery_sizes.is_empty() {
        return identification(vision, a, as_json);
    }
    let (scored, photos) = match (a.scores, a.dir) {
        (Some(path), _) => (
            calibrate::read_scores(path).map_err(|e| anyhow::anyhow!(e))?,
            None,
        ),
        (None, Some(dir)) => {
            let plan = plan_pairs(dir, &a)?;
            score_pairs(vision, dir, plan, &a)?
        }
        (None, None) => bail!("give a photo folder or --scores FILE"),
    };
    if let Some(path) = a.scores_out {
        calibrate::write_scores(path, &scored)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let no_face = scored.iter().filter(|p| p.score.is_nan()).count();
    let (genuine, impostor) = calibrate::split(&scored);
    let Some(cal) = calibrate::calibrate(&genuine, &impostor, a.far) else {
        bail!("need at least two people and one person with two photos");
    };
    if let Some(path) = a.plot {
        calibrate::plot(path, &genuine, &impostor, &cal)
            .map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))?;
    }
    if let Some(path) = a.gallery {
        edit(path, a.trust, |g| {
            g.body.header.threshold = cal.target.threshold;
            Ok(format!("threshold set to {:.4}", cal.target.threshold))
        })?;
    }
    if as_json {
        println!(
            "{}",
            json!({
                "photos": photos.map(|p| p.0),
                "photos_without_face": photos.map(|p| p.1),
                "pairs_without_face": no_face,
                "calibration": cal
            })
        );
        return Ok(());
    }
    if let Some((embedded, failed)) = photos {
        println!("{embedded} photos embedded, {failed} without a usable face");
    }
    println!(
        "{} genuine and {} impostor pairs; {no_face} pairs with a photo without a face, \
         counted as rejected",
        cal.genuine, cal.impostor
    );
    println!(
        "{:>8}  {:>9}  {:>7}  {:>12}",
        "FAR", "threshold", "TAR", "measured FAR"
    );
    for p in cal.points.iter().chain(std::iter::once(&cal.target)) {
        let note = if p.extrapolated {
            "  (too few impostor pairs to measure)"
        } else {
            ""
        };
        println!(
            "{:>8.0e}  {:>9.4}  {:>6.2}%  {:>12.2e}{note}",
            p.far,
            p.threshold,
            100.0 * p.tar,
            p.measured_far
        );
    }
    println!(
        "EER {:.2}% at threshold {:.4}",
        100.0 * cal.eer,
        cal.eer_threshold
    );
    println!(
        "threshold for FAR {:.0e}: {:.4}",
        cal.target.far, cal.target.threshold
    );
    Ok(())
}

/// `calibrate DIR --identification --gallery-size N[,M…]`: every photo
/// embedded once, then for each N `trials` galleries of N people searched by
/// all other photos; FNIR at FPIR 1e-2, 1e-3 and `--far` (the target FPIR).
fn identification(
    vision: impl FnOnce() -> Result<Vision>,
    a: CalibrateArgs,
    as_json: bool,
) -> Result<()> {
    let Some(dir) = a.dir else {
        bail!("--identification needs the photo folder");
    };
    if a.gallery.is_some() && a.gallery_sizes.len() != 1 {
        bail!("--gallery takes the threshold of one --gallery-size; give one");
    }
    let (photos, persons) = list_photos(dir, &a)?;
    let embeddings = embed(vision, dir, &photos, &a)?;
    let no_face = embeddings.iter().filter(|e| e.is_none()).count();
    let views: Vec<Option<&[f32]>> = embeddings
        .iter()
        .map(|e| e.as_ref().map(|e| e.0.as_slice()))
        .collect();
    let mut results = Vec::new();
    for &n in a.gallery_sizes {
        let mut searches = ident::Searches::default();
        for t in 0..a.trials.max(1) {
            if !ident::trial(
                &persons,
                &views,
                n,
                a.templates,
                t as u64 + 1,
                &mut searches,
            ) {
                bail!(
                    "a gallery of {n} needs {n} people with {} photos or more ({} with a face) in {}",
                    a.templates.max(1) + 1,
                    a.templates.max(1),
                    dir.display()
                );
            }
        }
        let Some(r) = ident::identification(&searches, n, a.trials.max(1), a.far) else {
            bail!("gallery of {n}: no mated or no non-mated searches (every person enrolled?)");
        };
        let top: Vec<_> = searches
            .top_false_matches(20)
            .into_iter()
            .map(|(probe, enrolled, score)| {
                json!({"probe": photos[probe], "enrolled": photos[enrolled], "score": score})
            })
            .collect();
        results.push((r, top));
    }
    if let (Some(path), Some((r, _))) = (a.gallery, results.first()) {
        let t = r.points[r.points.len() - 1].threshold;
        edit(path, a.trust, |g| {
            g.body.header.threshold = t;
            Ok(format!(
                "threshold set to {t:.4} (FPIR {:.0e} for {} people)",
                a.far, r.gallery_size
            ))
        })?;
    }
    if as_json {
        println!(
            "{}",
            json!({
                "photos": photos.len(),
                "photos_without_face": no_face,
                "identification": results.iter().map(|(r, _)| r).collect::<Vec<_>>(),
                // The highest-scoring strangers per gallery size: where label
                // errors of the set (one person under two names) show.
                "top_false_matches": results.iter().map(|(_, t)| t).collect::<Vec<_>>(),
            })
        );
        return Ok(());
    }
    println!(
        "{} photos of {} people, {no_face} without a usable face (a mated one is a miss)",
        photos.len(),
        persons
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    println!(
        "{:>7}  {:>6}  {:>7}  {:>9}  {:>8}  {:>9}  {:>7}  {:>13}",
        "gallery", "trials", "mated", "non-mated", "FPIR", "threshold", "FNIR", "measured FPIR"
    );
    for (r, _) in &results {
        for p in &r.points {
            let note = if p.extrapolated {
                "  (too few non-mated searches to measure)"
            } else {
                ""
            };
            println!(
                "{:>7}  {:>6}  {:>7}  {:>9}  {:>8.0e}  {:>9.4}  {:>6.2}%  {:>13.2e}{note}",
                r.gallery_size,
                r.trials,
                r.mated,
                r.non_mated,
                p.fpir,
                p.threshold,
                100.0 * p.fnir,
                p.measured_fpir
            );
        }
        println!(
            "{:>7}  rank-1 miss (no threshold): {:.2}%",
            r.gallery_size,
            100.0 * r.rank1_miss
        );
    }
    for (r, top) in &results {
        println!("highest-scoring strangers, gallery of {}:", r.gallery_size);
        for m in top.iter().take(5) {
            let text = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            let score = m["score"].as_f64().unwrap_or(f64::NAN);
            println!("  {score:.4}  {} -> {}", text("probe"), text("enrolled"));
        }
    }
    Ok(())
}
