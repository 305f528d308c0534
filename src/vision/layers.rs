//! Where a model's layer weights come from: zeros (a skeleton that a `.bpk` record
//! is loaded into) or the exported ONNX weights (import).

use burn::module::Param;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::ModelError;
use super::weights::{ConvSpec, ConvWeights};

/// Supplies layer weights to a model builder, layer by layer.
pub trait LayerSource {
    /// The convolution `index` (in the model's own order) with shape `spec`.
    fn conv(&mut self, index: usize, spec: ConvSpec) -> Result<ConvWeights, ModelError>;
    /// PReLU slopes of layer `index`.
    fn prelu(&mut self, index: usize, channels: usize) -> Result<Vec<f32>, ModelError>;
    /// A dense layer `din → dout`: weight `[din, dout]` row-major, bias `[dout]`.
    fn linear(&mut self, din: usize, dout: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError>;
    /// The constant scale of residual block `index`, which the architecture
    /// says is `expected` (sources that store it check it).
    fn scale(&mut self, _index: usize, expected: f32) -> Result<f32, ModelError> {
        Ok(expected)
    }
}

/// Zero weights: the architecture only, to load a saved record into.
pub struct Skeleton;

impl LayerSource for Skeleton {
    fn conv(&mut self, _index: usize, spec: ConvSpec) -> Result<ConvWeights, ModelError> {
        let n: usize = spec.weight_shape().iter().product();
        Ok(ConvWeights {
            spec,
            weight: vec![0.0; n],
            bias: vec![0.0; spec.cout],
        })
    }

    fn prelu(&mut self, _index: usize, channels: usize) -> Result<Vec<f32>, ModelError> {
        Ok(vec![0.0; channels])
    }

    fn linear(&mut self, din: usize, dout: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        Ok((vec![0.0; din * dout], vec![0.0; dout]))
    }
}

/// Builds a burn convolution from a source.
pub fn conv(
    src: &mut dyn LayerSource,
    index: usize,
    spec: ConvSpec,
    device: &Device,
) -> Result<Conv2d, ModelError> {
    Ok(src.conv(index, spec)?.into_module(device))
}

/// Builds a burn dense layer `din → dout` from a source.
pub fn linear(
    src: &mut dyn LayerSource,
    din: usize,
    dout: usize,
    device: &Device,
) -> Result<Linear, ModelError> {
    let (weight, bias) = src.linear(din, dout)?;
    Ok(Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [din, dout]),
            device,
        )),
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [dout]),
            device,
        ))),
    })
}
