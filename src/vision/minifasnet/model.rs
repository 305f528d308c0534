//! MiniFASNet (minivision-ai Silent-Face-Anti-Spoofing, `MiniFASNet.py`) as a
//! burn module: an 80×80 BGR crop → 3 logits (class 1 = a live face).
//!
//! A 3×3/2 stem, a depthwise 3×3, then separable units (1×1 expand + PReLU,
//! depthwise 3×3 + PReLU, 1×1 project) in six stages — three down-sampling
//! units and three residual stages of 4, 6 and 2 units — a 1×1 to 512
//! channels, a 5×5 depthwise over the whole 5×5 map, and a dense head. The
//! SE variant (V1SE) adds a squeeze-and-excitation gate to the last unit of
//! each residual stage. Every convolution's batch norm is folded into it and
//! the head's three layers (512 → 128, batch norm, 128 → 3, no activation
//! between) into one 512 → 3 dense layer, exact up to float rounding.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PRelu};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use crate::vision::ModelError;
use crate::vision::layers::{LayerSource, conv, linear};
use crate::vision::weights::ConvSpec;

/// Side of the square input crop.
pub const INPUT_SIZE: usize = 80;
/// Output classes: 0 and 2 are attacks, 1 is a live face.
pub const CLASSES: usize = 3;
/// The class of a live face.
pub const LIVE_CLASS: usize = 1;
/// Channels before the dense head.
pub const FEATURE_CHANNELS: usize = 512;
/// Side of the last depthwise kernel: upstream's `get_kernel(80, 80)`.
const LAST_KERNEL: usize = INPUT_SIZE.div_ceil(16);

/// Which of upstream's two released networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `MiniFASNetV2` (`keep_dict['1.8M_']`), trained on crops of the face
    /// box scaled 2.7×.
    V2,
    /// `MiniFASNetV1SE` (`keep_dict['1.8M']` + SE gates), crops scaled 4×.
    V1Se,
}

impl Variant {
    /// Both, in the order their scores are summed.
    pub const ALL: [Variant; 2] = [Variant::V2, Variant::V1Se];

    /// File stem of its export and records.
    pub fn stem(self) -> &'static str {
        match self {
            Variant::V2 => "minifasnet_v2",
            Variant::V1Se => "minifasnet_v1se",
        }
    }

    /// How much the face box is enlarged for its crop (f64: upstream's
    /// Python floats, so boxes on a pixel boundary round as upstream's do).
    pub fn crop_scale(self) -> f64 {
        match self {
            Variant::V2 => 2.7,
            Variant::V1Se => 4.0,
        }
    }

    /// Upstream's channel widths (`keep_dict`).
    fn keep(self) -> [usize; 49] {
        match self {
            Variant::V1Se => [
                32, 32, 103, 103, 64, 13, 13, 64, 26, 26, 64, 13, 13, 64, 52, 52, 64, 231, 231,
                128, 154, 154, 128, 52, 52, 128, 26, 26, 128, 52, 52, 128, 26, 26, 128, 26, 26,
                128, 308, 308, 128, 26, 26, 128, 26, 26, 128, 512, 512,
            ],
            Variant::V2 => [
                32, 32, 103, 103, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 231, 231,
                128, 231, 231, 128, 52, 52, 128, 26, 26, 128, 77, 77, 128, 26, 26, 128, 26, 26,
                128, 308, 308, 128, 26, 26, 128, 26, 26, 128, 512, 512,
            ],
        }
    }

    fn has_se(self) -> bool {
        self == Variant::V1Se
    }
}

/// The stages after the stem: (module name, first index into `keep`,
/// units, depthwise stride). Stride-1 stages are upstream's `Residual`
/// (`name.model.i`), the others a single `Depth_Wise`.
const STAGES: [(&str, usize, usize, usize); 6] = [
    ("conv_23", 1, 1, 2),
    ("conv_3", 4, 4, 1),
    ("conv_34", 16, 1, 2),
    ("conv_4", 19, 6, 1),
    ("conv_45", 37, 1, 2),
    ("conv_5", 40, 2, 1),
];

