//! Import of dlib's `dlib_face_recognition_resnet_model_v1.dat`: the
//! serialised `loss_metric<fc_no_bias<128, avg_pool_everything<…>>>` network
//! read layer by layer ([`parse`]) and handed to the model builder with each
//! convolution's affine layer (dlib's batch norm in inference form) folded in.
//!
//! dlib writes a network from the loss inwards: the loss details, then one
//! version number per wrapper (2 for a layer, 1 for a tag or skip; dlib's
//! older layer version 1 is not read) down to the
//! input, then every layer's details from the input outwards, each followed
//! by its training state (flags, cached tensors), which is read and dropped.

use crate::vision::ModelError;
use crate::vision::layers::LayerSource;
use crate::vision::weights::{ConvSpec, ConvWeights};

use super::dat::{DatError, Reader};

/// One layer of a dlib network, input first.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// `input_rgb_image_sized`: the per-channel means (R, G, B) and the size.
    Input {
        /// Subtracted before dividing by 256.
        mean: [f32; 3],
        /// Rows and columns.
        size: [usize; 2],
    },
    /// `con_`: OIHW filters, optional bias.
    Conv {
        /// Filter shape `[out, in, kh, kw]`.
        shape: [usize; 4],
        /// Stride (y, x).
        stride: [usize; 2],
        /// Zero padding (y, x).
        pad: [usize; 2],
        /// Filters, OIHW.
        weight: Vec<f32>,
        /// One per filter, if the layer has them.
        bias: Option<Vec<f32>>,
    },
    /// `affine_`: `γ·x + β` per channel.
    Affine {
        /// Scales.
        gamma: Vec<f32>,
        /// Shifts.
        beta: Vec<f32>,
    },
    /// `relu_`.
    Relu,
    /// `max_pool_` (window, stride, padding; window 0 = everything).
    MaxPool([usize; 6]),
    /// `avg_pool_` (as [`Layer::MaxPool`]).
    AvgPool([usize; 6]),
    /// `add_prev_`: adds a tagged earlier output.
    AddPrev,
    /// `fc_`: `[in, out]` weights, optional bias.
    Fc {
        /// Inputs and outputs.
        dims: [usize; 2],
        /// Row-major `[in, out]`.
        weight: Vec<f32>,
        /// One per output, if the layer has them.
        bias: Option<Vec<f32>>,
    },
}

impl Layer {
    /// A short name, for checking a network's layer sequence.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Input { .. } => "input",
            Layer::Conv { .. } => "con",
            Layer::Affine { .. } => "affine",
            Layer::Relu => "relu",
            Layer::MaxPool(_) => "max_pool",
            Layer::AvgPool(_) => "avg_pool",
            Layer::AddPrev => "add_prev",
            Layer::Fc { .. } => "fc",
        }
    }
}

/// A parsed network: layers input first, and the metric loss's parameters.
#[derive(Debug, Clone)]
pub struct Network {
    /// Layers, the input first.
    pub layers: Vec<Layer>,
    /// `loss_metric_`'s margin and distance threshold (dlib's 0.6 tolerance).
    pub margin: f64,
    /// Pairs closer than this are the same person, by dlib's training.
    pub dist_thresh: f64,
}

/// Most wrappers a network may nest (tags and skips included).
const MAX_DEPTH: usize = 10_000;

const LAYER_VERSIONS: [&str; 14] = [
    "con_4",
    "con_5",
    "con_6",
    "affine_",
    "affine_2",
    "relu_",
    "relu_2",
    "max_pool_2",
    "avg_pool_2",
    "add_prev_",
    "fc_2",
    "fc_3",
    "bn_con2",
    "bn_fc2",
];

/// Parses a network serialised by dlib's `serialize(net, out)` whose loss is
/// `loss_metric_`.
pub fn parse(bytes: &[u8]) -> Result<Network, DatError> {
    let mut r = Reader::new(bytes);
    r.expect_int(1, "add_loss_layer version")?;
    let loss = r.version(&["loss_metric_", "loss_metric_2"])?;
    let (margin, dist_thresh) = if loss == "loss_metric_2" {
        (r.float()?, r.float()?)
    } else {
        (0.04, 0.6)
    };
    // One version per wrapper, outermost first, down to the input layer.
    let mut wrappers = Vec::new();
    while !r.peek_string("input_rgb_image_sized") {
        if wrappers.len() == MAX_DEPTH {
            return Err(r.error("no input_rgb_image_sized layer"));
        }
        wrappers.push(r.int()?);
    }
    let input_version = wrappers
        .pop()
        .ok_or_else(|| r.error("the network has no layers"))?;
    if !(2..=3).contains(&input_version) {
        return Err(r.error(format!("input add_layer version {input_version}")));
    }
    let mut layers = vec![input(&mut r)?];
    layers.push(details(&mut r)?);
    training_state(&mut r)?;
    if input_version == 3 {
        r.int()?;
    }
    for &v in wrappers.iter().rev() {
        match v {
            1 => continue, // a tag or a skip: nothing but its version
            2 => {}
            _ => return Err(r.error(format!("wrapper version {v} (dlib before 19.2?)"))),
        }
        layers.push(details(&mut r)?);
        training_state(&mut r)?;
    }
    if !r.at_end() {
        return Err(r.error("bytes left after the network"));
    }
    Ok(Network {
        layers,
        margin,
        dist_thresh,
    })
}

