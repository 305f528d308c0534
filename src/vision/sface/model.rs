//! SFace (OpenCV Zoo, 2021dec) as a burn module: a MobileFaceNet-style network of
//! 27 convolution + PReLU blocks and a dense layer to a 128-D embedding.
//!
//! The exported graph has a batch normalisation after every convolution and two
//! around the dense layer; the loader folds them all into the neighbouring
//! convolution or dense weights, which is exact up to float rounding.

use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PRelu};
use burn::prelude::*;

use crate::vision::layers::{LayerSource, conv, linear};
use crate::vision::weights::ConvSpec;
use crate::vision::{ModelError, kernels};

/// Side of the square input crop.
pub const INPUT_SIZE: usize = crate::vision::align::ARCFACE_SIZE;
/// Embedding dimension.
pub const EMBEDDING_DIM: usize = 128;
/// Input normalisation: `(pixel - MEAN) * SCALE`.
pub const INPUT_MEAN: f32 = 127.5;
/// See [`INPUT_MEAN`].
pub const INPUT_SCALE: f32 = 0.007_812_5;
/// Channels of the final feature map (7×7).
pub const FEATURE_CHANNELS: usize = 1024;

/// Convolution + PReLU.
#[derive(Module, Debug)]
pub struct Block {
    conv: Conv2d,
    act: PRelu,
}

/// The embedding network.
#[derive(Module, Debug)]
pub struct SFace {
    blocks: Vec<Block>,
    fc: Linear,
}

/// The 27 convolutions, in graph order.
pub fn specs() -> Vec<ConvSpec> {
    let mut specs = vec![ConvSpec::dense3(3, 32, 1)];
    // (channels in, channels out, depthwise stride) of the 13 separable units.
    let units = [
        (32, 64, 1),
        (64, 128, 2),
        (128, 128, 1),
        (128, 256, 2),
        (256, 256, 1),
        (256, 512, 2),
        (512, 512, 1),
        (512, 512, 1),
        (512, 512, 1),
        (512, 512, 1),
        (512, 512, 1),
        (512, 1024, 2),
        (1024, 1024, 1),
    ];
    for (cin, cout, stride) in units {
        specs.push(ConvSpec::depthwise(cin, stride));
        specs.push(ConvSpec::pointwise(cin, cout));
    }
    specs
}

impl SFace {
    /// Builds the network with weights from `src`.
    pub fn build(src: &mut dyn LayerSource, device: &Device) -> Result<Self, ModelError> {
        let blocks = specs()
            .into_iter()
            .enumerate()
            .map(|(i, spec)| {
                let slopes = src.prelu(i, spec.cout)?;
                let conv = conv(src, i, spec, device)?;
                let alpha = Tensor::from_data(TensorData::new(slopes, [spec.cout]), device);
                Ok(Block {
                    conv,
                    act: PRelu {
                        alpha: burn::module::Param::from_tensor(alpha),
                        alpha_value: 0.0,
                    },
                })
            })
            .collect::<Result<_, ModelError>>()?;
        let din = FEATURE_CHANNELS * 7 * 7;
        let fc = linear(src, din, EMBEDDING_DIM, device)?;
        Ok(Self { blocks, fc })
    }

    /// Runs the network on `[N, 3, 112, 112]` BGR 0–255 crops; returns `[N, 128]`
    /// raw (not normalised) embeddings.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let mut x = (input - INPUT_MEAN) * INPUT_SCALE;
        for (i, block) in self.blocks.iter().enumerate() {
            // The 3-channel stem is faster as im2col + matmul on flex.
            let y = if i == 0 {
                kernels::conv3x3(x, &block.conv, 1)
            } else {
                block.conv.forward(x)
            };
            x = block.act.forward(y);
        }
        let n = x.dims()[0];
        self.fc.forward(x.reshape([n, FEATURE_CHANNELS * 7 * 7]))
    }
}