/// The SE gate's channel reduction (upstream's `se_reduct`).
const SE_REDUCTION: usize = 4;

/// What follows a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// PReLU (upstream's `Conv_block`).
    Prelu,
    /// Nothing (`Linear_block`, and the SE gate's convolutions, whose ReLU
    /// and sigmoid have no weights).
    Nothing,
}

/// One convolution of the network and the names of its weights in
/// upstream's state_dict.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Shape.
    pub spec: ConvSpec,
    /// Name of the convolution's weight, without `.weight`.
    pub conv: String,
    /// Name of the batch norm after it.
    pub bn: String,
    /// Name of the PReLU, if one follows.
    pub prelu: Option<String>,
}

impl Layer {
    /// A `Conv_block` / `Linear_block` named `name`.
    fn block(name: String, spec: ConvSpec, after: After) -> Self {
        Self {
            spec,
            conv: format!("{name}.conv"),
            bn: format!("{name}.bn"),
            prelu: (after == After::Prelu).then(|| format!("{name}.prelu")),
        }
    }
}

/// Every convolution of `variant`, in the order [`MiniFasNet::build`] takes
/// them (what the loader reads the file by).
pub fn layers(variant: Variant) -> Vec<Layer> {
    let k = variant.keep();
    let mut out = vec![
        Layer::block("conv1".into(), ConvSpec::dense3(3, k[0], 2), After::Prelu),
        Layer::block(
            "conv2_dw".into(),
            ConvSpec::depthwise(k[1], 1),
            After::Prelu,
        ),
    ];
    for (stage, base, units, stride) in STAGES {
        for u in 0..units {
            let name = if units == 1 {
                stage.to_string()
            } else {
                format!("{stage}.model.{u}")
            };
            let b = base + 3 * u;
            let (cin, mid, cout) = (k[b], k[b + 1], k[b + 3]);
            out.push(Layer::block(
                format!("{name}.conv"),
                ConvSpec::pointwise(cin, mid),
                After::Prelu,
            ));
            out.push(Layer::block(
                format!("{name}.conv_dw"),
                ConvSpec::depthwise(mid, stride),
                After::Prelu,
            ));
            out.push(Layer::block(
                format!("{name}.project"),
                ConvSpec::pointwise(mid, cout),
                After::Nothing,
            ));
            if variant.has_se() && units > 1 && u == units - 1 {
                let se = format!("{name}.se_module");
                let squeezed = cout / SE_REDUCTION;
                for (i, spec) in [
                    ConvSpec::pointwise(cout, squeezed),
                    ConvSpec::pointwise(squeezed, cout),
                ]
                .into_iter()
                .enumerate()
                {
                    out.push(Layer {
                        spec,
                        conv: format!("{se}.fc{}", i + 1),
                        bn: format!("{se}.bn{}", i + 1),
                        prelu: None,
                    });
                }
            }
        }
    }
    out.push(Layer::block(
        "conv_6_sep".into(),
        ConvSpec::pointwise(k[46], k[47]),
        After::Prelu,
    ));
    out.push(Layer::block(
        "conv_6_dw".into(),
        ConvSpec {
            groups: k[48],
            ..ConvSpec::square(k[47], k[48], LAST_KERNEL, 1, 0)
        },
        After::Nothing,
    ));
    out
}

/// A convolution and its PReLU, if any.
#[derive(Module, Debug)]
pub struct Block {
    conv: Conv2d,
    act: Option<PRelu>,
}

impl Block {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.conv.forward(x);
        match &self.act {
            Some(act) => act.forward(y),
            None => y,
        }
    }
}

/// Squeeze-and-excitation: `x · sigmoid(fc2(relu(fc1(mean(x)))))`.
#[derive(Module, Debug)]
pub struct Gate {
    fc1: Conv2d,
    fc2: Conv2d,
}

/// A separable unit; residual when its output has its input's shape.
#[derive(Module, Debug)]
pub struct Unit {
    expand: Block,
    depthwise: Block,
    project: Block,
    gate: Option<Gate>,
}