/// What `add_layer` writes after a layer's details: three flags and three
/// tensors (gradients, the cached output, the parameters' gradients), dropped.
fn training_state(r: &mut Reader) -> Result<(), DatError> {
    for _ in 0..3 {
        r.bool()?;
    }
    for _ in 0..3 {
        r.tensor()?;
    }
    Ok(())
}

fn input(r: &mut Reader) -> Result<Layer, DatError> {
    r.version(&["input_rgb_image_sized"])?;
    let mean = [r.float()? as f32, r.float()? as f32, r.float()? as f32];
    let size = [r.count(1 << 16)?, r.count(1 << 16)?];
    Ok(Layer::Input { mean, size })
}

/// `n` doubles (learning-rate and weight-decay multipliers), dropped.
fn skip_floats(r: &mut Reader, n: usize) -> Result<(), DatError> {
    for _ in 0..n {
        r.float()?;
    }
    Ok(())
}

fn pool(r: &mut Reader) -> Result<[usize; 6], DatError> {
    let mut p = [0; 6];
    for v in &mut p {
        *v = r.count(1 << 16)?;
    }
    Ok(p)
}

/// Splits a layer's parameter tensor into its aliases' lengths, in order.
fn split(r: &Reader, params: Vec<f32>, lens: &[usize]) -> Result<Vec<Vec<f32>>, DatError> {
    if lens.iter().sum::<usize>() != params.len() {
        return Err(r.error(format!(
            "parameters hold {} values, the layer's views {lens:?}",
            params.len()
        )));
    }
    let mut rest = params.as_slice();
    Ok(lens
        .iter()
        .map(|&n| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head.to_vec()
        })
        .collect())
}

fn details(r: &mut Reader) -> Result<Layer, DatError> {
    let version = r.version(&LAYER_VERSIONS)?;
    match version.as_str() {
        "con_4" | "con_5" | "con_6" => {
            let params = r.tensor()?.data;
            let filters = r.count(1 << 16)?;
            let (kh, kw) = (r.count(1 << 10)?, r.count(1 << 10)?);
            let stride = [r.count(1 << 10)?, r.count(1 << 10)?];
            let pad = [r.count(1 << 10)?, r.count(1 << 10)?];
            let shape = r.alias_tensor()?;
            let bias_shape = r.alias_tensor()?;
            skip_floats(r, 4)?;
            let use_bias = if version == "con_4" { true } else { r.bool()? };
            if version == "con_6" && r.bool()? {
                return Err(r.error("con_ with a fused ReLU is not supported"));
            }
            if filters == 0 || shape[0] != filters || shape[2] != kh || shape[3] != kw {
                return Err(r.error(format!("con_ filters {shape:?} for {filters} {kh}×{kw}")));
            }
            let n: usize = shape.iter().product();
            let nb: usize = bias_shape.iter().product();
            let mut parts = split(r, params, &[n, nb])?;
            let bias = parts.pop().filter(|_| use_bias);
            let weight = parts.pop().unwrap_or_default();
            Ok(Layer::Conv {
                shape,
                stride,
                pad,
                weight,
                bias,
            })
        }
        "affine_" | "affine_2" => {
            let params = r.tensor()?.data;
            let g = r.alias_tensor()?.iter().product();
            let b = r.alias_tensor()?.iter().product();
            r.int()?; // mode: per channel (CONV_MODE) or per value (FC_MODE)
            if version == "affine_2" && r.bool()? {
                return Err(r.error("a disabled affine_ layer is not supported"));
            }
            let mut parts = split(r, params, &[g, b])?;
            let beta = parts.pop().unwrap_or_default();
            let gamma = parts.pop().unwrap_or_default();
            Ok(Layer::Affine { gamma, beta })
        }
        "relu_" => Ok(Layer::Relu),
        "relu_2" => {
            if r.bool()? {
                return Err(r.error("a disabled relu_ layer is not supported"));
            }
            Ok(Layer::Relu)
        }
        "max_pool_2" => Ok(Layer::MaxPool(pool(r)?)),
        "avg_pool_2" => Ok(Layer::AvgPool(pool(r)?)),
        "add_prev_" => Ok(Layer::AddPrev),
        "fc_2" | "fc_3" => {
            let dout = r.count(1 << 20)?;
            let din = r.count(1 << 24)?;
            let params = r.tensor()?.data;
            let w = r.alias_tensor()?;
            let b = r.alias_tensor()?;
            let mode = r.int()?;
            skip_floats(r, 4)?;
            let use_bias = if version == "fc_3" { r.bool()? } else { true };
            if w[0] != din || w[1] != dout {
                return Err(r.error(format!("fc_ weights {w:?} for {din} → {dout}")));
            }
            // fc_bias_mode: 0 = FC_HAS_BIAS, 1 = FC_NO_BIAS.
            let has_bias = mode == 0 && use_bias;
            let nb = if mode == 0 { b.iter().product() } else { 0 };
            let mut parts = split(r, params, &[din * dout, nb])?;
            let bias = parts.pop().filter(|_| has_bias);
            let weight = parts.pop().unwrap_or_default();
            Ok(Layer::Fc {
                dims: [din, dout],
                weight,
                bias,
            })
        }
        other => Err(r.error(format!("layer {other} is not supported"))),
    }
}

