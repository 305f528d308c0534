//! dlib's face recognition pipeline (the seed's "基于 Dlib 实现的人脸识别框架"),
//! read from dlib's own model files in PyPI `face-recognition-models` 0.3.0
//! (CC0) by facegate's parser of dlib's serialisation ([`dat`]): the 5-point
//! shape predictor ([`shape`]) places eye corners and the nose base inside a
//! face box, dlib's face chip ([`chip`]: 150×150, padding 0.25) is cut from
//! them, and the ResNet-29 ([`model`], imported by [`loader`]) turns it into
//! a 128-D descriptor. dlib compares its raw descriptors by Euclidean
//! distance, same person below 0.6; facegate's thresholds are cosines of the
//! unit vectors, calibrated on LFW ([`INFO`]).
//!
//! The box comes from facegate's detector, not dlib's HOG one (whose boxes
//! the shape predictor was trained on): [`dlib_rect`] turns it into a square
//! of the same centre. Fitted to dlib's HOG boxes on LFW
//! (`scripts/fit_dlib_rect.py`: centre shifted by (−0.03, +0.05) of the side,
//! side ×0.955) the square overlaps them more (IoU 0.77 → 0.81 on 207
//! held-out photos), but the landmarks dlib's predictor finds move by 0.01 eye
//! distances either way (1.00 % vs 0.98 % from those on dlib's own box), so
//! the plain square stays.

pub mod chip;
pub mod dat;
pub mod loader;
pub mod model;
pub mod shape;

use burn::prelude::*;
use image::RgbImage;

pub use model::{DlibResNet, EMBEDDING_DIM, INPUT_SIZE, MEAN_RGB};
pub use shape::{DlibRect, ShapePredictor};

use super::align::AlignedFace;
use super::detection::Detection;
use super::embedding::{Embedder, EmbedderInfo, Metric};
use super::layers::Skeleton;
use super::pipeline::{self, LoadOptions};
use super::{ModelError, ModelPaths, kernels};

/// Model id stored in galleries.
pub const MODEL_ID: &str = "dlib-resnet-v1-128";

/// The descriptor network's file, as PyPI `face-recognition-models` names it.
pub const RESNET_FILE: &str = "dlib_face_recognition_resnet_model_v1";
/// The 5-point shape predictor's file.
pub const SHAPE_FILE: &str = "shape_predictor_5_face_landmarks";

/// SHA-256 of `dlib_face_recognition_resnet_model_v1.dat` (pinned in
/// `scripts/seed_models.py`).
pub const WEIGHTS_SHA256: [u8; 32] = [
    0x55, 0x53, 0x3b, 0x28, 0xa9, 0x58, 0x00, 0xa5, 0x51, 0xba, 0x54, 0x6b, 0xa6, 0x2f, 0xe6, 0x96,
    0x25, 0xc8, 0x86, 0xa6, 0x23, 0x4e, 0xd7, 0x4e, 0x6d, 0x57, 0x01, 0x57, 0xff, 0x1d, 0x89, 0x6c,
];

/// dlib's tolerance: descriptors closer than this are the same person.
pub const DLIB_TOLERANCE: f32 = 0.6;

/// What dlib's ResNet declares: its authors' metric, Euclidean distance
/// ([`DLIB_TOLERANCE`] on the raw descriptors). Thresholds are cosines of the
/// unit vectors, calibrated as every default is: 0.928 accepts the share of
/// LFW's 952 814 impostor pairs (8.2e-4, RetinaFace boxes) that SFace's
/// 0.373 does, and 93.1 % of the genuine pairs; the johns' impostors reach
/// 0.894. dlib's raw descriptors have a norm of about 1.42 (1.21–1.68 on
/// LFW), so its 0.6 is about 0.42 between unit vectors, a cosine of about
/// 0.91 (FAR ~1e-2 on LFW); read as a distance of unit vectors (a cosine of
/// 0.82) it would accept 66 % of those strangers.
pub static INFO: EmbedderInfo = EmbedderInfo {
    name: "dlib",
    model_id: MODEL_ID,
    weights_sha256: WEIGHTS_SHA256,
    dim: EMBEDDING_DIM,
    metric: Metric::L2,
    default_threshold: 0.928,
    min_threshold: 0.89,
};

/// Reads a model file of dlib's.
fn read(paths: &ModelPaths, name: &str) -> Result<(std::path::PathBuf, Vec<u8>), ModelError> {
    let path = paths.file(name, "dat");
    let bytes = std::fs::read(&path).map_err(|e| ModelError::io(&path, e))?;
    Ok((path, bytes))
}

