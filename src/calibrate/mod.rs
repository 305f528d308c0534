//! Threshold calibration: genuine and impostor score distributions from a
//! labelled folder-of-folders, TAR at fixed FARs, EER, the threshold for a
//! target FAR, and a PNG with histograms and the ROC curve.

use std::path::Path;

pub mod embeddings;
pub mod identification;
pub mod liveness;

use serde::Serialize;

/// TAR at one FAR.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Operating {
    /// Target false-accept rate.
    pub far: f64,
    /// Threshold that meets it (scores ≥ threshold accept).
    pub threshold: f32,
    /// True-accept rate at that threshold.
    pub tar: f64,
    /// False-accept rate actually measured at that threshold.
    pub measured_far: f64,
    /// Whether there are too few impostor pairs to measure `far` (fewer than
    /// 1/far): the threshold is then just above the highest impostor score.
    pub extrapolated: bool,
}

/// Calibration results.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// Genuine pairs.
    pub genuine: usize,
    /// Impostor pairs.
    pub impostor: usize,
    /// Operating points at FAR 1e-2, 1e-3, 1e-4 and the target.
    pub points: Vec<Operating>,
    /// Equal error rate.
    pub eer: f64,
    /// Threshold at the EER.
    pub eer_threshold: f32,
    /// The operating point for the requested FAR.
    pub target: Operating,
}

/// Computes the calibration; `None` without both kinds of pairs.
pub fn calibrate(genuine: &[f32], impostor: &[f32], target_far: f64) -> Option<Calibration> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let mut imp = impostor.to_vec();
    imp.sort_by(|a, b| b.total_cmp(a));
    let mut gen_sorted = genuine.to_vec();
    gen_sorted.sort_by(|a, b| b.total_cmp(a));
    let target = operating(&gen_sorted, &imp, target_far);
    let points = [1e-2, 1e-3, 1e-4]
        .into_iter()
        .map(|f| operating(&gen_sorted, &imp, f))
        .collect();
    let (eer, eer_threshold) = eer(&gen_sorted, &imp);
    Some(Calibration {
        genuine: genuine.len(),
        impostor: impostor.len(),
        points,
        eer,
        eer_threshold,
        target,
    })
}

/// A scored pair of photos (paths relative to the set's folder). The score is
/// NaN when either photo had no usable face: such a pair counts as rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPair {
    /// First photo.
    pub a: String,
    /// Second photo.
    pub b: String,
    /// Same person.
    pub same: bool,
    /// Similarity (cosine for facegate), or NaN.
    pub score: f32,
}

/// Genuine and impostor scores of `pairs`, NaN (no face) as −∞ (never accepted).
pub fn split(pairs: &[ScoredPair]) -> (Vec<f32>, Vec<f32>) {
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for p in pairs {
        let s = if p.score.is_nan() {
            f32::NEG_INFINITY
        } else {
            p.score
        };
        if p.same {
            genuine.push(s);
        } else {
            impostor.push(s);
        }
    }
    (genuine, impostor)
}

/// Pairs of an LFW-style `pairs.txt`: `name i j` (same person) and
/// `name1 i name2 j` (different people), photos `name/name_000i.jpg`; a first
/// line of one or two counts is skipped.
pub fn parse_pairs(text: &str) -> Result<Vec<(String, String, bool)>, String> {
    let photo = |name: &str, n: &str| -> Result<String, String> {
        let n: u32 = n
            .parse()
            .map_err(|_| format!("{n:?} is not a photo number"))?;
        Ok(format!("{name}/{name}_{n:04}.jpg"))
    };
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t: Vec<&str> = line.split_whitespace().collect();
        let pair = match t.as_slice() {
            [] => continue,
            [a, ..] if i == 0 && t.len() <= 2 && a.parse::<u32>().is_ok() => continue,
            [name, x, y] => (photo(name, x)?, photo(name, y)?, true),
            [n1, x, n2, y] => (photo(n1, x)?, photo(n2, y)?, false),
            _ => return Err(format!("line {}: expected 3 or 4 fields", i + 1)),
        };
        pairs.push(pair);
    }
    Ok(pairs)
}

