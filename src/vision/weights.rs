//! Weight import: the safetensors files written by `scripts/fold_onnx.py`.
//!
//! Tensors are named by op kind and graph order (`conv.3.weight`, `bn.0.var`, …) and
//! layer attributes sit in the metadata (`conv.3` → `stride=1,pad=1,group=16`), so the
//! per-model loaders take layers in order and check every shape and attribute.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use super::ModelError;

/// An f32 tensor read from the weight file.
#[derive(Debug, Clone)]
pub struct Raw {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// All tensors and attributes of one exported model.
pub struct Weights {
    path: PathBuf,
    tensors: HashMap<String, Raw>,
    meta: HashMap<String, String>,
}

impl Weights {
    /// Reads a safetensors file (f32 tensors only).
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let bad = |msg: String| ModelError::Format {
            path: path.to_path_buf(),
            msg,
        };
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!("tensor {name} is {:?}, not F32", view.dtype())));
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(
                name,
                Raw {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            meta,
        })
    }

    fn err(&self, msg: String) -> ModelError {
        ModelError::Format {
            path: self.path.clone(),
            msg,
        }
    }

    /// Removes and returns tensor `name`, which must have `shape`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Raw, ModelError> {
        let raw = self
            .tensors
            .remove(name)
            .ok_or_else(|| self.err(format!("missing tensor {name}")))?;
        if raw.shape != shape {
            return Err(self.err(format!(
                "tensor {name} has shape {:?}, expected {shape:?}",
                raw.shape
            )));
        }
        Ok(raw)
    }

    /// Checks that layer `name` was exported with attributes `expected`.
    pub fn check_attr(&self, name: &str, expected: &str) -> Result<(), ModelError> {
        match self.meta.get(name) {
            Some(found) if found == expected => Ok(()),
            found => Err(self.err(format!(
                "layer {name} has attributes {found:?}, expected {expected}"
            ))),
        }
    }

    /// Attribute string of layer `name`, if any.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.meta.get(name).map(String::as_str)
    }

    /// Fails if any tensor was not used: the file is not the model we think it is.
    pub fn finish(self) -> Result<(), ModelError> {
        let mut left: Vec<_> = self.tensors.keys().cloned().collect();
        if left.is_empty() {
            return Ok(());
        }
        left.sort();
        Err(self.err(format!("unused tensors: {}", left.join(", "))))
    }
}

/// Shape of a 2-D convolution.
#[derive(Debug, Clone, Copy)]
pub struct ConvSpec {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding on each side: top and bottom, left and right.
    pub pad: [usize; 2],
    /// Channel groups.
    pub groups: usize,
}

impl ConvSpec {
    /// A square `k`×`k` convolution with `pad` on every side.
    pub const fn square(cin: usize, cout: usize, k: usize, stride: usize, pad: usize) -> Self {
        Self {
            cin,
            cout,
            kernel: [k, k],
            stride,
            pad: [pad, pad],
            groups: 1,
        }
    }

    /// Pointwise (1×1) convolution.
    pub const fn pointwise(cin: usize, cout: usize) -> Self {
        Self::square(cin, cout, 1, 1, 0)
    }

    /// Depthwise 3×3 convolution with padding 1.
    pub const fn depthwise(c: usize, stride: usize) -> Self {
        Self {
            groups: c,
            ..Self::square(c, c, 3, stride, 1)
        }
    }

    /// Dense 3×3 convolution with padding 1.
    pub const fn dense3(cin: usize, cout: usize, stride: usize) -> Self {
        Self::square(cin, cout, 3, stride, 1)
    }

    /// The exporter's attribute string for this shape (`fold_onnx.py`:
    /// square kernels, the same padding on every side).
    pub fn attrs(&self) -> String {
        format!(
            "stride={},pad={},group={}",
            self.stride, self.pad[0], self.groups
        )
    }

    /// Shape of the weight tensor.
    pub fn weight_shape(&self) -> [usize; 4] {
        let [kh, kw] = self.kernel;
        [self.cout, self.cin / self.groups, kh, kw]
    }
}

/// A convolution's weights on the host, before they become a burn module.
#[derive(Debug, Clone)]
pub struct ConvWeights {
    /// The convolution's shape.
    pub spec: ConvSpec,
    /// `[cout, cin/groups, k, k]`, row-major.
    pub weight: Vec<f32>,
    /// `[cout]`.
    pub bias: Vec<f32>,
}