/// The network's weights for the model builder: convolution `i` is the
/// `i`-th `con_` with the `affine_` after it folded in
/// (`W' = γ·W`, `b' = γ·b + β`), the dense layer the `fc_`.
pub struct Import {
    convs: Vec<ConvWeights>,
    fc: Option<(Vec<f32>, Vec<f32>)>,
}

impl Import {
    /// Folds `net` after checking its layer sequence equals `expected`
    /// (kinds as [`Layer::kind`] names them).
    pub fn new(net: Network, expected: &[&str]) -> Result<Self, ModelError> {
        let kinds: Vec<&str> = net.layers.iter().map(Layer::kind).collect();
        if kinds != expected {
            let at = kinds
                .iter()
                .zip(expected)
                .take_while(|(a, b)| a == b)
                .count();
            return Err(ModelError::Mismatch(format!(
                "dlib network: layer {at} is {:?}, expected {:?} ({} layers, expected {})",
                kinds.get(at),
                expected.get(at),
                kinds.len(),
                expected.len()
            )));
        }
        let mut convs = Vec::new();
        let mut fc = None;
        let mut layers = net.layers.into_iter().peekable();
        while let Some(layer) = layers.next() {
            match layer {
                Layer::Conv {
                    shape,
                    stride,
                    pad,
                    weight,
                    bias,
                } => {
                    if stride[0] != stride[1] || pad[0] != pad[1] {
                        return Err(ModelError::Mismatch(format!(
                            "dlib con_ with stride {stride:?}, padding {pad:?}"
                        )));
                    }
                    let spec = ConvSpec {
                        cin: shape[1],
                        cout: shape[0],
                        kernel: [shape[2], shape[3]],
                        stride: stride[0],
                        pad: [pad[0], pad[0]],
                        groups: 1,
                    };
                    let bias = bias.unwrap_or_else(|| vec![0.0; spec.cout]);
                    let mut conv = ConvWeights { spec, weight, bias };
                    if let Some(Layer::Affine { gamma, beta }) =
                        layers.next_if(|l| l.kind() == "affine")
                    {
                        if gamma.len() != spec.cout || beta.len() != spec.cout {
                            return Err(ModelError::Mismatch(format!(
                                "dlib affine of {} channels after a con_ of {}",
                                gamma.len(),
                                spec.cout
                            )));
                        }
                        conv.fold_affine(|o| (gamma[o], beta[o]));
                    }
                    convs.push(conv);
                }
                Layer::Fc { dims, weight, bias } => {
                    fc = Some((weight, bias.unwrap_or_else(|| vec![0.0; dims[1]])));
                }
                _ => {}
            }
        }
        Ok(Self { convs, fc })
    }
}

impl LayerSource for Import {
    fn conv(&mut self, index: usize, spec: ConvSpec) -> Result<ConvWeights, ModelError> {
        let found = self
            .convs
            .get(index)
            .ok_or_else(|| ModelError::Mismatch(format!("dlib network has no con_ {index}")))?;
        let f = found.spec;
        if (f.cin, f.cout, f.kernel, f.stride, f.pad)
            != (spec.cin, spec.cout, spec.kernel, spec.stride, spec.pad)
        {
            return Err(ModelError::Mismatch(format!(
                "dlib con_ {index} is {f:?}, expected {spec:?}"
            )));
        }
        Ok(found.clone())
    }

    fn prelu(&mut self, index: usize, _channels: usize) -> Result<Vec<f32>, ModelError> {
        Err(ModelError::Mismatch(format!(
            "dlib's ResNet has no PReLU {index}"
        )))
    }

    fn linear(&mut self, din: usize, dout: usize) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        match &self.fc {
            Some((w, b)) if w.len() == din * dout && b.len() == dout => Ok((w.clone(), b.clone())),
            Some((w, _)) => Err(ModelError::Mismatch(format!(
                "dlib fc_ has {} weights, expected {din} × {dout}",
                w.len()
            ))),
            None => Err(ModelError::Mismatch("dlib network has no fc_".into())),
        }
    }
}