/// Errata of a labelled set: lines `NAME_A NAME_B` (folder names) saying the
/// two folders hold one person (`#` starts a comment, kept for the
/// evidence). Returns each folder name's canonical name (the first of its
/// group as listed); folders not named map to themselves.
pub fn same_person(text: &str) -> Result<std::collections::HashMap<String, String>, String> {
    let mut canon: std::collections::HashMap<String, String> = Default::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let [a, b] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            return Err(format!("line {}: expected two folder names", i + 1));
        };
        let root = |n: &str, c: &std::collections::HashMap<String, String>| {
            c.get(n).cloned().unwrap_or_else(|| n.to_string())
        };
        let (ra, rb) = (root(a, &canon), root(b, &canon));
        // Everything that pointed at b's root now points at a's.
        for v in canon.values_mut() {
            if *v == rb {
                *v = ra.clone();
            }
        }
        canon.insert(rb.clone(), ra.clone());
        canon.insert(b.to_string(), ra.clone());
        canon.entry(a.to_string()).or_insert(ra);
    }
    Ok(canon)
}

/// All pairs of `photos` (person index, photo), genuine ones all and impostor
/// ones evenly subsampled to at most `max_impostors`: (i, j, same).
pub fn all_pairs(persons: &[usize], max_impostors: usize) -> Vec<(usize, usize, bool)> {
    let n = persons.len();
    let mut photos_of = std::collections::HashMap::new();
    for p in persons {
        *photos_of.entry(p).or_insert(0usize) += 1;
    }
    let genuine: usize = photos_of.values().map(|c| c * (c - 1) / 2).sum();
    let impostors = n * n.saturating_sub(1) / 2 - genuine;
    let stride = impostors.div_ceil(max_impostors.max(1)).max(1);
    let mut pairs = Vec::new();
    let mut k = 0usize;
    for i in 0..n {
        for j in i + 1..n {
            if persons[i] == persons[j] {
                pairs.push((i, j, true));
            } else {
                if k.is_multiple_of(stride) {
                    pairs.push((i, j, false));
                }
                k += 1;
            }
        }
    }
    pairs
}

/// Writes `pairs` as tab-separated `a b same score` lines with a header.
pub fn write_scores(path: &Path, pairs: &[ScoredPair]) -> std::io::Result<()> {
    let mut text = String::from("a\tb\tsame\tscore\n");
    for p in pairs {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            p.a,
            p.b,
            u8::from(p.same),
            p.score
        ));
    }
    crate::atomic::write(path, text.as_bytes())
}

/// Reads what [`write_scores`] writes (or a reference script in the same format).
pub fn read_scores(path: &Path) -> Result<Vec<ScoredPair>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let bad = || {
            format!(
                "{} line {}: expected a, b, same (0/1), score",
                path.display(),
                i + 1
            )
        };
        let t: Vec<&str> = line.split('\t').collect();
        let [a, b, same, score] = t.as_slice() else {
            return Err(bad());
        };
        pairs.push(ScoredPair {
            a: a.to_string(),
            b: b.to_string(),
            same: match *same {
                "1" => true,
                "0" => false,
                _ => return Err(bad()),
            },
            score: score.parse().map_err(|_| bad())?,
        });
    }
    Ok(pairs)
}

/// Fraction of `desc`-sorted scores at or above `t`.
fn rate_at_or_above(desc: &[f32], t: f32) -> f64 {
    desc.partition_point(|&s| s >= t) as f64 / desc.len() as f64
}

fn operating(genuine_desc: &[f32], impostor_desc: &[f32], far: f64) -> Operating {
    let n = impostor_desc.len();
    let allowed = (far * n as f64).floor() as usize;
    let extrapolated = allowed == 0 && far * (n as f64) < 1.0;
    // Just above the (allowed+1)-th highest impostor score.
    let threshold = next_up(impostor_desc[allowed.min(n - 1)]);
    Operating {
        far,
        threshold,
        tar: rate_at_or_above(genuine_desc, threshold),
        measured_far: rate_at_or_above(impostor_desc, threshold),
        extrapolated,
    }
}

fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    let bits = x.to_bits();
    let next = if x == 0.0 {
        1
    } else if x > 0.0 {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(next)
}

