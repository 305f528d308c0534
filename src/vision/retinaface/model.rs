//! RetinaFace with the MobileNet-0.25 backbone (biubug6/Pytorch_Retinaface,
//! MIT) as a burn module: the backbone's three stages (strides 8, 16, 32), a
//! feature pyramid, one SSH context module per level and three 1×1 heads per
//! level (2 anchors: class logits, box and 5-landmark regressions). Batch
//! norms come folded into the convolutions; every activation is a leaky ReLU
//! of slope 0.1 except the SSH outputs (ReLU after the concatenation).

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu};

use crate::vision::layers::{LayerSource, conv};
use crate::vision::weights::ConvSpec;
use crate::vision::{ModelError, kernels};

/// Slope of every leaky ReLU.
const LEAK: f64 = 0.1;
/// Feature strides of the three levels.
pub const STRIDES: [usize; 3] = [8, 16, 32];
/// Anchors per cell.
pub const ANCHORS: usize = 2;
/// The network subtracts this BGR mean from 0–255 input.
pub const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];

/// Depthwise 3×3 then pointwise 1×1 convolution, each with a leaky ReLU.
#[derive(Module, Debug)]
pub struct DwUnit {
    dw: Conv2d,
    pw: Conv2d,
}

impl DwUnit {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = leaky_relu(self.dw.forward(x), LEAK);
        leaky_relu(self.pw.forward(x), LEAK)
    }
}

/// SSH context module: 3×3, "5×5" (two 3×3) and "7×7" (three 3×3) branches
/// concatenated (half, quarter, quarter of the channels), then ReLU.
#[derive(Module, Debug)]
pub struct Ssh {
    c3: Conv2d,
    c5_1: Conv2d,
    c5_2: Conv2d,
    c7_2: Conv2d,
    c7_3: Conv2d,
}

