//! 1:N search: every template in one contiguous int8 matrix, scored against an
//! int8-quantised query with integer dot products (SIMD-friendly), in parallel
//! for large galleries, then the best template per person and the top K people.

use rayon::prelude::*;

use super::Gallery;
use crate::vision::Embedding;

/// Rows scored per parallel task.
const CHUNK: usize = 4096;

/// A person's best score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// Index into the gallery's persons.
    pub person: usize,
    /// Cosine score of the best template.
    pub score: f32,
}

impl Match {
    /// Euclidean distance between the unit vectors, `sqrt(2 - 2 cos)`.
    pub fn l2(&self) -> f32 {
        (2.0 - 2.0 * self.score).max(0.0).sqrt()
    }
}

/// The search matrix.
#[derive(Debug, Clone, Default)]
pub struct Index {
    dim: usize,
    values: Vec<i8>,
    scales: Vec<f32>,
    owners: Vec<u32>,
    persons: usize,
}

impl Index {
    /// Indexes every template of `gallery`.
    pub fn new(gallery: &Gallery) -> Self {
        let dim = usize::from(gallery.header().embedding_dim);
        let rows: usize = gallery.persons().iter().map(|p| p.templates.len()).sum();
        let mut index = Self {
            dim,
            values: Vec::with_capacity(rows * dim),
            scales: Vec::with_capacity(rows),
            owners: Vec::with_capacity(rows),
            persons: gallery.persons().len(),
        };
        for (owner, person) in gallery.persons().iter().enumerate() {
            for t in &person.templates {
                index.push(owner as u32, t.scale, &t.values);
            }
        }
        index
    }

    /// Moves the templates of `gallery` into an index (the gallery keeps the
    /// people, without templates) and returns it with the gallery's
    /// [`Gallery::fingerprint`] taken before: a terminal holds each template
    /// once.
    pub fn take(gallery: &mut Gallery) -> (Self, [u8; 32]) {
        let fingerprint = gallery.fingerprint();
        let index = Self::new(gallery);
        for p in &mut gallery.body.persons {
            p.templates = Vec::new();
        }
        (index, fingerprint)
    }

    /// An empty index of `dim`-component templates for `persons` people.
    pub fn with_dim(dim: usize, persons: usize) -> Self {
        Self {
            dim,
            persons,
            ..Self::default()
        }
    }

    /// Adds one template of person `owner`.
    pub fn push(&mut self, owner: u32, scale: f32, values: &[i8]) {
        debug_assert_eq!(values.len(), self.dim);
        self.values.extend_from_slice(values);
        self.scales.push(scale);
        self.owners.push(owner);
        self.persons = self.persons.max(owner as usize + 1);
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.scales.len()
    }

