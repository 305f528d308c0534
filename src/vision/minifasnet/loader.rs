//! Import of MiniFASNet weights exported by `scripts/liveness_models.py`:
//! upstream's state_dict names and values, batch norms folded here.

use crate::vision::ModelError;
use crate::vision::layers::LayerSource;
use crate::vision::weights::{BatchNorm, ConvSpec, ConvWeights, Weights};

use super::model::{CLASSES, FEATURE_CHANNELS, Layer, Variant, layers};

/// PyTorch's default batch-norm epsilon, which upstream keeps.
const BN_EPSILON: f32 = 1e-5;
/// Width of the embedding between the head's two dense layers.
const EMBEDDING: usize = 128;

/// One variant's weights, read by layer name.
pub struct Import {
    weights: Weights,
    plan: Vec<Layer>,
}

impl Import {
    /// `weights` as `variant`.
    pub fn new(weights: Weights, variant: Variant) -> Self {
        Self {
            weights,
            plan: layers(variant),
        }
    }

    /// Fails if a tensor was left unused.
    pub fn finish(self) -> Result<(), ModelError> {
        self.weights.finish()
    }

    fn layer(&self, index: usize) -> Result<&Layer, ModelError> {
        self.plan
            .get(index)
            .ok_or_else(|| ModelError::Mismatch(format!("no MiniFASNet layer {index}")))
    }
}

impl LayerSource for Import {
    fn conv(&mut self, index: usize, spec: ConvSpec) -> Result<ConvWeights, ModelError> {
        let layer = self.layer(index)?.clone();
        let weight = self
            .weights
            .take(&format!("{}.weight", layer.conv), &spec.weight_shape())?
            .data;
        let mut conv = ConvWeights {
            spec,
            weight,
            bias: vec![0.0; spec.cout],
        };
        let bn = BatchNorm::take_torch(&mut self.weights, &layer.bn, spec.cout, BN_EPSILON)?;
        conv.fold_batch_norm(&bn);
        Ok(conv)
    }

    fn prelu(&mut self, index: usize, channels: usize) -> Result<Vec<f32>, ModelError> {
        let layer = self.layer(index)?;
        let name = layer
            .prelu
            .clone()
            .ok_or_else(|| ModelError::Mismatch(format!("{} has no PReLU", layer.conv)))?;
        Ok(self
            .weights
            .take(&format!("{name}.weight"), &[channels])?
            .data)
    }

    /// `prob(bn(linear(x)))` as one dense layer `[512, 3]` with a bias.
    fn linear(&mut self, din: usize, dout: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        if (din, dout) != (FEATURE_CHANNELS, CLASSES) {
            return Err(ModelError::Mismatch(format!(
                "MiniFASNet's head is {FEATURE_CHANNELS} -> {CLASSES}, asked for {din} -> {dout}"
            )));
        }
        let l = self.weights.take("linear.weight", &[EMBEDDING, din])?.data;
        let bn = BatchNorm::take_torch(&mut self.weights, "bn", EMBEDDING, BN_EPSILON)?;
        let p = self.weights.take("prob.weight", &[dout, EMBEDDING])?.data;
        let mut weight = vec![0.0f32; din * dout];
        let mut bias = vec![0.0f32; dout];
        for k in 0..dout {
            let mut b = 0.0f64;
            let mut w = vec![0.0f64; din];
            for j in 0..EMBEDDING {
                let (scale, shift) = bn.affine(j);
                let pk = f64::from(p[k * EMBEDDING + j]);
                b += pk * f64::from(shift);
                for (i, wi) in w.iter_mut().enumerate() {
                    *wi += pk * f64::from(scale) * f64::from(l[j * din + i]);
                }
            }
            // burn's Linear stores [din, dout].
            for (i, wi) in w.into_iter().enumerate() {
                weight[i * dout + k] = wi as f32;
            }
            bias[k] = b as f32;
        }
        Ok((weight, bias))
    }
}
