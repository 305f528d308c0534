//! Face embedding with SFace: 128-D, L2-normalised, compared by cosine.

pub mod loader;
pub mod model;

use burn::prelude::*;
use image::RgbImage;

pub use model::{EMBEDDING_DIM, INPUT_SIZE, SFace};

use super::align::{self, AlignedFace};
use super::detection::Detection;
use super::embedding::{Embedder, EmbedderInfo, Metric};
use super::layers::Skeleton;
use super::pipeline::{self, LoadOptions};
use super::{ModelError, ModelPaths, kernels};

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

/// What SFace declares.
pub static INFO: EmbedderInfo = EmbedderInfo {
    name: "sface",
    model_id: MODEL_ID,
    weights_sha256: WEIGHTS_SHA256,
    dim: EMBEDDING_DIM,
    metric: Metric::Cosine,
    default_threshold: DEFAULT_COSINE_THRESHOLD,
    min_threshold: MIN_COSINE_THRESHOLD,
};

/// SFace on a burn device.
#[derive(Debug)]
pub struct SFaceEmbedder {
    model: SFace,
    device: Device,
}

impl SFaceEmbedder {
    /// Loads the record from `paths`.
    pub fn load(paths: &ModelPaths, options: &LoadOptions) -> Result<Self, ModelError> {
        let device = options.backend.device()?;
        let skeleton = SFace::build(&mut Skeleton, &device)?;
        let model = pipeline::record(skeleton, paths, "sface", options)?;
        Ok(Self::new(model, device))
    }

    /// Wraps a loaded network.
    pub fn new(model: SFace, device: Device) -> Self {
        Self { model, device }
    }
}

impl Embedder for SFaceEmbedder {
    fn info(&self) -> &'static EmbedderInfo {
        &INFO
    }

    /// The 112×112 ArcFace crop from the five landmarks.
    fn align(&self, img: &RgbImage, face: &Detection) -> Option<AlignedFace> {
        align::align(img, &face.landmarks)
    }

    fn run(&self, faces: &[AlignedFace]) -> Vec<Vec<f32>> {
        if faces.is_empty() || !AlignedFace::all_sized(faces, INPUT_SIZE) {
            return Vec::new();
        }
        let data: Vec<f32> = faces.iter().flat_map(|f| f.bgr.iter().copied()).collect();
        let x = Tensor::<4>::from_data(
            TensorData::new(data, [faces.len(), 3, INPUT_SIZE, INPUT_SIZE]),
            &self.device,
        );
        kernels::rows(self.model.forward(x))
    }
}