impl ConvWeights {
    /// Reads `conv.{index}` (bias optional, zero when absent) and checks its
    /// shape and `fold_onnx.py`'s attributes.
    pub fn take(w: &mut Weights, index: usize, spec: ConvSpec) -> Result<Self, ModelError> {
        w.check_attr(&format!("conv.{index}"), &spec.attrs())?;
        Self::take_unchecked(w, index, spec)
    }

    /// Reads `conv.{index}` and checks its shape only (the caller checks the
    /// attributes of exports in other formats).
    pub fn take_unchecked(
        w: &mut Weights,
        index: usize,
        spec: ConvSpec,
    ) -> Result<Self, ModelError> {
        let name = format!("conv.{index}");
        let weight = w
            .take(&format!("{name}.weight"), &spec.weight_shape())?
            .data;
        let bias_name = format!("{name}.bias");
        let bias = if w.tensors.contains_key(&bias_name) {
            w.take(&bias_name, &[spec.cout])?.data
        } else {
            vec![0.0; spec.cout]
        };
        Ok(Self { spec, weight, bias })
    }

    /// Folds an inference-mode batch normalisation that follows this convolution.
    pub fn fold_batch_norm(&mut self, bn: &BatchNorm) {
        self.fold_affine(|o| bn.affine(o));
    }

    /// Folds a per-channel `scale·x + shift` that follows this convolution:
    /// `affine(o)` gives output channel `o`'s `(scale, shift)`.
    pub fn fold_affine(&mut self, affine: impl Fn(usize) -> (f32, f32)) {
        let per_out = self.weight.len() / self.spec.cout;
        for (o, chunk) in self.weight.chunks_exact_mut(per_out).enumerate() {
            let (scale, shift) = affine(o);
            chunk.iter_mut().for_each(|v| *v *= scale);
            self.bias[o] = self.bias[o] * scale + shift;
        }
    }

    /// Builds the burn module.
    pub fn into_module(self, device: &Device) -> Conv2d {
        let s = self.spec;
        Conv2d {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(self.weight, s.weight_shape()),
                device,
            )),
            bias: Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(self.bias, [s.cout]),
                device,
            ))),
            stride: [s.stride, s.stride],
            kernel_size: s.kernel,
            dilation: [1, 1],
            groups: s.groups,
            padding: PaddingConfig2d::Explicit(s.pad[0], s.pad[1], s.pad[0], s.pad[1]),
        }
    }
}

/// Inference-mode batch normalisation parameters.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    mean: Vec<f32>,
    var: Vec<f32>,
    epsilon: f32,
}

impl BatchNorm {
    /// Reads `bn.{index}` with `channels` channels.
    pub fn take(w: &mut Weights, index: usize, channels: usize) -> Result<Self, ModelError> {
        let name = format!("bn.{index}");
        let epsilon = w
            .attr(&name)
            .and_then(|a| a.strip_prefix("epsilon="))
            .and_then(|v| v.parse::<f32>().ok())
            .ok_or_else(|| w.err(format!("layer {name} has no epsilon")))?;
        let mut get = |p: &str| w.take(&format!("{name}.{p}"), &[channels]).map(|r| r.data);
        Ok(Self {
            gamma: get("gamma")?,
            beta: get("beta")?,
            mean: get("mean")?,
            var: get("var")?,
            epsilon,
        })
    }

    /// Reads a PyTorch `BatchNorm` saved under `prefix` (`{prefix}.weight`,
    /// `.bias`, `.running_mean`, `.running_var`) with `channels` channels.
    pub fn take_torch(
        w: &mut Weights,
        prefix: &str,
        channels: usize,
        epsilon: f32,
    ) -> Result<Self, ModelError> {
        let mut get = |p: &str| {
            w.take(&format!("{prefix}.{p}"), &[channels])
                .map(|r| r.data)
        };
        Ok(Self {
            gamma: get("weight")?,
            beta: get("bias")?,
            mean: get("running_mean")?,
            var: get("running_var")?,
            epsilon,
        })
    }

    /// `(scale, shift)` of channel `c`: `bn(x) = scale * x + shift`.
    pub fn affine(&self, c: usize) -> (f32, f32) {
        let scale = self.gamma[c] / (self.var[c] + self.epsilon).sqrt();
        (scale, self.beta[c] - self.mean[c] * scale)
    }
}
