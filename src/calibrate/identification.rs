//! 1:N identification figures, as NIST FRTE 1:N reports them: galleries of
//! N identities (one enrolment photo each) searched by mated probes (other
//! photos of an enrolled person) and non-mated probes (photos of people not
//! enrolled). At a threshold T:
//! - FPIR (false-positive identification rate): non-mated searches whose
//!   best gallery score is ≥ T — a stranger let in as someone;
//! - FNIR (false-negative identification rate): mated searches whose rank-1
//!   candidate is not the mate or scores below T — a member kept out (or, when
//!   another member ranks first above T, let in under the wrong name).
//!
//! A door decides on the rank-1 candidate alone, so these are its error
//! rates for a gallery of N people, where the 1:1 FAR only approximates
//! FPIR ≈ N × FAR.

use serde::Serialize;

use super::{Operating, operating};

/// The searches of one or more trials.
#[derive(Debug, Default, Clone)]
pub struct Searches {
    /// Per mated search: the mate's score when it ranks first, else −∞.
    pub mated: Vec<f32>,
    /// Per non-mated search: the best gallery score (−∞ without a face).
    pub non_mated: Vec<f32>,
    /// Per non-mated search with a face: (probe photo, the enrolment photo
    /// of its best candidate, score) — where a set's label errors show.
    pub false_matches: Vec<(usize, usize, f32)>,
}

impl Searches {
    /// The `k` highest-scoring non-mated searches, each (probe, enrolled)
    /// pair once.
    pub fn top_false_matches(&self, k: usize) -> Vec<(usize, usize, f32)> {
        let mut all = self.false_matches.clone();
        all.sort_by(|a, b| b.2.total_cmp(&a.2));
        let mut seen = std::collections::HashSet::new();
        all.retain(|m| seen.insert((m.0, m.1)));
        all.truncate(k);
        all
    }
}

/// FNIR and threshold at one FPIR.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Point {
    /// Target false-positive identification rate.
    pub fpir: f64,
    /// Threshold that meets it (scores ≥ threshold accept).
    pub threshold: f32,
    /// False-negative identification rate at that threshold.
    pub fnir: f64,
    /// FPIR measured at that threshold.
    pub measured_fpir: f64,
    /// Fewer than 1/fpir non-mated searches: the threshold is just above the
    /// highest non-mated score.
    pub extrapolated: bool,
}

impl From<Operating> for Point {
    fn from(o: Operating) -> Self {
        Point {
            fpir: o.far,
            threshold: o.threshold,
            fnir: 1.0 - o.tar,
            measured_fpir: o.measured_far,
            extrapolated: o.extrapolated,
        }
    }
}

/// Identification results for one gallery size.
#[derive(Debug, Clone, Serialize)]
pub struct Identification {
    /// Enrolled identities per trial.
    pub gallery_size: usize,
    /// Trials (different galleries of that size), searches pooled.
    pub trials: usize,
    /// Mated searches.
    pub mated: usize,
    /// Non-mated searches.
    pub non_mated: usize,
    /// FNIR at rank 1 with no threshold (the mate not ranked first).
    pub rank1_miss: f64,
    /// At FPIR 1e-2, 1e-3 and the target (last).
    pub points: Vec<Point>,
}

/// Computes the figures; `None` without both kinds of searches.
pub fn identification(
    s: &Searches,
    gallery_size: usize,
    trials: usize,
    target_fpir: f64,
) -> Option<Identification> {
    if s.mated.is_empty() || s.non_mated.is_empty() {
        return None;
    }
    let mut mated = s.mated.clone();
    mated.sort_by(|a, b| b.total_cmp(a));
    let mut non_mated = s.non_mated.clone();
    non_mated.sort_by(|a, b| b.total_cmp(a));
    let points = [1e-2, 1e-3, target_fpir]
        .into_iter()
        .map(|f| operating(&mated, &non_mated, f).into())
        .collect();
    let misses = mated.iter().filter(|s| **s == f32::NEG_INFINITY).count();
    Some(Identification {
        gallery_size,
        trials,
        mated: mated.len(),
        non_mated: non_mated.len(),
        rank1_miss: misses as f64 / mated.len() as f64,
        points,
    })
}