/// Imports the descriptor network from its `.dat` file, if it is there.
pub fn import(paths: &ModelPaths, device: &Device) -> Result<Option<DlibResNet>, ModelError> {
    if !paths.file(RESNET_FILE, "dat").exists() {
        return Ok(None);
    }
    let (path, bytes) = read(paths, RESNET_FILE)?;
    let net = loader::parse(&bytes).map_err(|e| ModelError::Format {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    match net.layers.first() {
        Some(loader::Layer::Input { mean, size }) if *size == [INPUT_SIZE, INPUT_SIZE] => {
            if mean.iter().zip(MEAN_RGB).any(|(a, b)| (a - b).abs() > 1e-3) {
                return Err(ModelError::Mismatch(format!("dlib input means {mean:?}")));
            }
        }
        other => {
            return Err(ModelError::Mismatch(format!("dlib input layer {other:?}")));
        }
    }
    let mut src = loader::Import::new(net, &model::layer_kinds())?;
    Ok(Some(DlibResNet::build(&mut src, device)?))
}

/// The box handed to the shape predictor for `face`: a square on the
/// detector box's centre, its side the mean of the box's width and height
/// (why not fitted to dlib's boxes: the module's docs).
pub fn dlib_rect(face: &Detection) -> DlibRect {
    let [x, y, w, h] = face.bbox;
    let side = 0.5 * (w + h);
    let (cx, cy) = (x + 0.5 * w, y + 0.5 * h);
    let half = 0.5 * side;
    DlibRect {
        left: (cx - half).round() as i64,
        top: (cy - half).round() as i64,
        right: (cx + half).round() as i64,
        bottom: (cy + half).round() as i64,
    }
}

/// dlib's pipeline on a burn device.
#[derive(Debug)]
pub struct DlibEmbedder {
    model: DlibResNet,
    shapes: ShapePredictor,
    device: Device,
}

impl DlibEmbedder {
    /// Loads the network's record and the shape predictor from `paths`.
    pub fn load(paths: &ModelPaths, options: &LoadOptions) -> Result<Self, ModelError> {
        let device = options.backend.device()?;
        let skeleton = DlibResNet::build(&mut Skeleton, &device)?;
        let model = pipeline::record(skeleton, paths, "dlib", options)?;
        let (path, bytes) = read(paths, SHAPE_FILE)?;
        let shapes = ShapePredictor::from_bytes(&bytes).map_err(|e| ModelError::Format {
            path,
            msg: e.to_string(),
        })?;
        Ok(Self {
            model,
            shapes,
            device,
        })
    }

    /// The pipeline from an imported network and a parsed shape predictor.
    pub fn from_parts(model: DlibResNet, shapes: ShapePredictor, device: Device) -> Self {
        Self {
            model,
            shapes,
            device,
        }
    }

    /// The shape predictor's 5 points inside `rect`.
    pub fn landmarks(&self, img: &RgbImage, rect: DlibRect) -> Vec<[f32; 2]> {
        self.shapes.predict(img, rect)
    }

    /// dlib's 150×150 chip for the face in `rect`.
    pub fn chip(&self, img: &RgbImage, rect: DlibRect) -> Option<RgbImage> {
        let shape = self.landmarks(img, rect);
        let details = chip::face_chip_details(&shape, INPUT_SIZE, 0.25)?;
        Some(chip::extract_chip(img, &details))
    }

    /// Raw descriptors of 150×150 RGB chips, as dlib computes them.
    pub fn descriptors(&self, chips: &[RgbImage]) -> Vec<Vec<f32>> {
        let crops: Vec<AlignedFace> = chips.iter().map(planes).collect();
        self.run(&crops)
    }
}

/// An RGB chip as the BGR planes an [`AlignedFace`] holds.
fn planes(chip: &RgbImage) -> AlignedFace {
    let (w, h) = chip.dimensions();
    let plane = (w * h) as usize;
    let mut bgr = vec![0.0f32; 3 * plane];
    for (i, px) in chip.pixels().enumerate() {
        for c in 0..3 {
            bgr[(2 - c) * plane + i] = f32::from(px[c]);
        }
    }
    AlignedFace {
        size: if w == h { w as usize } else { 0 },
        bgr,
        more: Vec::new(),
    }
}

impl Embedder for DlibEmbedder {
    fn info(&self) -> &'static EmbedderInfo {
        &INFO
    }

    fn align(&self, img: &RgbImage, face: &Detection) -> Option<AlignedFace> {
        self.chip(img, dlib_rect(face)).as_ref().map(planes)
    }

    fn run(&self, crops: &[AlignedFace]) -> Vec<Vec<f32>> {
        if crops.is_empty() || !AlignedFace::all_sized(crops, INPUT_SIZE) {
            return Vec::new();
        }
        let plane = INPUT_SIZE * INPUT_SIZE;
        let data: Vec<f32> = crops
            .iter()
            .flat_map(|face| {
                (0..3).flat_map(move |c| {
                    face.bgr[(2 - c) * plane..(3 - c) * plane]
                        .iter()
                        .map(move |v| (v - MEAN_RGB[c]) / 256.0)
                })
            })
            .collect();
        let x = Tensor::<4>::from_data(
            TensorData::new(data, [crops.len(), 3, INPUT_SIZE, INPUT_SIZE]),
            &self.device,
        );
        kernels::rows(self.model.forward(x))
    }
}
