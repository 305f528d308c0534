//! Face embedding with SFace: 128-D, L2-normalised, compared by cosine.

pub mod loader;
pub mod model;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use model::{EMBEDDING_DIM, INPUT_SIZE, SFace};

use super::align::AlignedFace;

/// Model id stored in galleries: templates are only comparable between
/// galleries and devices with the same id.
pub const MODEL_ID: &str = "sface-2021dec-128";

/// The model's weights, as stored in gallery headers: the SHA-256 of the
/// upstream ONNX file (`face_recognition_sface_2021dec_int8bq.onnx`, pinned
/// in `scripts/fetch-models.sh`) that both the fp32 and int8 records are
/// converted from. A gallery enrolled with other weights under the same model
/// id is refused.
pub const WEIGHTS_SHA256: [u8; 32] = [
    0xfb, 0x14, 0x3e, 0xea, 0x07, 0x83, 0x8a, 0xa5, 0x32, 0xd1, 0xc9, 0x5d, 0xf5, 0xf6, 0x98, 0x99,
    0x97, 0x4e, 0xa0, 0x14, 0x0e, 0x1f, 0xba, 0x05, 0xe9, 0x42, 0x04, 0xbe, 0x13, 0xed, 0x74, 0xee,
];

/// Lowest threshold a device accepts from a gallery by default: below it the
/// johns' impostor pairs (≤ 0.301) start to match.
pub const MIN_COSINE_THRESHOLD: f32 = 0.30;

/// Cosine score at or above which two SFace embeddings are the same person:
/// OpenCV Zoo's published SFace threshold (`cosine_similarity_threshold = 0.363`,
/// from its LFW evaluation).
pub const DEFAULT_COSINE_THRESHOLD: f32 = 0.363;
/// The matching L2-distance threshold from the same source (`norm_l2 = 1.128`).
pub const DEFAULT_L2_THRESHOLD: f32 = 1.128;

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

/// SFace on a burn device.
#[derive(Debug)]
pub struct Embedder {
    model: SFace,
    device: Device,
}

impl Embedder {
    /// Wraps a loaded network.
    pub fn new(model: SFace, device: Device) -> Self {
        Self { model, device }
    }

    /// Raw (unnormalised) network outputs for a batch of crops.
    pub fn run(&self, faces: &[AlignedFace]) -> Vec<Vec<f32>> {
        if faces.is_empty() {
            return Vec::new();
        }
        let data: Vec<f32> = faces.iter().flat_map(|f| f.bgr.iter().copied()).collect();
        let x = Tensor::<4>::from_data(
            TensorData::new(data, [faces.len(), 3, INPUT_SIZE, INPUT_SIZE]),
            &self.device,
        );
        let out = self
            .model
            .forward(x)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        out.chunks_exact(EMBEDDING_DIM)
            .map(<[f32]>::to_vec)
            .collect()
    }

    /// Embeds a batch of crops.
    pub fn embed(&self, faces: &[AlignedFace]) -> Vec<Embedding> {
        self.run(faces)
            .into_iter()
            .map(Embedding::normalised)
            .collect()
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
