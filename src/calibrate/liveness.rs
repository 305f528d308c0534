//! Liveness error rates per ISO/IEC 30107-3: APCER (attack presentations
//! classified as bona fide) and BPCER (bona fide presentations classified as
//! attacks) at a threshold, per attack type and per source, the threshold
//! for a target APCER, and a DET plot.
//!
//! A presentation without a detected face cannot be scored: it is counted
//! apart (for an attack it opened nothing; for a live face it is a
//! detection failure, not a liveness error).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

/// One scored presentation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Presentation {
    /// The image, relative to its set.
    pub file: String,
    /// Bona fide (a live face) or an attack.
    pub live: bool,
    /// Attack type (`print`, `screen`, …; `-` for bona fide).
    pub attack: String,
    /// Where it comes from (a tag of the set).
    pub source: String,
    /// Liveness score 0–1; NaN when no face was found.
    pub score: f32,
}

/// Error counts of one group at one threshold.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rates {
    /// Attack presentations scored.
    pub attacks: usize,
    /// Attacks accepted as live.
    pub attacks_accepted: usize,
    /// Bona fide presentations scored.
    pub bona_fide: usize,
    /// Bona fide presentations rejected.
    pub bona_fide_rejected: usize,
    /// Presentations without a face (not in the counts above).
    pub no_face: usize,
    /// `attacks_accepted / attacks` (None without attacks).
    pub apcer: Option<f64>,
    /// `bona_fide_rejected / bona_fide` (None without bona fide).
    pub bpcer: Option<f64>,
}

/// The report at one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Threshold (score ≥ threshold is live).
    pub threshold: f32,
    /// All presentations.
    pub overall: Rates,
    /// Per attack type (attacks only), ISO's per-PAI-species APCER.
    pub per_attack: BTreeMap<String, Rates>,
    /// Per source.
    pub per_source: BTreeMap<String, Rates>,
    /// The highest per-attack-type APCER (ISO's headline APCER).
    pub worst_apcer: Option<f64>,
    /// Presentations on the wrong side of the threshold.
    pub errors: Vec<Presentation>,
}

/// Counts `items` at `threshold`.
pub fn rates<'a>(items: impl IntoIterator<Item = &'a Presentation>, threshold: f32) -> Rates {
    let mut r = Rates::default();
    for p in items {
        if p.score.is_nan() {
            r.no_face += 1;
        } else if p.live {
            r.bona_fide += 1;
            r.bona_fide_rejected += usize::from(p.score < threshold);
        } else {
            r.attacks += 1;
            r.attacks_accepted += usize::from(p.score >= threshold);
        }
    }
    let share = |k: usize, n: usize| (n > 0).then(|| k as f64 / n as f64);
    r.apcer = share(r.attacks_accepted, r.attacks);
    r.bpcer = share(r.bona_fide_rejected, r.bona_fide);
    r
}

/// The full report at `threshold`.
pub fn report(items: &[Presentation], threshold: f32) -> Report {
    let group = |key: &dyn Fn(&Presentation) -> Option<String>| {
        let mut groups: BTreeMap<String, Vec<&Presentation>> = BTreeMap::new();
        for p in items {
            if let Some(k) = key(p) {
                groups.entry(k).or_default().push(p);
            }
        }
        groups
            .into_iter()
            .map(|(k, v)| (k, rates(v, threshold)))
            .collect::<BTreeMap<_, _>>()
    };
    let per_attack = group(&|p| (!p.live).then(|| p.attack.clone()));
    let worst_apcer = per_attack
        .values()
        .filter_map(|r| r.apcer)
        .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a))));
    let errors = items
        .iter()
        .filter(|p| !p.score.is_nan() && (p.score >= threshold) != p.live)
        .cloned()
        .collect();
    Report {
        threshold,
        overall: rates(items, threshold),
        per_source: group(&|p| Some(p.source.clone())),
        per_attack,
        worst_apcer,
        errors,
    }
}

