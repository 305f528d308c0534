//! MTCNN's three networks (Zhang et al. 2016, facenet-pytorch 2.6.0's
//! weights, MIT) as burn modules: P-Net (fully convolutional, any size ≥ 12),
//! R-Net (24×24) and O-Net (48×48). Convolutions have no padding and each is
//! followed by a per-channel PReLU; max pools are stride 2 with `ceil_mode`.
//! The dense layers take their input flattened in (W, H, C) order, as
//! facenet-pytorch's `permute(0, 3, 2, 1)` does (the weights were trained on
//! transposed images; the convolutions were converted, the dense layers not).

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PRelu};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

use crate::vision::ModelError;
use crate::vision::layers::{LayerSource, conv, linear};
use crate::vision::weights::ConvSpec;

/// One convolution + PReLU of a trunk, with the max pool after it (if any).
#[derive(Debug, Clone, Copy)]
pub struct TrunkLayer {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel size.
    pub k: usize,
    /// Max-pool kernel after the PReLU (stride 2, ceil mode); 0 for none.
    pub pool: usize,
}

const fn layer(cin: usize, cout: usize, k: usize, pool: usize) -> TrunkLayer {
    TrunkLayer { cin, cout, k, pool }
}

/// P-Net's trunk (`conv1`‥`conv3`).
pub const PNET_TRUNK: [TrunkLayer; 3] =
    [layer(3, 10, 3, 2), layer(10, 16, 3, 0), layer(16, 32, 3, 0)];
/// R-Net's trunk (`conv1`‥`conv3`): 24 → 22 → 11 → 9 → 4 → 3.
pub const RNET_TRUNK: [TrunkLayer; 3] =
    [layer(3, 28, 3, 3), layer(28, 48, 3, 3), layer(48, 64, 2, 0)];
/// O-Net's trunk (`conv1`‥`conv4`): 48 → 46 → 23 → 21 → 10 → 8 → 4 → 3.
pub const ONET_TRUNK: [TrunkLayer; 4] = [
    layer(3, 32, 3, 3),
    layer(32, 64, 3, 3),
    layer(64, 64, 3, 2),
    layer(64, 128, 2, 0),
];
/// R-Net's dense layer width and head outputs (prob, box regression).
pub const RNET_DENSE: (usize, &[usize]) = (128, &[2, 4]);
/// O-Net's dense layer width and head outputs (prob, box, landmarks).
pub const ONET_DENSE: (usize, &[usize]) = (256, &[2, 4, 10]);
/// Side of R-Net's input.
pub const RNET_SIZE: usize = 24;
/// Side of O-Net's input.
pub const ONET_SIZE: usize = 48;

/// Convolution + PReLU.
#[derive(Module, Debug)]
pub struct Stage {
    conv: Conv2d,
    act: PRelu,
}

fn prelu(
    src: &mut dyn LayerSource,
    index: usize,
    channels: usize,
    device: &Device,
) -> Result<PRelu, ModelError> {
    let slopes = src.prelu(index, channels)?;
    Ok(PRelu {
        alpha: Param::from_tensor(Tensor::from_data(
            TensorData::new(slopes, [channels]),
            device,
        )),
        alpha_value: 0.0,
    })
}

/// An unpadded stride-1 convolution.
pub const fn plain(cin: usize, cout: usize, k: usize) -> ConvSpec {
    ConvSpec::square(cin, cout, k, 1, 0)
}

fn build_trunk(
    src: &mut dyn LayerSource,
    layers: &[TrunkLayer],
    device: &Device,
) -> Result<Vec<Stage>, ModelError> {
    layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(Stage {
                conv: conv(src, i, plain(l.cin, l.cout, l.k), device)?,
                act: prelu(src, i, l.cout, device)?,
            })
        })
        .collect()
}

fn run_trunk(stages: &[Stage], layers: &[TrunkLayer], mut x: Tensor<4>) -> Tensor<4> {
    for (s, l) in stages.iter().zip(layers) {
        x = s.act.forward(s.conv.forward(x));
        if l.pool > 0 {
            let options = MaxPoolOptions::new([l.pool, l.pool])
                .with_stride([2, 2])
                .with_ceil_mode(true);
            x = max_pool2d(x, options);
        }
    }
    x
}

/// The proposal network.
#[derive(Module, Debug)]
pub struct PNet {
    trunk: Vec<Stage>,
    /// `conv4_1`: face / not-face logits.
    prob: Conv2d,
    /// `conv4_2`: box regression.
    reg: Conv2d,
}

impl PNet {
    /// Builds P-Net: convolutions 0‥2 are the trunk, 3 and 4 the heads.
    pub fn build(src: &mut dyn LayerSource, device: &Device) -> Result<Self, ModelError> {
        let trunk = build_trunk(src, &PNET_TRUNK, device)?;
        let n = PNET_TRUNK.len();
        Ok(Self {
            trunk,
            prob: conv(src, n, plain(32, 2, 1), device)?,
            reg: conv(src, n + 1, plain(32, 4, 1), device)?,
        })
    }

