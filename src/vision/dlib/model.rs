//! dlib's face descriptor network (`dlib_face_recognition_resnet_model_v1`,
//! `dnn_face_recognition_ex.cpp`'s `anet_type`), 150×150 RGB → 128-D, as a
//! burn module: a 7×7/2 convolution and a 3×3/2 max pool, 14 residual
//! blocks of two 3×3 convolutions (29 convolutions in all, each with its
//! affine layer folded in), a global average pool and a 256 → 128 dense
//! layer without bias.
//!
//! dlib's defaults shape it: a strided convolution or pool has no padding,
//! and a down-sampling block's shortcut is a 2×2/2 average pool whose output
//! may be larger than the block's (4×4 against 3×3 at 8×8 input) and has
//! fewer channels: `add_prev` sums the two as if each were zero beyond its
//! own extent.

use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::ops::PadMode;

use crate::vision::ModelError;
use crate::vision::layers::{LayerSource, conv, linear};
use crate::vision::weights::ConvSpec;

/// Input side.
pub const INPUT_SIZE: usize = 150;
/// Output size.
pub const EMBEDDING_DIM: usize = 128;
/// dlib's input means (R, G, B), subtracted before dividing by 256.
pub const MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];

/// The residual stages: (channels, blocks); every stage but the first starts
/// with a down-sampling block.
const STAGES: [(usize, usize); 5] = [(32, 3), (64, 4), (128, 3), (256, 3), (256, 1)];

/// A residual block: `relu(b(relu(a(x))) + shortcut(x))`.
#[derive(Module, Debug)]
pub struct Residual {
    a: Conv2d,
    b: Conv2d,
    shortcut: Option<AvgPool2d>,
}

impl Residual {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.b.forward(relu(self.a.forward(x.clone())));
        let s = match &self.shortcut {
            Some(pool) => pool.forward(x),
            None => x,
        };
        relu(add_zero_padded(y, s))
    }
}

/// dlib's `add_prev` of tensors of different sizes: the sum over the larger
/// extent in every dimension, each tensor zero outside its own.
fn add_zero_padded(a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    let (da, db) = (a.dims(), b.dims());
    if da == db {
        return a + b;
    }
    let grow = |t: Tensor<4>, d: [usize; 4]| {
        let pad = [
            (0, da[1].max(db[1]) - d[1]),
            (0, da[2].max(db[2]) - d[2]),
            (0, da[3].max(db[3]) - d[3]),
        ];
        t.pad(pad, PadMode::Constant(0.0))
    };
    grow(a, da) + grow(b, db)
}

/// The descriptor network.
#[derive(Module, Debug)]
pub struct DlibResNet {
    stem: Conv2d,
    pool: MaxPool2d,
    blocks: Vec<Residual>,
    fc: Linear,
}

/// The layer kinds of the network as dlib serialises it, input first (what
/// the loader checks the file against).
pub fn layer_kinds() -> Vec<&'static str> {
    let mut kinds = vec!["input", "con", "affine", "relu", "max_pool"];
    for (stage, &(_, blocks)) in STAGES.iter().enumerate() {
        for block in 0..blocks {
            kinds.extend(["con", "affine", "relu", "con", "affine"]);
            if stage > 0 && block == 0 {
                kinds.push("avg_pool");
            }
            kinds.extend(["add_prev", "relu"]);
        }
    }
    kinds.extend(["avg_pool", "fc"]);
    kinds
}

impl DlibResNet {
    /// Builds the network with weights from `src`, convolutions in order.
    pub fn build(src: &mut dyn LayerSource, device: &Device) -> Result<Self, ModelError> {
        let mut next = 0;
        let mut take = |src: &mut dyn LayerSource, spec: ConvSpec| {
            next += 1;
            conv(src, next - 1, spec, device)
        };
        let stem = take(src, ConvSpec::square(3, 32, 7, 2, 0))?;
        let mut blocks = Vec::new();
        let mut cin = 32;
        for (stage, &(ch, n)) in STAGES.iter().enumerate() {
            for block in 0..n {
                let down = stage > 0 && block == 0;
                let a = if down {
                    ConvSpec::square(cin, ch, 3, 2, 0)
                } else {
                    ConvSpec::dense3(cin, ch, 1)
                };
                blocks.push(Residual {
                    a: take(src, a)?,
                    b: take(src, ConvSpec::dense3(ch, ch, 1))?,
                    shortcut: down
                        .then(|| AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init()),
                });
                cin = ch;
            }
        }
        let fc = linear(src, cin, EMBEDDING_DIM, device)?;
        Ok(Self {
            stem,
            pool: MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init(),
            blocks,
            fc,
        })
    }

    /// Descriptors `[N, 128]` of `[N, 3, 150, 150]` inputs already
    /// normalised as dlib does (`(rgb − mean) / 256`).
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let mut x = self.pool.forward(relu(self.stem.forward(input)));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let [n, ch, _, _] = x.dims();
        self.fc.forward(x.mean_dim(3).mean_dim(2).reshape([n, ch]))
    }
}
