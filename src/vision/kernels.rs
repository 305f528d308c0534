//! Two layers that burn's flex backend runs slowly, written out by hand:
//! a 3×3 convolution of a few input channels (the stems of YuNet and SFace)
//! as im2col + one matrix product, and 2×2 max-pooling. Measured on YuNet at
//! 320×240, one thread: the network went from 10.1 to 6.2 ms (stem 3.1 ms →
//! 0.4, pooling 2.8 → 0.2).

use burn::nn::conv::Conv2d;
use burn::prelude::*;

/// The tensor's values, row-major (a copy).
fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// `conv` (3×3, padding 1, no groups, stride 1 or 2) on `x` `[N, C, H, W]`
/// (H and W even for stride 2): `[N, O, H/s, W/s]`, computed per image as
/// `W[O, 9C] · cols[9C, H/s·W/s]`.
pub fn conv3x3(x: Tensor<4>, conv: &Conv2d, stride: usize) -> Tensor<4> {
    let device = x.device();
    let [n, c, h, w] = x.dims();
    let (ho, wo) = (h / stride, w / stride);
    let input = values(x);
    // An int8 weight kept quantized (per-call mode) is expanded here, as burn would.
    let weight = conv.weight.val().dequantize();
    let [o, _, _, _] = weight.dims();
    let k = 9 * c;
    let weight = weight.reshape([o, k]);
    let mut outs = Vec::with_capacity(n);
    for img in input.chunks_exact(c * h * w) {
        let mut cols = vec![0.0f32; k * ho * wo];
        for ci in 0..c {
            let plane = &img[ci * h * w..(ci + 1) * h * w];
            for ky in 0..3 {
                for kx in 0..3 {
                    let row = &mut cols[((ci * 3 + ky) * 3 + kx) * ho * wo..][..ho * wo];
                    for oy in 0..ho {
                        // Input row s·oy + ky − 1 (zero outside).
                        let Some(iy) = (stride * oy + ky).checked_sub(1).filter(|&y| y < h) else {
                            continue;
                        };
                        let src = &plane[iy * w..(iy + 1) * w];
                        let dst = &mut row[oy * wo..(oy + 1) * wo];
                        for (ox, d) in dst.iter_mut().enumerate() {
                            if let Some(ix) = (stride * ox + kx).checked_sub(1).filter(|&x| x < w) {
                                *d = src[ix];
                            }
                        }
                    }
                }
            }
        }
        let cols = Tensor::<2>::from_data(TensorData::new(cols, [k, ho * wo]), &device);
        let mut out = weight.clone().matmul(cols);
        if let Some(bias) = &conv.bias {
            out = out + bias.val().reshape([o, 1]);
        }
        outs.push(out.reshape([1, o, ho, wo]));
    }
    Tensor::cat(outs, 0)
}

/// 2×2 max-pooling with stride 2 of `[N, C, H, W]` (H, W even).
pub fn max_pool2(x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let [n, c, h, w] = x.dims();
    let (ho, wo) = (h / 2, w / 2);
    let input = values(x);
    let mut out = vec![0.0f32; n * c * ho * wo];
    for (plane, dst) in input.chunks_exact(h * w).zip(out.chunks_exact_mut(ho * wo)) {
        for oy in 0..ho {
            let (r0, r1) = (&plane[2 * oy * w..][..w], &plane[(2 * oy + 1) * w..][..w]);
            for (ox, d) in dst[oy * wo..(oy + 1) * wo].iter_mut().enumerate() {
                *d = r0[2 * ox]
                    .max(r0[2 * ox + 1])
                    .max(r1[2 * ox].max(r1[2 * ox + 1]));
            }
        }
    }
    Tensor::from_data(TensorData::new(out, [n, c, ho, wo]), &device)
}

/// Nearest-neighbour 2× upsampling of `[N, C, H, W]`.
pub fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

/// The rows of a `[N, D]` tensor, read back to the host (empty if the
/// backend cannot give f32 data).
pub fn rows(t: Tensor<2>) -> Vec<Vec<f32>> {
    let [_, d] = t.dims();
    let out = t.into_data().try_into_vec::<f32>().unwrap_or_default();
    out.chunks_exact(d.max(1)).map(<[f32]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;

    fn ramp(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect()
    }

    #[test]
    fn stems_match_burns_convolution() {
        let device = Device::default();
        for stride in [1, 2] {
            let conv = Conv2dConfig::new([3, 16], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(&device);
            let x = Tensor::<4>::from_data(
                TensorData::new(ramp(2 * 3 * 24 * 32), [2, 3, 24, 32]),
                &device,
            );
            let ours = values(conv3x3(x.clone(), &conv, stride));
            let burn = values(conv.forward(x));
            assert_eq!(ours.len(), burn.len());
            let worst = ours
                .iter()
                .zip(&burn)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-4, "stride {stride}: max difference {worst}");
        }
    }

    #[test]
    fn pool_matches_burns_max_pool() {
        let device = Device::default();
        let x = Tensor::<4>::from_data(TensorData::new(ramp(2 * 3 * 8 * 6), [2, 3, 8, 6]), &device);
        let ours = values(max_pool2(x.clone()));
        let pool = burn::nn::pool::MaxPool2dConfig::new([2, 2])
            .with_strides([2, 2])
            .init();
        let burn = values(pool.forward(x));
        assert_eq!(ours, burn);
    }
}