/// Equal error rate and its threshold, by a sweep over every score.
fn eer(genuine_desc: &[f32], impostor_desc: &[f32]) -> (f64, f32) {
    let mut best = (f64::INFINITY, 1.0f64, 0.0f32);
    for &t in genuine_desc.iter().chain(impostor_desc) {
        let frr = 1.0 - rate_at_or_above(genuine_desc, t);
        let far = rate_at_or_above(impostor_desc, t);
        let gap = (frr - far).abs();
        if gap < best.0 {
            best = (gap, (frr + far) / 2.0, t);
        }
    }
    (best.1, best.2)
}

/// Makes DejaVu Sans the plots' "sans-serif" (Debian `fonts-dejavu-core`).
fn register_font() -> Result<(), String> {
    let font = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ]
    .iter()
    .find_map(|p| std::fs::read(p).ok())
    .ok_or("no DejaVu Sans font found (install fonts-dejavu-core)")?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, font)
        .map_err(|_| "cannot load the font".to_string())
}

/// Draws score histograms (left) and the ROC curve, TAR against log FAR
/// (right), to a PNG. Needs a TrueType font (DejaVu Sans, Debian package
/// `fonts-dejavu-core`).
pub fn plot(
    path: &Path,
    genuine: &[f32],
    impostor: &[f32],
    cal: &Calibration,
) -> Result<(), String> {
    use plotters::prelude::*;

    register_font()?;

    let e = |err: &dyn std::fmt::Display| err.to_string();
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (left, right) = root.split_horizontally(600);

    let bins = 50usize;
    let bin = |s: f32| (((s + 1.0) / 2.0 * bins as f32) as usize).min(bins - 1);
    let hist = |scores: &[f32]| {
        let mut h = vec![0f64; bins];
        for &s in scores {
            h[bin(s)] += 1.0 / scores.len() as f64;
        }
        h
    };
    let (hg, hi) = (hist(genuine), hist(impostor));
    let top = hg.iter().chain(&hi).copied().fold(0.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&left)
        .caption(
            format!(
                "Scores: {} genuine, {} impostor pairs",
                cal.genuine, cal.impostor
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(50)
        .build_cartesian_2d(-1.0f64..1.0, 0.0..top.max(1e-3))
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("cosine score")
        .y_desc("fraction of pairs")
        .draw()
        .map_err(|x| e(&x))?;
    for (h, color, label) in [(&hi, RED, "impostor"), (&hg, BLUE, "genuine")] {
        chart
            .draw_series(h.iter().enumerate().map(|(i, &v)| {
                let x0 = -1.0 + 2.0 * i as f64 / bins as f64;
                Rectangle::new(
                    [(x0, 0.0), (x0 + 2.0 / bins as f64, v)],
                    color.mix(0.45).filled(),
                )
            }))
            .map_err(|x| e(&x))?
            .label(label)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.mix(0.45).filled())
            });
    }
    let t = f64::from(cal.target.threshold);
    chart
        .draw_series(LineSeries::new([(t, 0.0), (t, top)], BLACK.stroke_width(2)))
        .map_err(|x| e(&x))?
        .label(format!(
            "threshold {:.3} (FAR {:.0e})",
            cal.target.threshold, cal.target.far
        ))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BLACK));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|x| e(&x))?;

    let mut imp = impostor.to_vec();
    imp.sort_by(|a, b| b.total_cmp(a));
    let mut gen_sorted = genuine.to_vec();
    gen_sorted.sort_by(|a, b| b.total_cmp(a));
    let floor = 1.0 / imp.len() as f64;
    let roc: Vec<(f64, f64)> = imp
        .iter()
        .map(|&s| {
            let th = next_up(s);
            (
                rate_at_or_above(&imp, th).max(floor),
                rate_at_or_above(&gen_sorted, th),
            )
        })
        .collect();
    let mut chart = ChartBuilder::on(&right)
        .caption(
            format!("ROC (EER {:.2} %)", 100.0 * cal.eer),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(50)
        .build_cartesian_2d((floor..1.0f64).log_scale(), 0.0f64..1.0)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("false accept rate")
        .y_desc("true accept rate")
        .draw()
        .map_err(|x| e(&x))?;
    chart
        .draw_series(LineSeries::new(roc, BLUE.stroke_width(2)))
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errata_merge_folders_transitively() {
        let text = "# evidence\nChoi_Sung-hong Sung_Hong_Choi  # one name, two orders\nB C\nA B\n";
        let c = same_person(text).expect("parse");
        assert_eq!(c["Sung_Hong_Choi"], "Choi_Sung-hong");
        assert_eq!(c["Choi_Sung-hong"], "Choi_Sung-hong");
        assert_eq!(
            (c["A"].as_str(), c["B"].as_str(), c["C"].as_str()),
            ("A", "A", "A")
        );
        assert!(same_person("A B C\n").is_err());
    }

    #[test]
    fn lfw_pairs_parse() {
        let text = "10\t300\nAbel_Pacheco\t1\t4\nAbdel_Madi_Shabneh\t1\tDean_Barker\t1\n";
        let pairs = parse_pairs(text).expect("parse");
        assert_eq!(
            pairs,
            vec![
                (
                    "Abel_Pacheco/Abel_Pacheco_0001.jpg".into(),
                    "Abel_Pacheco/Abel_Pacheco_0004.jpg".into(),
                    true
                ),
                (
                    "Abdel_Madi_Shabneh/Abdel_Madi_Shabneh_0001.jpg".into(),
                    "Dean_Barker/Dean_Barker_0001.jpg".into(),
                    false
                ),
            ]
        );
        assert!(parse_pairs("a 1 b\n").is_err());
        assert!(parse_pairs("a x 2\n").is_err());
        assert!(parse_pairs("x\n1 2 3 4 5\n").is_err());
    }

    #[test]
    fn all_pairs_subsample_impostors_only() {
        // 3 people × 2 photos: 3 genuine, 12 impostor pairs.
        let persons = [0, 0, 1, 1, 2, 2];
        let all = all_pairs(&persons, usize::MAX);
        assert_eq!(all.iter().filter(|p| p.2).count(), 3);
        assert_eq!(all.iter().filter(|p| !p.2).count(), 12);
        let few = all_pairs(&persons, 4);
        assert_eq!(few.iter().filter(|p| p.2).count(), 3);
        assert_eq!(few.iter().filter(|p| !p.2).count(), 4);
    }

    #[test]
    fn scores_round_trip_and_missing_faces_reject() {
        let dir = std::env::temp_dir().join(format!("facegate-scores-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("s.tsv");
        let pairs = vec![
            ScoredPair {
                a: "p/1.jpg".into(),
                b: "p/2.jpg".into(),
                same: true,
                score: 0.75,
            },
            ScoredPair {
                a: "p/1.jpg".into(),
                b: "q/1.jpg".into(),
                same: false,
                score: f32::NAN,
            },
        ];
        write_scores(&path, &pairs).expect("write");
        let back = read_scores(&path).expect("read");
        assert_eq!(back[0], pairs[0]);
        assert!(back[1].score.is_nan() && !back[1].same);
        let (g, i) = split(&back);
        assert_eq!((g, i), (vec![0.75], vec![f32::NEG_INFINITY]));
        std::fs::write(&path, "a\tb\tsame\tscore\nx\ty\t2\t0.1\n").expect("write");
        assert!(read_scores(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn separable_scores_have_zero_eer_and_a_threshold_between() {
        let genuine = [0.8, 0.7, 0.9, 0.6];
        let impostor: Vec<f32> = (0..1000).map(|i| -0.2 + 0.5 * i as f32 / 1000.0).collect();
        let cal = calibrate(&genuine, &impostor, 1e-3).expect("calibration");
        assert_eq!(cal.eer, 0.0);
        assert!(cal.target.threshold > 0.298 && cal.target.threshold <= 0.6);
        assert_eq!(cal.target.tar, 1.0);
        assert!(cal.target.measured_far <= 1e-3);
        assert!(!cal.target.extrapolated);
        // 1e-4 needs 10 000 impostor pairs: flagged.
        assert!(cal.points[2].extrapolated);
    }

    #[test]
    fn threshold_allows_the_target_share_of_impostors() {
        let genuine = [0.5; 10];
        let impostor: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        let cal = calibrate(&genuine, &impostor, 0.05).expect("calibration");
        assert!((cal.target.measured_far - 0.05).abs() < 1e-9, "{cal:?}");
        assert_eq!(cal.target.tar, 0.0);
        assert!(calibrate(&[], &impostor, 0.1).is_none());
    }
}