    /// Whether there are no templates.
    pub fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }

    /// The `k` best-matching people, best first.
    pub fn search(&self, query: &Embedding, k: usize) -> Vec<Match> {
        if self.is_empty() || query.0.len() != self.dim || k == 0 {
            return Vec::new();
        }
        let max = query.0.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let q_scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        let q: Vec<i8> = query
            .0
            .iter()
            .map(|v| (v / q_scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let mut scores = vec![0.0f32; self.len()];
        let score_chunk = |(c, out): (usize, &mut [f32])| {
            let first = c * CHUNK;
            let rows = &self.values[first * self.dim..(first + out.len()) * self.dim];
            dots(&q, rows, out);
            for (i, s) in out.iter_mut().enumerate() {
                *s *= q_scale * self.scales[first + i];
            }
        };
        if self.len() > CHUNK {
            scores
                .par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(score_chunk);
        } else {
            scores.chunks_mut(CHUNK).enumerate().for_each(score_chunk);
        }
        let mut best = vec![f32::NEG_INFINITY; self.persons];
        for (&owner, &s) in self.owners.iter().zip(&scores) {
            let b = &mut best[owner as usize];
            *b = b.max(s);
        }
        let mut matches: Vec<Match> = best
            .into_iter()
            .enumerate()
            .filter(|(_, s)| s.is_finite())
            .map(|(person, score)| Match { person, score })
            .collect();
        let by_score = |a: &Match, b: &Match| b.score.total_cmp(&a.score);
        if matches.len() > k {
            matches.select_nth_unstable_by(k - 1, by_score);
            matches.truncate(k);
        }
        matches.sort_by(by_score);
        matches
    }
}

/// `out[r] = q · row r` for the rows of `rows` (each `q.len()` long), with the
/// widest integer SIMD the CPU has: AVX2 on x86-64 when present (detected at
/// run time), NEON on aarch64 (always there).
fn dots(q: &[i8], rows: &[i8], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { dots_avx2(q, rows, out) };
        return;
    }
    dots_portable(q, rows, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dots_avx2(q: &[i8], rows: &[i8], out: &mut [f32]) {
    dots_portable(q, rows, out);
}

#[inline(always)]
fn dots_portable(q: &[i8], rows: &[i8], out: &mut [f32]) {
    if q.len() == 128 {
        let q: &[i8; 128] = q.try_into().unwrap_or(&[0; 128]);
        for (row, o) in rows.chunks_exact(128).zip(out.iter_mut()) {
            let row: &[i8; 128] = row.try_into().unwrap_or(&[0; 128]);
            *o = dot_lanes(q, row) as f32;
        }
    } else {
        for (row, o) in rows.chunks_exact(q.len().max(1)).zip(out.iter_mut()) {
            *o = dot_lanes(q, row) as f32;
        }
    }
}

/// Integer dot product in 16 independent lanes of i16 products summed into
/// i32, the shape that compiles to `pmaddwd` (x86) and `smlal` (aarch64).
#[inline(always)]
fn dot_lanes(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| i32::from(i16::from(x) * i16::from(y)))
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..16 {
            acc[k] += i32::from(i16::from(x[k]) * i16::from(y[k]));
        }
    }
    acc.iter().sum::<i32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: Vec<f32>) -> Embedding {
        Embedding::normalised(v)
    }

    #[test]
    fn finds_the_best_person_and_ranks_the_rest() {
        let mut index = Index::with_dim(4, 0);
        let people = [
            unit(vec![1.0, 0.0, 0.0, 0.0]),
            unit(vec![0.0, 1.0, 0.0, 0.0]),
            unit(vec![0.7, 0.7, 0.0, 0.0]),
        ];
        for (i, e) in people.iter().enumerate() {
            let t = crate::gallery::quantise(e, [0; 16]);
            index.push(i as u32, t.scale, &t.values);
        }
        let q = unit(vec![0.9, 0.1, 0.0, 0.0]);
        let top = index.search(&q, 2);
        assert_eq!(top.iter().map(|m| m.person).collect::<Vec<_>>(), vec![0, 2]);
        for m in &top {
            let exact = q.cosine(&people[m.person]);
            assert!((m.score - exact).abs() < 0.01, "{} vs {exact}", m.score);
        }
        assert_eq!(index.search(&q, 10).len(), 3);
    }

    #[test]
    fn a_person_scores_by_their_best_template() {
        let mut index = Index::with_dim(2, 0);
        for (owner, v) in [
            (0, vec![1.0, 0.0]),
            (0, vec![0.0, 1.0]),
            (1, vec![0.6, 0.8]),
        ] {
            let t = crate::gallery::quantise(&unit(v), [0; 16]);
            index.push(owner, t.scale, &t.values);
        }
        let top = index.search(&unit(vec![0.0, 1.0]), 1);
        assert_eq!(top[0].person, 0);
        assert!((top[0].score - 1.0).abs() < 0.01);
    }

    #[test]
    fn large_index_matches_small_path() {
        let n = 3 * CHUNK + 17;
        let mut index = Index::with_dim(8, 0);
        for i in 0..n {
            let v: Vec<f32> = (0..8)
                .map(|j| ((i * 31 + j * 7) % 13) as f32 - 6.0)
                .collect();
            let t = crate::gallery::quantise(&unit(v), [0; 16]);
            index.push(i as u32, t.scale, &t.values);
        }
        let q = unit((0..8).map(|j| j as f32 - 3.5).collect());
        let top = index.search(&q, 5);
        assert_eq!(top.len(), 5);
        assert!(top.windows(2).all(|w| w[0].score >= w[1].score));
        // Brute force over the same quantised rows agrees.
        let mut all: Vec<f32> = (0..n).map(|i| index.search_row(&q, i)).collect();
        all.sort_by(|a, b| b.total_cmp(a));
        for (m, s) in top.iter().zip(&all) {
            assert!((m.score - s).abs() < 1e-6);
        }
    }

    impl Index {
        fn search_row(&self, query: &Embedding, row: usize) -> f32 {
            let mut one = Index::with_dim(self.dim, 0);
            one.push(
                0,
                self.scales[row],
                &self.values[row * self.dim..(row + 1) * self.dim],
            );
            one.search(query, 1)[0].score
        }
    }
}
