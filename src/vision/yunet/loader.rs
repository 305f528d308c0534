//! Import of YuNet weights exported by `scripts/fold_onnx.py`.

use crate::vision::ModelError;
use crate::vision::layers::LayerSource;
use crate::vision::weights::{ConvSpec, ConvWeights};

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