/// Runs one trial: enrols `gallery_size` identities drawn by `seed` from
/// those with `templates` + 1 photos or more of which `templates` have a
/// face (their first such photos enrolled, a person's score the best of
/// them), and searches every other photo. `person[i]` is photo i's identity,
/// `embedding[i]` its unit vector (`None`: no face). Appends to `out`; false
/// when fewer identities than `gallery_size` qualify.
pub fn trial(
    person: &[usize],
    embedding: &[Option<&[f32]>],
    gallery_size: usize,
    templates: usize,
    seed: u64,
    out: &mut Searches,
) -> bool {
    let templates = templates.max(1);
    let mut photos: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, p) in person.iter().enumerate() {
        photos.entry(*p).or_default().push(i);
    }
    let mut eligible: Vec<(usize, Vec<usize>)> = photos
        .iter()
        .filter(|(_, list)| list.len() > templates)
        .map(|(p, list)| {
            let with_face = list.iter().copied().filter(|&i| embedding[i].is_some());
            (*p, with_face.take(templates).collect::<Vec<_>>())
        })
        .filter(|(_, enrolled)| enrolled.len() == templates)
        .collect();
    if eligible.len() < gallery_size || gallery_size == 0 {
        return false;
    }
    shuffle(&mut eligible, seed);
    eligible.truncate(gallery_size);
    let enrolled: std::collections::HashSet<usize> = eligible
        .iter()
        .flat_map(|(_, e)| e.iter().copied())
        .collect();
    let members: std::collections::HashSet<usize> = eligible.iter().map(|(p, _)| *p).collect();
    let gallery: Vec<(usize, usize, &[f32])> = eligible
        .iter()
        .flat_map(|(p, list)| list.iter().filter_map(|&i| Some((*p, i, embedding[i]?))))
        .collect();
    for (i, p) in person.iter().enumerate() {
        if enrolled.contains(&i) {
            continue; // an enrolment photo itself
        }
        let best = embedding[i].and_then(|probe| {
            gallery
                .iter()
                .map(|(who, photo, t)| (*who, *photo, dot(probe, t)))
                .max_by(|a, b| a.2.total_cmp(&b.2))
        });
        match (members.contains(p), best) {
            (true, Some((who, _, score))) if who == *p => out.mated.push(score),
            (true, _) => out.mated.push(f32::NEG_INFINITY),
            (false, Some((_, photo, score))) => {
                out.non_mated.push(score);
                out.false_matches.push((i, photo, score));
            }
            (false, None) => out.non_mated.push(f32::NEG_INFINITY),
        }
    }
    true
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fisher–Yates with splitmix64: the same galleries for the same seed on
/// every machine.
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..v.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(angle: f32) -> [f32; 2] {
        [angle.cos(), angle.sin()]
    }

    #[test]
    fn rank1_and_threshold_decide_mated_and_non_mated_searches() {
        // Person 0: enrolled at 0°, probe at 10° (mate ranks first).
        // Person 1: enrolled at 90°, probe at 50° — nearer person 0's 0°?
        // No: 40° from its mate, 50° from person 0: mate first, lower score.
        // Person 2: enrolled at 180°, probe at 130°: 50° from mate, 40° from
        // person 1 — rank-1 is the wrong person: a miss.
        // Person 3: one photo at 20°: not eligible, a non-mated probe.
        let e: Vec<[f32; 2]> = [0.0f32, 10.0, 90.0, 50.0, 180.0, 130.0, 20.0]
            .iter()
            .map(|d| unit(d.to_radians()))
            .collect();
        let person = [0, 0, 1, 1, 2, 2, 3];
        let emb: Vec<Option<&[f32]>> = e.iter().map(|v| Some(&v[..])).collect();
        let mut s = Searches::default();
        assert!(trial(&person, &emb, 3, 1, 1, &mut s));
        assert_eq!(s.mated.len(), 3);
        let mut mated = s.mated.clone();
        mated.sort_by(|a, b| b.total_cmp(a));
        assert!((mated[0] - 10f32.to_radians().cos()).abs() < 1e-6);
        assert!((mated[1] - 40f32.to_radians().cos()).abs() < 1e-6);
        assert_eq!(mated[2], f32::NEG_INFINITY);
        assert_eq!(s.non_mated.len(), 1);
        assert!((s.non_mated[0] - 20f32.to_radians().cos()).abs() < 1e-6);
        // Person 3's photo (6) came nearest person 0's enrolment photo (0).
        assert_eq!(s.top_false_matches(5).len(), 1);
        assert_eq!(
            (s.top_false_matches(5)[0].0, s.top_false_matches(5)[0].1),
            (6, 0)
        );

        let id = identification(&s, 3, 1, 0.5).expect("searches");
        assert!((id.rank1_miss - 1.0 / 3.0).abs() < 1e-9);
        // FPIR 1e-2 with one non-mated search: just above its score (20°),
        // which only the 10° mate passes.
        let p = id.points[0];
        assert!(p.extrapolated && p.measured_fpir == 0.0);
        assert!((p.fnir - 2.0 / 3.0).abs() < 1e-9);
        assert!(!trial(&person, &emb, 4, 1, 1, &mut s), "only 3 eligible");
    }

    #[test]
    fn photos_without_a_face_count_as_misses_not_as_false_positives() {
        let a = unit(0.0);
        let person = [0, 0, 1];
        let emb: Vec<Option<&[f32]>> = vec![Some(&a[..]), None, None];
        let mut s = Searches::default();
        assert!(trial(&person, &emb, 1, 1, 7, &mut s));
        assert_eq!(s.mated, vec![f32::NEG_INFINITY]);
        assert_eq!(s.non_mated, vec![f32::NEG_INFINITY]);
    }

    #[test]
    fn several_templates_score_a_person_by_the_best() {
        // Person 0 enrolled at 0° and 60°, probed at 50°: 10° from the second
        // template. Person 1 (two photos) is too few for two templates: its
        // photos are non-mated probes.
        let e: Vec<[f32; 2]> = [0.0f32, 60.0, 50.0, 170.0, 175.0]
            .iter()
            .map(|d| unit(d.to_radians()))
            .collect();
        let person = [0, 0, 0, 1, 1];
        let emb: Vec<Option<&[f32]>> = e.iter().map(|v| Some(&v[..])).collect();
        let mut s = Searches::default();
        assert!(trial(&person, &emb, 1, 2, 1, &mut s));
        assert_eq!(s.mated.len(), 1);
        assert!((s.mated[0] - 10f32.to_radians().cos()).abs() < 1e-6);
        assert_eq!(s.non_mated.len(), 2);
        assert!(
            !trial(&person, &emb, 2, 2, 1, &mut s),
            "person 1 has 2 photos"
        );
        let mut one = Searches::default();
        assert!(trial(&person, &emb, 1, 1, 1, &mut one));
        assert_eq!(one.mated.len(), 2, "one template: two probes");
    }

    #[test]
    fn galleries_are_seeded() {
        let mut a: Vec<u32> = (0..50).collect();
        let mut b = a.clone();
        shuffle(&mut a, 3);
        shuffle(&mut b, 3);
        assert_eq!(a, b);
        let mut c: Vec<u32> = (0..50).collect();
        shuffle(&mut c, 4);
        assert_ne!(a, c);
    }
}
