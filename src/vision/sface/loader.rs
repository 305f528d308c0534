//! Import of SFace weights exported by `scripts/fold_onnx.py`, folding every
//! batch normalisation into the layer before (or, for the one before the dense
//! layer, after) it.

use crate::vision::ModelError;
use crate::vision::layers::LayerSource;
use crate::vision::weights::{BatchNorm, ConvSpec, ConvWeights, Weights};

use super::model::{EMBEDDING_DIM, FEATURE_CHANNELS, INPUT_MEAN, INPUT_SCALE, specs};

/// SFace weights from an export, with batch normalisations folded.
pub struct Import(pub Weights);

impl Import {
    /// Checks the input normalisation constants the model hard-codes.
    pub fn check_input_norm(&mut self) -> Result<(), ModelError> {
        let sub = self.0.take("sub.0.scalar", &[1])?.data[0];
        let mul = self.0.take("mul.0.scalar", &[1])?.data[0];
        if sub != INPUT_MEAN || mul != INPUT_SCALE {
            return Err(ModelError::Mismatch(format!(
                "SFace input normalisation is (x - {sub}) * {mul}, expected (x - {INPUT_MEAN}) * {INPUT_SCALE}"
            )));
        }
        Ok(())
    }
}

impl LayerSource for Import {
    fn conv(&mut self, index: usize, spec: ConvSpec) -> Result<ConvWeights, ModelError> {
        let mut conv = ConvWeights::take(&mut self.0, index, spec)?;
        let bn = BatchNorm::take(&mut self.0, index, spec.cout)?;
        conv.fold_batch_norm(&bn);
        Ok(conv)
    }

    fn prelu(&mut self, index: usize, channels: usize) -> Result<Vec<f32>, ModelError> {
        Ok(self
            .0
            .take(&format!("prelu.{index}.slope"), &[channels, 1, 1])?
            .data)
    }

    /// `bn(gemm(bn_pre(x)))` as one dense layer. `bn_pre` acts per channel of the
    /// 1024×7×7 feature map, which flattens channel-major.
    fn linear(&mut self, din: usize, dout: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        let convs = specs().len();
        let pre = BatchNorm::take(&mut self.0, convs, FEATURE_CHANNELS)?;
        let post = BatchNorm::take(&mut self.0, convs + 1, EMBEDDING_DIM)?;
        let w = self.0.take("gemm.0.weight", &[dout, din])?.data;
        let b = self.0.take("gemm.0.bias", &[dout])?.data;
        let spatial = din / FEATURE_CHANNELS;
        // Accumulate in f64: 50176 terms per output.
        let mut weight = vec![0.0f32; din * dout];
        let mut bias = vec![0.0f32; dout];
        for o in 0..dout {
            let (post_scale, post_shift) = post.affine(o);
            let mut acc = f64::from(b[o]);
            for i in 0..din {
                let (pre_scale, pre_shift) = pre.affine(i / spatial);
                let wi = w[o * din + i];
                acc += f64::from(wi) * f64::from(pre_shift);
                // burn's Linear stores [din, dout].
                weight[i * dout + o] = wi * pre_scale * post_scale;
            }
            bias[o] = (acc as f32) * post_scale + post_shift;
        }
        Ok((weight, bias))
    }
}
