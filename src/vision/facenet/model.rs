//! FaceNet: InceptionResnetV1 (Szegedy et al. 2016, as in davidsandberg/
//! facenet), 160×160 RGB → 512-D, as a burn module. Stem; 5 × Block35
//! (scale 0.17); Mixed_6a; 10 × Block17 (0.10); Mixed_7a; 5 × Block8 (0.20)
//! and a last Block8 (1.0, no ReLU); global average pool; a 1792 → 512
//! bottleneck with its batch norm folded in. Batch norms after the
//! convolutions come folded in the frozen graph; every convolution has a
//! ReLU except each block's 1×1 up-projection.

use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::vision::ModelError;
use crate::vision::layers::{LayerSource, conv, linear};
use crate::vision::weights::ConvSpec;

/// Input side.
pub const INPUT_SIZE: usize = 160;
/// Output size.
pub const EMBEDDING_DIM: usize = 512;
/// Channels into the bottleneck.
pub const FEATURE_CHANNELS: usize = 1792;

/// Residual scales of the three block kinds (and the last Block8's).
pub const SCALES: [f32; 4] = [0.17, 0.10, 0.20, 1.0];

/// A residual Inception block: branches of convolutions (ReLU after each),
/// concatenated, projected back by a 1×1 convolution, scaled and added.
#[derive(Module, Debug)]
pub struct Block {
    branches: Vec<Vec<Conv2d>>,
    up: Conv2d,
    scale: f32,
    relu: bool,
}

impl Block {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let parts = self.branches.iter().map(|b| chain(b, x.clone())).collect();
        let y = x + self
            .up
            .forward(Tensor::cat(parts, 1))
            .mul_scalar(self.scale);
        if self.relu { relu(y) } else { y }
    }
}

/// A reduction block: branches (the last one a 3×3 stride-2 max pool).
#[derive(Module, Debug)]
pub struct Reduction {
    branches: Vec<Vec<Conv2d>>,
    pool: MaxPool2d,
}

impl Reduction {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut parts: Vec<Tensor<4>> = self.branches.iter().map(|b| chain(b, x.clone())).collect();
        parts.push(self.pool.forward(x));
        Tensor::cat(parts, 1)
    }
}

fn chain(convs: &[Conv2d], x: Tensor<4>) -> Tensor<4> {
    convs.iter().fold(x, |x, c| relu(c.forward(x)))
}

/// The embedding network.
#[derive(Module, Debug)]
pub struct FaceNet {
    stem: Vec<Conv2d>,
    pool: MaxPool2d,
    blocks35: Vec<Block>,
    mixed_6a: Reduction,
    blocks17: Vec<Block>,
    mixed_7a: Reduction,
    blocks8: Vec<Block>,
    bottleneck: Linear,
}

/// A convolution as the graph has it: (in, out, kernel h×w, stride, padding
/// h, w).
type Layer = (usize, usize, [usize; 2], usize, [usize; 2]);

const fn c(cin: usize, cout: usize, k: usize, stride: usize, pad: usize) -> Layer {
    (cin, cout, [k, k], stride, [pad, pad])
}

const STEM: [Layer; 6] = [
    c(3, 32, 3, 2, 0),
    c(32, 32, 3, 1, 0),
    c(32, 64, 3, 1, 1),
    c(64, 80, 1, 1, 0),
    c(80, 192, 3, 1, 0),
    c(192, 256, 3, 2, 0),
];
/// Stem convolutions before the max pool.
const STEM_BEFORE_POOL: usize = 3;

/// Branches of each block kind, then the up-projection's (in, out).
const BLOCK35: (&[&[Layer]], (usize, usize)) = (
    &[
        &[c(256, 32, 1, 1, 0)],
        &[c(256, 32, 1, 1, 0), c(32, 32, 3, 1, 1)],
        &[c(256, 32, 1, 1, 0), c(32, 32, 3, 1, 1), c(32, 32, 3, 1, 1)],
    ],
    (96, 256),
);
const BLOCK17: (&[&[Layer]], (usize, usize)) = (
    &[
        &[c(896, 128, 1, 1, 0)],
        &[
            c(896, 128, 1, 1, 0),
            (128, 128, [1, 7], 1, [0, 3]),
            (128, 128, [7, 1], 1, [3, 0]),
        ],
    ],
    (256, 896),
);
const BLOCK8: (&[&[Layer]], (usize, usize)) = (
    &[
        &[c(1792, 192, 1, 1, 0)],
        &[
            c(1792, 192, 1, 1, 0),
            (192, 192, [1, 3], 1, [0, 1]),
            (192, 192, [3, 1], 1, [1, 0]),
        ],
    ],
    (384, 1792),
);
const MIXED_6A: &[&[Layer]] = &[
    &[c(256, 384, 3, 2, 0)],
    &[
        c(256, 192, 1, 1, 0),
        c(192, 192, 3, 1, 1),
        c(192, 256, 3, 2, 0),
    ],
];
const MIXED_7A: &[&[Layer]] = &[
    &[c(896, 256, 1, 1, 0), c(256, 384, 3, 2, 0)],
    &[c(896, 256, 1, 1, 0), c(256, 256, 3, 2, 0)],
    &[
        c(896, 256, 1, 1, 0),
        c(256, 256, 3, 1, 1),
        c(256, 256, 3, 2, 0),
    ],
];

