//! Passive liveness with MiniFASNet (minivision-ai Silent-Face-Anti-Spoofing,
//! Apache-2.0): two networks, each on its own crop around the face box
//! (2.7× for V2, 4× for V1SE), whose live-class probabilities are averaged
//! as upstream does (`test.py` sums the two softmaxes and halves the score).
//!
//! What it looks at is the picture itself — print texture, screen moiré and
//! glare, the edge of a phone or a sheet around the face — so it needs the
//! context around the face that the wider crops give.

pub mod crop;
pub mod loader;
pub mod model;

use std::path::PathBuf;

use burn::prelude::*;
use image::RgbImage;
use serde::Serialize;

pub use model::{INPUT_SIZE, MiniFasNet, Variant};

use super::layers::Skeleton;
use super::pipeline::{self, LoadOptions};
use super::weights::Weights;
use super::{ModelError, ModelPaths, kernels};

/// A face's liveness scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LiveScore {
    /// The mean of the two models' live-class probabilities, 0–1.
    pub live: f32,
    /// Each model's live-class probability, in [`Variant::ALL`] order.
    pub per_model: [f32; 2],
}

/// Both networks on a burn device.
#[derive(Debug)]
pub struct Passive {
    models: [MiniFasNet; 2],
    device: Device,
}

impl Passive {
    /// Loads both records from `paths`.
    pub fn load(paths: &ModelPaths, options: &LoadOptions) -> Result<Self, ModelError> {
        let device = options.backend.device()?;
        let load = |v: Variant| {
            let skeleton = MiniFasNet::build(v, &mut Skeleton, &device)?;
            pipeline::record(skeleton, paths, v.stem(), options)
        };
        Ok(Self {
            models: [load(Variant::V2)?, load(Variant::V1Se)?],
            device,
        })
    }

    /// The two crops (V2's, V1SE's) of the face at `bbox` `[x, y, w, h]`;
    /// `None` for a degenerate box.
    pub fn crops(img: &RgbImage, bbox: [f32; 4]) -> Option<[RgbImage; 2]> {
        let crop = |v: Variant| {
            crop::crop_box(img.width(), img.height(), bbox, v.crop_scale())
                .map(|b| crop::resize(img, b))
        };
        Some([crop(Variant::V2)?, crop(Variant::V1Se)?])
    }

    /// Raw logits of model `which` (0: V2, 1: V1SE) for 80×80 crops.
    pub fn logits(&self, which: usize, crops: &[RgbImage]) -> Vec<Vec<f32>> {
        let Some(model) = self.models.get(which) else {
            return Vec::new();
        };
        let sized = |c: &RgbImage| c.dimensions() == (INPUT_SIZE as u32, INPUT_SIZE as u32);
        if crops.is_empty() || !crops.iter().all(sized) {
            return Vec::new();
        }
        let data: Vec<f32> = crops.iter().flat_map(crop::bgr_planes).collect();
        let x = Tensor::<4>::from_data(
            TensorData::new(data, [crops.len(), 3, INPUT_SIZE, INPUT_SIZE]),
            &self.device,
        );
        kernels::rows(model.forward(x))
    }

    /// The liveness of the face at `bbox`; `None` for a degenerate box.
    pub fn score(&self, img: &RgbImage, bbox: [f32; 4]) -> Option<LiveScore> {
        let crops = Self::crops(img, bbox)?;
        let mut per_model = [0.0f32; 2];
        for (which, (crop, p)) in crops.iter().zip(per_model.iter_mut()).enumerate() {
            let logits = self.logits(which, std::slice::from_ref(crop)).pop()?;
            *p = live_probability(&logits)?;
        }
        Some(LiveScore {
            live: (per_model[0] + per_model[1]) / 2.0,
            per_model,
        })
    }
}

/// The softmax probability of the live class.
pub fn live_probability(logits: &[f32]) -> Option<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.get(model::LIVE_CLASS)
        .map(|e| e / sum)
        .filter(|p| p.is_finite())
}

/// Imports both exports (`minifasnet_v2.safetensors`, `minifasnet_v1se…`)
/// when present: `(name, network)` per variant.
pub fn import(
    paths: &ModelPaths,
    device: &Device,
) -> Result<Vec<(&'static str, MiniFasNet)>, ModelError> {
    let mut out = Vec::new();
    for v in Variant::ALL {
        let export: PathBuf = paths.file(v.stem(), "safetensors");
        if !export.exists() {
            continue;
        }
        let mut w = loader::Import::new(Weights::open(&export)?, v);
        let model = MiniFasNet::build(v, &mut w, device)?;
        w.finish()?;
        out.push((v.stem(), model));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_probability_is_the_softmax_of_class_one() {
        let p = live_probability(&[0.0, 0.0, 0.0]).unwrap();
        assert!((p - 1.0 / 3.0).abs() < 1e-6);
        let p = live_probability(&[-100.0, 100.0, -100.0]).unwrap();
        assert!(p > 0.999);
        assert_eq!(live_probability(&[1.0]), None);
        assert_eq!(live_probability(&[f32::NAN, 0.0, 0.0]), None);
    }
}
