//! Face embeddings, how they compare, and the [`Embedder`] trait every
//! embedding model implements: it owns its alignment (template, crop size,
//! normalisation) and declares its model id, size, metric and thresholds.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::align::AlignedFace;
use super::detection::Detection;

/// How an embedder's authors compare its embeddings. Embeddings are unit
/// vectors here, so cosine `c` and squared L2 distance `d²` rank alike
/// (`d² = 2 − 2c`); galleries store and the 1:N search uses cosine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Cosine similarity, higher is closer.
    Cosine,
    /// (Squared) Euclidean distance, lower is closer.
    SquaredL2,
    /// Euclidean distance of the raw descriptors, lower is closer (dlib: the
    /// same person below 0.6).
    L2,
}

/// What an embedder declares about itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbedderInfo {
    /// Its name, as `--embedder` and `[vision] embedder` spell it.
    pub name: &'static str,
    /// Model id stored in galleries: templates compare only under one id.
    pub model_id: &'static str,
    /// SHA-256 of the upstream weights file, stored in gallery headers.
    pub weights_sha256: [u8; 32],
    /// Components per embedding.
    pub dim: usize,
    /// The metric its authors rank by.
    pub metric: Metric,
    /// Cosine score at or above which two faces are the same person.
    pub default_threshold: f32,
    /// Lowest cosine threshold a device accepts from a gallery.
    pub min_threshold: f32,
}

/// A face embedding model with its own alignment.
pub trait Embedder: std::fmt::Debug {
    /// What it declares.
    fn info(&self) -> &'static EmbedderInfo;
    /// Cuts the crop this model was trained on around `face` in `img`.
    fn align(&self, img: &RgbImage, face: &Detection) -> Option<AlignedFace>;
    /// Raw (unnormalised) network outputs for a batch of crops, one per
    /// crop; none at all if a crop is not of the size [`Embedder::align`]
    /// makes.
    fn run(&self, crops: &[AlignedFace]) -> Vec<Vec<f32>>;
    /// Unit-length embeddings of a batch of crops.
    fn embed(&self, crops: &[AlignedFace]) -> Vec<Embedding> {
        self.run(crops)
            .into_iter()
            .map(Embedding::normalised)
            .collect()
    }
}

/// An L2-normalised face embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding(pub Vec<f32>);

impl Embedding {
    /// Normalises a raw network output to unit length.
    pub fn normalised(mut raw: Vec<f32>) -> Self {
        let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            raw.iter_mut().for_each(|v| *v /= norm);
        }
        Self(raw)
    }

    /// Cosine similarity in −1..1 (the dot product of unit vectors).
    pub fn cosine(&self, other: &Embedding) -> f32 {
        self.0.iter().zip(&other.0).map(|(a, b)| a * b).sum()
    }

    /// Euclidean distance between the unit vectors, in 0..2.
    pub fn l2(&self, other: &Embedding) -> f32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    }
}

impl Embedding {
    /// The seed's ranking distance: squared L2 of the unit vectors.
    pub fn squared_l2(&self, other: &Embedding) -> f32 {
        self.l2(other).powi(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_l2_of_unit_vectors_agree() {
        let a = Embedding::normalised(vec![3.0, 4.0, 0.0]);
        let b = Embedding::normalised(vec![0.0, 4.0, 3.0]);
        let cos = a.cosine(&b);
        assert!((cos - 0.64).abs() < 1e-6);
        // |a - b|² = 2 - 2 cos for unit vectors.
        assert!((a.l2(&b).powi(2) - (2.0 - 2.0 * cos)).abs() < 1e-6);
        assert_eq!(Embedding::normalised(vec![0.0; 3]).0, vec![0.0; 3]);
    }
}