impl Ssh {
    fn build(src: &mut dyn LayerSource, first: usize, device: &Device) -> Result<Self, ModelError> {
        let mut at = first;
        let mut next = |cin, cout| {
            at += 1;
            conv(src, at - 1, ConvSpec::dense3(cin, cout, 1), device)
        };
        Ok(Self {
            c3: next(64, 32)?,
            c5_1: next(64, 16)?,
            c5_2: next(16, 16)?,
            c7_2: next(16, 16)?,
            c7_3: next(16, 16)?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.c3.forward(x.clone());
        let b1 = leaky_relu(self.c5_1.forward(x), LEAK);
        let b = self.c5_2.forward(b1.clone());
        let c = self.c7_3.forward(leaky_relu(self.c7_2.forward(b1), LEAK));
        relu(Tensor::cat(vec![a, b, c], 1))
    }
}

/// The detector network.
#[derive(Module, Debug)]
pub struct RetinaFace {
    stem: Conv2d,
    backbone: Vec<DwUnit>,
    /// 1×1 lateral convolutions of the pyramid, strides 8, 16, 32.
    lateral: Vec<Conv2d>,
    /// 3×3 merges after the top-down additions: stride 16, then 8.
    merge: Vec<Conv2d>,
    ssh: Vec<Ssh>,
    class: Vec<Conv2d>,
    bbox: Vec<Conv2d>,
    landmark: Vec<Conv2d>,
}

/// Backbone units as (input, output, stride), in graph order.
const BACKBONE: [(usize, usize, usize); 13] = [
    (8, 16, 1),
    (16, 32, 2),
    (32, 32, 1),
    (32, 64, 2),
    (64, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 128, 1),
    (128, 128, 1),
    (128, 128, 1),
    (128, 128, 1),
    (128, 256, 2),
    (256, 256, 1),
];
/// Backbone units whose outputs feed the pyramid (strides 8, 16, 32).
const TAPS: [usize; 3] = [4, 10, 12];

/// Convolutions in the exported graph, in order.
pub(crate) mod order {
    /// The pyramid's 1×1 laterals (strides 8, 16, 32).
    pub const LATERAL: usize = 1 + 2 * super::BACKBONE.len();
    /// The merges (stride 16, then 8).
    pub const MERGE: usize = LATERAL + 3;
    /// The SSH modules, 5 convolutions each.
    pub const SSH: usize = MERGE + 2;
    /// The heads: class ×3, box ×3, landmarks ×3.
    pub const HEADS: usize = SSH + 15;
}

impl RetinaFace {
    /// Builds the network with weights from `src` (see [`order`]).
    pub fn build(src: &mut dyn LayerSource, device: &Device) -> Result<Self, ModelError> {
        let stem = conv(src, 0, ConvSpec::dense3(3, 8, 2), device)?;
        let backbone = BACKBONE
            .iter()
            .enumerate()
            .map(|(i, &(cin, cout, stride))| {
                Ok(DwUnit {
                    dw: conv(src, 1 + 2 * i, ConvSpec::depthwise(cin, stride), device)?,
                    pw: conv(src, 2 + 2 * i, ConvSpec::pointwise(cin, cout), device)?,
                })
            })
            .collect::<Result<_, ModelError>>()?;
        let lateral = [64, 128, 256]
            .iter()
            .enumerate()
            .map(|(i, &cin)| {
                conv(
                    src,
                    order::LATERAL + i,
                    ConvSpec::pointwise(cin, 64),
                    device,
                )
            })
            .collect::<Result<_, _>>()?;
        let merge = (0..2)
            .map(|i| conv(src, order::MERGE + i, ConvSpec::dense3(64, 64, 1), device))
            .collect::<Result<_, _>>()?;
        let ssh = (0..3)
            .map(|i| Ssh::build(src, order::SSH + 5 * i, device))
            .collect::<Result<_, _>>()?;
        let mut head = |kind: usize, per_anchor: usize| {
            (0..3)
                .map(|l| {
                    let spec = ConvSpec::pointwise(64, ANCHORS * per_anchor);
                    conv(src, order::HEADS + 3 * kind + l, spec, device)
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            stem,
            backbone,
            lateral,
            merge,
            ssh,
            class: head(0, 2)?,
            bbox: head(1, 4)?,
            landmark: head(2, 10)?,
        })
    }

    /// Runs the network on `[1, 3, H, W]` BGR 0–255 input (H, W multiples
    /// of 32; the mean is subtracted here).
    ///
    /// Returns per stride in [`STRIDES`] the head maps `[class, box,
    /// landmarks]`: `[1, 2·k, H/s, W/s]` with channel `a·k + j` for anchor `a`
    /// (k = 2 class logits, 4 box, 10 landmark regressions).
    pub fn forward(&self, input: Tensor<4>) -> Vec<[Tensor<4>; 3]> {
        let device = input.device();
        let mean = Tensor::<1>::from_floats(MEAN_BGR, &device).reshape([1, 3, 1, 1]);
        let mut x = leaky_relu(kernels::conv3x3(input - mean, &self.stem, 2), LEAK);
        let mut taps = Vec::new();
        for (i, unit) in self.backbone.iter().enumerate() {
            x = unit.forward(x);
            if TAPS.contains(&i) {
                taps.push(x.clone());
            }
        }
        let lat: Vec<Tensor<4>> = taps
            .into_iter()
            .zip(&self.lateral)
            .map(|(t, c)| leaky_relu(c.forward(t), LEAK))
            .collect();
        let p5 = lat[2].clone();
        let p4 = leaky_relu(
            self.merge[0].forward(lat[1].clone() + kernels::upsample2(p5.clone())),
            LEAK,
        );
        let p3 = leaky_relu(
            self.merge[1].forward(lat[0].clone() + kernels::upsample2(p4.clone())),
            LEAK,
        );
        [p3, p4, p5]
            .into_iter()
            .enumerate()
            .map(|(l, p)| {
                let f = self.ssh[l].forward(p);
                [
                    self.class[l].forward(f.clone()),
                    self.bbox[l].forward(f.clone()),
                    self.landmark[l].forward(f),
                ]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graph_order_covers_its_56_convolutions() {
        // biubug6's export: stem, 13 separable units, 3 laterals, 2 merges,
        // 3 SSH of 5, 9 heads.
        assert_eq!(order::HEADS + 9, 56);
        assert_eq!(TAPS.map(|i| BACKBONE[i].1), [64, 128, 256]);
        let stride: usize = 2 * BACKBONE.iter().map(|u| u.2).product::<usize>();
        assert_eq!(stride, 32);
    }
}
