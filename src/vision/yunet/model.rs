//! YuNet (libfacedetection / OpenCV Zoo, 2023mar) as a burn module.
//!
//! A tiny depthwise-separable backbone, a top-down neck and one head per stride
//! (8, 16, 32). The head's four branches (class, objectness, box, 5 landmarks; each
//! a 1×1 then a depthwise 3×3 convolution) are merged into one 1×1 convolution with
//! 16 outputs and one depthwise 3×3 convolution, which computes exactly the same
//! numbers with 2 instead of 8 kernel launches per level.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::vision::layers::{LayerSource, conv};
use crate::vision::weights::{ConvSpec, ConvWeights};
use crate::vision::{ModelError, kernels};

/// Output channels of each head: class, objectness, box (4), landmarks (10).
pub const HEAD_CHANNELS: usize = 16;
/// Feature strides of the three heads.
pub const STRIDES: [usize; 3] = [8, 16, 32];

/// 1×1 convolution, depthwise 3×3 convolution, ReLU.
#[derive(Module, Debug)]
pub struct DwUnit {
    pw: Conv2d,
    dw: Conv2d,
}

impl DwUnit {
    fn build(
        src: &mut dyn LayerSource,
        first: usize,
        cin: usize,
        cout: usize,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            pw: conv(src, first, ConvSpec::pointwise(cin, cout), device)?,
            dw: conv(src, first + 1, ConvSpec::depthwise(cout, 1), device)?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.dw.forward(self.pw.forward(x)))
    }
}

/// The detector network.
#[derive(Module, Debug)]
pub struct YuNet {
    stem: Conv2d,
    /// Backbone units; max-pooling precedes units 1, 5, 7 and 9.
    backbone: Vec<DwUnit>,
    /// Neck units for strides 8, 16, 32.
    lateral: Vec<DwUnit>,
    /// Per-stride head: merged 1×1 convolution (64 → 16).
    head_pw: Vec<Conv2d>,
    /// Per-stride head: merged depthwise 3×3 convolution (16 channels).
    head_dw: Vec<Conv2d>,
}

/// Backbone units as (input, output) channels, in graph order.
const BACKBONE: [(usize, usize); 11] = [
    (16, 16),
    (16, 16),
    (16, 32),
    (32, 32),
    (32, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
];
/// Backbone units that a 2×2 max-pool precedes.
const POOL_BEFORE: [usize; 4] = [1, 5, 7, 9];

/// Convolutions in the exported graph, in order: the stem, 2 per backbone unit,
/// 2 per neck unit (stride 32 first), then the head branches.
pub(crate) mod order {
    /// First convolution of the neck (stride 32 first, then 16, then 8).
    pub const NECK: usize = 1 + 2 * super::BACKBONE.len();
    /// First convolution of the heads: per branch (class, box, objectness,
    /// landmarks), per stride (8, 16, 32), a 1×1 and a 3×3 convolution.
    pub const HEADS: usize = NECK + 6;
}

impl YuNet {
    /// Builds the network with weights from `src` (see `order`).
    pub fn build(src: &mut dyn LayerSource, device: &Device) -> Result<Self, ModelError> {
        let stem = conv(src, 0, ConvSpec::dense3(3, 16, 2), device)?;
        let backbone = BACKBONE
            .iter()
            .enumerate()
            .map(|(i, &(cin, cout))| DwUnit::build(src, 1 + 2 * i, cin, cout, device))
            .collect::<Result<_, _>>()?;
        // Graph order is stride 32, 16, 8; we keep them by stride 8, 16, 32.
        let mut lateral = (0..3)
            .map(|i| DwUnit::build(src, order::NECK + 2 * i, 64, 64, device))
            .collect::<Result<Vec<_>, _>>()?;
        lateral.reverse();
        let mut head_pw = Vec::new();
        let mut head_dw = Vec::new();
        for level in 0..STRIDES.len() {
            let (pw, dw) = merged_head(src, level)?;
            head_pw.push(pw.into_module(device));
            head_dw.push(dw.into_module(device));
        }
        Ok(Self {
            stem,
            backbone,
            lateral,
            head_pw,
            head_dw,
        })
    }

    /// Runs the network on `[1, 3, H, W]` BGR 0–255 input (H, W multiples of 32).
    ///
    /// Returns one `[1, 16, H/s, W/s]` map per stride `s` in [`STRIDES`]: channels
    /// are class and objectness logits, box (4) and landmark (10) regressions.
    pub fn forward(&self, input: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = relu(kernels::conv3x3(input, &self.stem, 2));
        let mut feats = Vec::new();
        for (i, unit) in self.backbone.iter().enumerate() {
            if POOL_BEFORE.contains(&i) {
                if i >= 7 {
                    feats.push(x.clone());
                }
                x = kernels::max_pool2(x);
            }
            x = unit.forward(x);
        }
        // feats: stride 8, stride 16; x: stride 32.
        let p5 = self.lateral[2].forward(x);
        let p4 = self.lateral[1].forward(feats[1].clone() + kernels::upsample2(p5.clone()));
        let p3 = self.lateral[0].forward(feats[0].clone() + kernels::upsample2(p4.clone()));
        [p3, p4, p5]
            .into_iter()
            .enumerate()
            .map(|(l, p)| self.head_dw[l].forward(self.head_pw[l].forward(p)))
            .collect()
    }
}

/// Head branches in graph order with their output channels: class, box,
/// objectness, landmarks.
const BRANCHES: [usize; 4] = [1, 4, 1, 10];
/// Where each graph branch goes in the merged head: class 0, objectness 1,
/// box 2..6, landmarks 6..16.
const MERGED_OFFSET: [usize; 4] = [0, 2, 1, 6];

/// Reads the four head branches of one stride level and merges them into one
/// 1×1 convolution (64 → 16) and one depthwise 3×3 convolution (16 channels).
fn merged_head(
    src: &mut dyn LayerSource,
    level: usize,
) -> Result<(ConvWeights, ConvWeights), ModelError> {
    let total: usize = BRANCHES.iter().sum();
    let mut pw = ConvWeights {
        spec: ConvSpec::pointwise(64, total),
        weight: vec![0.0; total * 64],
        bias: vec![0.0; total],
    };
    let mut dw = ConvWeights {
        spec: ConvSpec::depthwise(total, 1),
        weight: vec![0.0; total * 9],
        bias: vec![0.0; total],
    };
    for (branch, (&channels, &offset)) in BRANCHES.iter().zip(&MERGED_OFFSET).enumerate() {
        let first = order::HEADS + 2 * (branch * 3 + level);
        let p = src.conv(first, ConvSpec::pointwise(64, channels))?;
        let d = src.conv(first + 1, ConvSpec::depthwise(channels, 1))?;
        pw.weight[offset * 64..(offset + channels) * 64].copy_from_slice(&p.weight);
        pw.bias[offset..offset + channels].copy_from_slice(&p.bias);
        dw.weight[offset * 9..(offset + channels) * 9].copy_from_slice(&d.weight);
        dw.bias[offset..offset + channels].copy_from_slice(&d.bias);
    }
    Ok((pw, dw))
}