impl Unit {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = self
            .project
            .forward(self.depthwise.forward(self.expand.forward(x.clone())));
        if let Some(g) = &self.gate {
            let s = y.clone().mean_dim(3).mean_dim(2);
            let s = sigmoid(g.fc2.forward(relu(g.fc1.forward(s))));
            y = y * s;
        }
        if y.dims() == x.dims() { x + y } else { y }
    }
}

/// The liveness network.
#[derive(Module, Debug)]
pub struct MiniFasNet {
    stem: Block,
    stem_dw: Block,
    units: Vec<Unit>,
    sep: Block,
    last_dw: Block,
    head: Linear,
}

impl MiniFasNet {
    /// Builds `variant` with weights from `src`, convolutions in the order of
    /// [`layers`].
    pub fn build(
        variant: Variant,
        src: &mut dyn LayerSource,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let plan = layers(variant);
        let mut next = 0;
        let mut take = |src: &mut dyn LayerSource| -> Result<Block, ModelError> {
            let layer = plan.get(next).ok_or_else(|| {
                ModelError::Mismatch(format!("MiniFASNet has only {next} convolutions"))
            })?;
            let act = match layer.prelu {
                Some(_) => Some(prelu(src.prelu(next, layer.spec.cout)?, device)),
                None => None,
            };
            let conv = conv(src, next, layer.spec, device)?;
            next += 1;
            Ok(Block { conv, act })
        };
        let stem = take(src)?;
        let stem_dw = take(src)?;
        let mut units = Vec::new();
        for (_, _, n, _) in STAGES {
            for u in 0..n {
                let (expand, depthwise, project) = (take(src)?, take(src)?, take(src)?);
                let gate = if variant.has_se() && n > 1 && u == n - 1 {
                    Some(Gate {
                        fc1: take(src)?.conv,
                        fc2: take(src)?.conv,
                    })
                } else {
                    None
                };
                units.push(Unit {
                    expand,
                    depthwise,
                    project,
                    gate,
                });
            }
        }
        let sep = take(src)?;
        let last_dw = take(src)?;
        let head = linear(src, FEATURE_CHANNELS, CLASSES, device)?;
        Ok(Self {
            stem,
            stem_dw,
            units,
            sep,
            last_dw,
            head,
        })
    }

    /// Logits `[N, 3]` of `[N, 3, 80, 80]` BGR crops with values 0–255 (no
    /// normalisation: upstream's `ToTensor` does not divide by 255).
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem_dw.forward(self.stem.forward(input));
        for unit in &self.units {
            x = unit.forward(x);
        }
        let x = self.last_dw.forward(self.sep.forward(x));
        let n = x.dims()[0];
        self.head.forward(x.reshape([n, FEATURE_CHANNELS]))
    }
}

fn prelu(slopes: Vec<f32>, device: &Device) -> PRelu {
    let n = slopes.len();
    PRelu {
        alpha: Param::from_tensor(Tensor::from_data(TensorData::new(slopes, [n]), device)),
        alpha_value: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_have_upstreams_layer_counts_and_shapes() {
        // 2 stem + 3 × (1 + 4 + 1 + 6 + 1 + 2) units + 2 head convolutions,
        // and V1SE's three gates of two.
        assert_eq!(layers(Variant::V2).len(), 2 + 3 * 15 + 2);
        assert_eq!(layers(Variant::V1Se).len(), 2 + 3 * 15 + 2 + 6);
        for v in Variant::ALL {
            let plan = layers(v);
            // Every convolution takes the channels the one before gives.
            for w in plan.windows(2) {
                assert_eq!(
                    w[1].spec.cin, w[0].spec.cout,
                    "{} after {}",
                    w[1].conv, w[0].conv
                );
            }
            let last = plan.last().map(|l| l.spec);
            assert_eq!(last.map(|s| (s.kernel, s.groups)), Some(([5, 5], 512)));
        }
        let se: Vec<_> = layers(Variant::V1Se)
            .into_iter()
            .filter(|l| l.conv.contains("se_module"))
            .map(|l| l.conv)
            .collect();
        assert_eq!(se[0], "conv_3.model.3.se_module.fc1");
        assert_eq!(se[5], "conv_5.model.1.se_module.fc2");
    }
}