    /// `[N, 3, H, W]` normalised RGB → `(reg [N, 4, H', W'], prob [N, 2, H',
    /// W'])`, prob softmaxed over the channels; H' = ⌈(H − 2)/2⌉ − 4.
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let x = run_trunk(&self.trunk, &PNET_TRUNK, x);
        (
            self.reg.forward(x.clone()),
            softmax(self.prob.forward(x), 1),
        )
    }
}

/// R-Net or O-Net: a trunk to a 3×3 map, a dense layer + PReLU, dense heads.
#[derive(Module, Debug)]
pub struct Refine {
    trunk: Vec<Stage>,
    dense: Linear,
    act: PRelu,
    /// Face / not-face logits, box regression, (O-Net) landmarks.
    heads: Vec<Linear>,
}

impl Refine {
    /// Builds a refinement net: the trunk, then `dense` (its PReLU is PReLU
    /// `trunk.len()`), then the heads, dense layers in that order.
    pub fn build(
        src: &mut dyn LayerSource,
        trunk_layers: &[TrunkLayer],
        (width, heads): (usize, &[usize]),
        device: &Device,
    ) -> Result<Self, ModelError> {
        let trunk = build_trunk(src, trunk_layers, device)?;
        let last = trunk_layers.last().map_or(0, |l| l.cout);
        let dense = linear(src, last * 9, width, device)?;
        let act = prelu(src, trunk_layers.len(), width, device)?;
        let heads = heads
            .iter()
            .map(|&dout| linear(src, width, dout, device))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            trunk,
            dense,
            act,
            heads,
        })
    }

    /// `[N, 3, S, S]` normalised RGB → per head `[N, k]`: prob (softmaxed),
    /// box regression, (O-Net) landmarks `x0‥x4, y0‥y4`.
    pub fn forward(&self, x: Tensor<4>, layers: &[TrunkLayer]) -> Vec<Tensor<2>> {
        // `layers` gives the pools (the same table `build` took).
        let x = run_trunk(&self.trunk, layers, x);
        let [n, c, h, w] = x.dims();
        // (W, H, C) flatten order, as facenet-pytorch's permute(0, 3, 2, 1).
        let x = x.permute([0, 3, 2, 1]).reshape([n, c * h * w]);
        let x = self.act.forward(self.dense.forward(x));
        self.heads
            .iter()
            .enumerate()
            .map(|(i, head)| {
                let y = head.forward(x.clone());
                if i == 0 { softmax(y, 1) } else { y }
            })
            .collect()
    }
}

/// The three networks, saved as one record (`mtcnn`).
#[derive(Module, Debug)]
pub struct Mtcnn {
    /// Proposal network.
    pub pnet: PNet,
    /// Refinement network (24×24).
    pub rnet: Refine,
    /// Output network (48×48).
    pub onet: Refine,
}

impl Mtcnn {
    /// Builds the three nets, each from its own source.
    pub fn build(
        pnet: &mut dyn LayerSource,
        rnet: &mut dyn LayerSource,
        onet: &mut dyn LayerSource,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            pnet: PNet::build(pnet, device)?,
            rnet: Refine::build(rnet, &RNET_TRUNK, RNET_DENSE, device)?,
            onet: Refine::build(onet, &ONET_TRUNK, ONET_DENSE, device)?,
        })
    }

    /// P-Net: see [`PNet::forward`].
    pub fn propose(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        self.pnet.forward(x)
    }

    /// R-Net on `[N, 3, 24, 24]`: `[prob, reg]`.
    pub fn refine(&self, x: Tensor<4>) -> Vec<Tensor<2>> {
        self.rnet.forward(x, &RNET_TRUNK)
    }

    /// O-Net on `[N, 3, 48, 48]`: `[prob, reg, landmarks]`.
    pub fn output(&self, x: Tensor<4>) -> Vec<Tensor<2>> {
        self.onet.forward(x, &ONET_TRUNK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::layers::Skeleton;

    #[test]
    fn output_sizes_follow_the_notes() {
        let device = Device::default();
        let m = Mtcnn::build(&mut Skeleton, &mut Skeleton, &mut Skeleton, &device).unwrap();
        let (reg, prob) = m.propose(Tensor::zeros([1, 3, 37, 53], &device));
        // H' = ⌈(H − 2)/2⌉ − 4: 37 → 14, 53 → 22.
        assert_eq!(reg.dims(), [1, 4, 14, 22]);
        assert_eq!(prob.dims(), [1, 2, 14, 22]);
        let r = m.refine(Tensor::zeros([2, 3, 24, 24], &device));
        assert_eq!(
            r.iter().map(|t| t.dims()).collect::<Vec<_>>(),
            [[2, 2], [2, 4]]
        );
        let o = m.output(Tensor::zeros([1, 3, 48, 48], &device));
        assert_eq!(
            o.iter().map(|t| t.dims()).collect::<Vec<_>>(),
            [[1, 2], [1, 4], [1, 10]]
        );
    }
}