/// Convolutions and residual scales in graph order, handed out one by one.
struct Cursor<'a> {
    src: &'a mut dyn LayerSource,
    device: &'a Device,
    next: usize,
    blocks: usize,
}

impl Cursor<'_> {
    fn conv(&mut self, (cin, cout, kernel, stride, pad): Layer) -> Result<Conv2d, ModelError> {
        let spec = ConvSpec {
            kernel,
            pad,
            ..ConvSpec::square(cin, cout, 1, stride, 0)
        };
        self.next += 1;
        conv(self.src, self.next - 1, spec, self.device)
    }

    fn branches(&mut self, branches: &[&[Layer]]) -> Result<Vec<Vec<Conv2d>>, ModelError> {
        branches
            .iter()
            .map(|b| b.iter().map(|&l| self.conv(l)).collect())
            .collect()
    }

    fn block(
        &mut self,
        (branches, (cin, cout)): (&[&[Layer]], (usize, usize)),
        scale: f32,
        relu: bool,
    ) -> Result<Block, ModelError> {
        let branches = self.branches(branches)?;
        let up = self.conv(c(cin, cout, 1, 1, 0))?;
        let scale = self.src.scale(self.blocks, scale)?;
        self.blocks += 1;
        Ok(Block {
            branches,
            up,
            scale,
            relu,
        })
    }
}

fn pool() -> MaxPool2d {
    burn::nn::pool::MaxPool2dConfig::new([3, 3])
        .with_strides([2, 2])
        .init()
}

impl FaceNet {
    /// Builds the network with weights from `src`, in graph order.
    pub fn build(src: &mut dyn LayerSource, device: &Device) -> Result<Self, ModelError> {
        let mut at = Cursor {
            src,
            device,
            next: 0,
            blocks: 0,
        };
        let stem = STEM.iter().map(|&l| at.conv(l)).collect::<Result<_, _>>()?;
        let blocks35 = (0..5)
            .map(|_| at.block(BLOCK35, SCALES[0], true))
            .collect::<Result<_, _>>()?;
        let mixed_6a = Reduction {
            branches: at.branches(MIXED_6A)?,
            pool: pool(),
        };
        let blocks17 = (0..10)
            .map(|_| at.block(BLOCK17, SCALES[1], true))
            .collect::<Result<_, _>>()?;
        let mixed_7a = Reduction {
            branches: at.branches(MIXED_7A)?,
            pool: pool(),
        };
        let mut blocks8 = (0..5)
            .map(|_| at.block(BLOCK8, SCALES[2], true))
            .collect::<Result<Vec<_>, _>>()?;
        blocks8.push(at.block(BLOCK8, SCALES[3], false)?);
        let bottleneck = linear(at.src, FEATURE_CHANNELS, EMBEDDING_DIM, device)?;
        Ok(Self {
            stem,
            pool: pool(),
            blocks35,
            mixed_6a,
            blocks17,
            mixed_7a,
            blocks8,
            bottleneck,
        })
    }

    /// The stem's output `[N, 256, 17, 17]` for `[N, 3, 160, 160]` input
    /// (standardised RGB).
    pub fn stem(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = input;
        for (i, conv) in self.stem.iter().enumerate() {
            if i == STEM_BEFORE_POOL {
                x = self.pool.forward(x);
            }
            x = relu(conv.forward(x));
        }
        x
    }

    /// Raw (unnormalised) embeddings `[N, 512]` of `[N, 3, 160, 160]`
    /// standardised RGB crops.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem(input);
        for b in &self.blocks35 {
            x = b.forward(x);
        }
        x = self.mixed_6a.forward(x);
        for b in &self.blocks17 {
            x = b.forward(x);
        }
        x = self.mixed_7a.forward(x);
        for b in &self.blocks8 {
            x = b.forward(x);
        }
        let [n, ch, _, _] = x.dims();
        let pooled = x.mean_dim(3).mean_dim(2).reshape([n, ch]);
        self.bottleneck.forward(pooled)
    }
}
