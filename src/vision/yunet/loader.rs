//! Import of YuNet weights exported by `scripts/fold_onnx.py`.

use crate::vision::ModelError;
use crate::vision::layers::LayerSource;
use crate::vision::weights::{ConvSpec, ConvWeights};

use super::model::order;

/// Head branches in graph order with their output channels: class, box,
/// objectness, landmarks.
const BRANCHES: [usize; 4] = [1, 4, 1, 10];
/// Where each graph branch goes in the merged head: class 0, objectness 1,
/// box 2..6, landmarks 6..16.
const MERGED_OFFSET: [usize; 4] = [0, 2, 1, 6];

/// Reads the four head branches of one stride level and merges them into one
/// 1×1 convolution (64 → 16) and one depthwise 3×3 convolution (16 channels).
pub(super) fn merged_head(
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

/// YuNet weights from an export (its convolutions carry their folded biases).
pub struct Import(pub crate::vision::weights::Weights);

impl LayerSource for Import {
    fn conv(&mut self, index: usize, spec: ConvSpec) -> Result<ConvWeights, ModelError> {
        ConvWeights::take(&mut self.0, index, spec)
    }

    fn prelu(&mut self, index: usize, _channels: usize) -> Result<Vec<f32>, ModelError> {
        Err(ModelError::Mismatch(format!("YuNet has no PReLU {index}")))
    }

    fn linear(&mut self, _din: usize, _dout: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        Err(ModelError::Mismatch("YuNet has no dense layer".into()))
    }
}