/// The lowest threshold whose APCER is at most `target` (just above the
/// highest attack score it must refuse); `None` without scored attacks.
pub fn threshold_for_apcer(items: &[Presentation], target: f64) -> Option<f32> {
    let mut attacks: Vec<f32> = items
        .iter()
        .filter(|p| !p.live && !p.score.is_nan())
        .map(|p| p.score)
        .collect();
    if attacks.is_empty() {
        return None;
    }
    attacks.sort_by(|a, b| b.total_cmp(a));
    let allowed = (target * attacks.len() as f64).floor() as usize;
    Some(match attacks.get(allowed) {
        Some(&s) => next_up(s),
        None => 0.0,
    })
}

/// The DET curve: (APCER, BPCER) at every distinct score, thresholds rising.
pub fn det(items: &[Presentation]) -> Vec<(f32, f64, f64)> {
    let mut ts: Vec<f32> = items
        .iter()
        .filter(|p| !p.score.is_nan())
        .map(|p| p.score)
        .collect();
    ts.push(0.0);
    ts.push(next_up(1.0));
    ts.sort_by(f32::total_cmp);
    ts.dedup();
    ts.into_iter()
        .filter_map(|t| {
            let r = rates(items, t);
            Some((t, r.apcer?, r.bpcer?))
        })
        .collect()
}

fn next_up(x: f32) -> f32 {
    f32::from_bits(x.to_bits() + 1)
}

/// Draws the DET curve (BPCER against APCER, percent) with the operating
/// point at `threshold` marked, to a PNG.
pub fn plot(path: &Path, items: &[Presentation], threshold: f32) -> Result<(), String> {
    use plotters::prelude::*;

    super::register_font()?;
    let e = |err: &dyn std::fmt::Display| err.to_string();
    let curve: Vec<(f64, f64)> = det(items)
        .into_iter()
        .map(|(_, a, b)| (100.0 * a, 100.0 * b))
        .collect();
    let at = rates(items, threshold);
    let root = BitMapBackend::new(path, (700, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Liveness DET: {} attacks, {} bona fide",
                at.attacks, at.bona_fide
            ),
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0f64..100.0, 0.0f64..100.0)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("APCER: attacks accepted (%)")
        .y_desc("BPCER: live faces rejected (%)")
        .draw()
        .map_err(|x| e(&x))?;
    chart
        .draw_series(LineSeries::new(curve, BLUE.stroke_width(2)))
        .map_err(|x| e(&x))?;
    if let (Some(a), Some(b)) = (at.apcer, at.bpcer) {
        chart
            .draw_series([Circle::new((100.0 * a, 100.0 * b), 6, RED.filled())])
            .map_err(|x| e(&x))?
            .label(format!("threshold {threshold:.3}"))
            .legend(|(x, y)| Circle::new((x + 6, y), 5, RED.filled()));
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(live: bool, attack: &str, source: &str, score: f32) -> Presentation {
        Presentation {
            file: format!("{source}-{score}"),
            live,
            attack: attack.into(),
            source: source.into(),
            score,
        }
    }

    #[test]
    fn apcer_and_bpcer_per_attack_and_source() {
        let items = vec![
            p(true, "-", "a", 0.9),
            p(true, "-", "a", 0.4),
            p(true, "-", "b", f32::NAN),
            p(false, "print", "a", 0.1),
            p(false, "print", "b", 0.6),
            p(false, "screen", "b", 0.2),
        ];
        let r = report(&items, 0.5);
        assert_eq!(
            (
                r.overall.attacks,
                r.overall.attacks_accepted,
                r.overall.no_face
            ),
            (3, 1, 1)
        );
        assert_eq!(r.overall.bpcer, Some(0.5));
        assert_eq!(r.per_attack["print"].apcer, Some(0.5));
        assert_eq!(r.per_attack["screen"].apcer, Some(0.0));
        assert_eq!(r.worst_apcer, Some(0.5));
        assert_eq!(r.per_source["b"].no_face, 1);
        assert_eq!(r.errors.len(), 2);
        // APCER 0 needs a threshold just above the best attack.
        let t = threshold_for_apcer(&items, 0.0).unwrap();
        assert!(t > 0.6 && t < 0.6001);
        assert_eq!(rates(&items, t).apcer, Some(0.0));
        let curve = det(&items);
        assert_eq!(curve.first().map(|c| (c.1, c.2)), Some((1.0, 0.0)));
        assert_eq!(curve.last().map(|c| (c.1, c.2)), Some((0.0, 1.0)));
    }
}
