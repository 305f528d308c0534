//! int8 weights: burn's symmetric 8-bit block quantization of every convolution
//! and dense weight, the scheme of the original ONNX models (blocks along the
//! input channels), and its inverse at load time.
//!
//! burn 0.22's CPU backends (flex, ndarray) have no int8 convolution or matmul:
//! `conv2d` converts a quantized weight to float on every call and `q_matmul`
//! dequantizes its operands. So int8 here is a storage format (4× smaller
//! records, packages and SD images); [`dequantize`] expands the weights once at
//! load, and the models then compute in fp32 at fp32 speed. The
//! per-call alternative is measured in `benches/vision.rs`.

use std::fmt;
use std::str::FromStr;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::quantization::{QuantScheme, QuantValue, ScaleDtype};
use serde::{Deserialize, Serialize};

/// Weight precision of the model records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// int8 weights (`*-int8.bpk`): the default, accuracy checked in `tests/quantized.rs`.
    #[default]
    Int8,
    /// fp32 weights (`*.bpk`): the converted originals.
    Fp32,
}

impl Precision {
    /// Both, int8 first.
    pub const ALL: [Precision; 2] = [Precision::Int8, Precision::Fp32];

    /// Record file stem for model `name`: `sface` or `sface-int8`.
    pub fn stem(self, name: &str) -> String {
        match self {
            Precision::Fp32 => name.to_string(),
            Precision::Int8 => format!("{name}-int8"),
        }
    }

    /// Lower-case name, as in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Int8 => "int8",
            Precision::Fp32 => "fp32",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "int8" => Ok(Precision::Int8),
            "fp32" => Ok(Precision::Fp32),
            _ => Err(format!("unknown precision {s:?} (int8, fp32)")),
        }
    }
}

/// Input elements per scale for YuNet: its landmarks move the face crop, so it
/// gets small blocks (its records stay under 100 kB).
pub const DETECTOR_BLOCK: usize = 8;
/// Input elements per scale for SFace (the ONNX originals use 64; 32 measured
/// closer to fp32 on the shared photos for 6 % more bytes).
pub const EMBEDDER_BLOCK: usize = 32;
/// Weights smaller than this stay fp32 (the 3-channel stems, the heads' scalars).
const MIN_ELEMENTS: usize = 256;

/// Quantizes the convolution and dense weights of `module` to int8, one scale
/// per output channel and run of at most `block` input elements.
pub fn quantize<M: Module>(module: M, block: usize) -> M {
    module.map(&mut Quantize(block))
}

/// Expands int8 weights of `module` back to fp32 (a no-op on fp32 weights).
pub fn dequantize<M: Module>(module: M) -> M {
    module.map(&mut Dequantize)
}

/// The int8 scheme for a weight of `shape`: symmetric, f32 scales, one block per
/// output channel and run of up to `block` input elements; `None` for tensors
/// left in fp32.
pub fn scheme_for(shape: &[usize], block: usize) -> Option<QuantScheme> {
    let limit = block;
    let block: Vec<u8> = match *shape {
        // Conv2d [out, in/groups, kh, kw]: a block spans whole kernels.
        [_, cin, kh, kw] => {
            let per_in = (limit / (kh * kw).max(1)).max(1);
            vec![
                1,
                largest_divisor(cin, per_in)?,
                u8::try_from(kh).ok()?,
                u8::try_from(kw).ok()?,
            ]
        }
        // Linear [in, out] (burn's layout): blocks run down the input axis.
        [din, _] => vec![largest_divisor(din, limit)?, 1],
        _ => return None,
    };
    if shape.iter().product::<usize>() < MIN_ELEMENTS {
        return None;
    }
    Some(
        QuantScheme::default()
            .with_value(QuantValue::Q8S)
            .per_block(block, ScaleDtype::F32),
    )
}

/// Largest divisor of `n` that is at most `limit` (and fits a block dimension).
fn largest_divisor(n: usize, limit: usize) -> Option<u8> {
    (1..=limit.min(n).min(255))
        .rev()
        .find(|d| n.is_multiple_of(*d))
        .and_then(|d| u8::try_from(d).ok())
}

struct Quantize(usize);

impl ModuleMapper for Quantize {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| match scheme_for(&t.dims(), self.0) {
            Some(scheme) => t.quantize_dynamic(&scheme),
            None => t,
        })
    }
}

struct Dequantize;

impl ModuleMapper for Dequantize {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.dequantize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_the_input_channels() {
        let block = |shape: &[usize]| {
            scheme_for(shape, 64).and_then(|s| s.block_size().map(|b| b.to_dim_vec(shape.len())))
        };
        // Pointwise 512→512: 64 inputs per block.
        assert_eq!(block(&[512, 512, 1, 1]), Some(vec![1, 64, 1, 1]));
        // Dense 3×3 with 32 inputs: 7 inputs would not divide 32, so 4 × 9 = 36.
        assert_eq!(block(&[64, 32, 3, 3]), Some(vec![1, 4, 3, 3]));
        // Depthwise: one kernel per block.
        assert_eq!(block(&[512, 1, 3, 3]), Some(vec![1, 1, 3, 3]));
        // Dense layer [in, out].
        assert_eq!(block(&[50176, 128]), Some(vec![64, 1]));
        // YuNet's stem: whole 3×3×3 kernels.
        assert_eq!(block(&[16, 3, 3, 3]), Some(vec![1, 3, 3, 3]));
        // Tiny tensors and vectors stay fp32.
        assert_eq!(block(&[8, 3, 3, 3]), None);
        assert_eq!(block(&[128]), None);
    }

    #[test]
    fn precision_names_round_trip() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>(), Ok(p));
        }
        assert_eq!(Precision::Int8.stem("sface"), "sface-int8");
        assert!("int4".parse::<Precision>().is_err());
    }
}

#[cfg(test)]
mod roundtrip {
    use super::*;
    use burn::tensor::TensorData;

    fn max_error<const D: usize>(shape: [usize; D]) -> (f32, f32) {
        let device = Device::default();
        let n: usize = shape.iter().product();
        let mut seed = 0x9e37_79b9_u32;
        let values: Vec<f32> = (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                (seed as f32 / u32::MAX as f32) - 0.5
            })
            .collect();
        let t: Tensor<D> = Tensor::from_data(TensorData::new(values.clone(), shape), &device);
        let scheme = scheme_for(&shape, 64).expect("scheme");
        let q = t.quantize_dynamic(&scheme);
        let direct: Vec<f32> = q
            .clone()
            .dequantize()
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let via_data: Tensor<D> = Tensor::from_data(q.into_data(), &device);
        let stored: Vec<f32> = via_data
            .dequantize()
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let err = |v: &[f32]| {
            v.iter()
                .zip(&values)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max)
        };
        (err(&direct), err(&stored))
    }

    #[test]
    fn quantized_data_survives_a_round_trip() {
        // Largest magnitude 0.5 → step ≤ 0.5/127; error ≤ half a step.
        let bound = 0.5 / 127.0 * 0.5 + 1e-6;
        for (direct, stored) in [
            max_error([256, 128]),
            max_error([128, 256]),
            max_error([64, 128, 1, 1]),
            max_error([64, 32, 3, 3]),
            max_error([64, 1, 3, 3]),
        ] {
            assert!(direct <= bound && stored <= bound, "{direct} {stored}");
        }
    }
}
