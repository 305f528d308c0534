//! Face alignment, shared by the embedders: a least-squares similarity
//! transform from the five detected landmarks to a template (the 112×112
//! ArcFace one for SFace, the same semantics as OpenCV's
//! `FaceRecognizerSF::alignCrop`), or any affine map such as a box crop, then
//! a bilinear warp into a square crop.

use image::RgbImage;

/// Side of the ArcFace crop.
pub const ARCFACE_SIZE: usize = 112;

/// ArcFace landmark template for a 112×112 crop: right eye, left eye, nose tip,
/// right and left mouth corners (image coordinates, subject's right on the left).
pub const TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// A 2×3 affine map `[[a, -b, tx], [b, a, ty]]`: rotation, uniform scale, shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Row-major 2×3 matrix.
    pub m: [[f64; 3]; 2],
}

impl Similarity {
    /// Least-squares similarity (no reflection) mapping `src` points onto `dst`
    /// (Umeyama's estimate, which in 2-D has this closed form).
    pub fn estimate(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Self> {
        let n = src.len().min(dst.len());
        if n < 2 {
            return None;
        }
        let mean = |p: &[[f32; 2]]| {
            let (sx, sy) = p[..n].iter().fold((0.0, 0.0), |(x, y), q| {
                (x + f64::from(q[0]), y + f64::from(q[1]))
            });
            (sx / n as f64, sy / n as f64)
        };
        let (sx, sy) = mean(src);
        let (dx, dy) = mean(dst);
        let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
        for (s, d) in src[..n].iter().zip(&dst[..n]) {
            let (x, y) = (f64::from(s[0]) - sx, f64::from(s[1]) - sy);
            let (u, v) = (f64::from(d[0]) - dx, f64::from(d[1]) - dy);
            num_a += x * u + y * v;
            num_b += x * v - y * u;
            den += x * x + y * y;
        }
        if den <= f64::EPSILON {
            return None;
        }
        let (a, b) = (num_a / den, num_b / den);
        Some(Self {
            m: [
                [a, -b, dx - (a * sx - b * sy)],
                [b, a, dy - (b * sx + a * sy)],
            ],
        })
    }

    /// Maps a point.
    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        let m = &self.m;
        [
            m[0][0] * p[0] + m[0][1] * p[1] + m[0][2],
            m[1][0] * p[0] + m[1][1] * p[1] + m[1][2],
        ]
    }

    /// The inverse map.
    pub fn inverse(&self) -> Option<Self> {
        let [[a, b, c], [d, e, f]] = self.m;
        let det = a * e - b * d;
        if det.abs() <= f64::EPSILON {
            return None;
        }
        Some(Self {
            m: [
                [e / det, -b / det, (b * f - c * e) / det],
                [-d / det, a / det, (c * d - a * f) / det],
            ],
        })
    }
}

/// An aligned square face crop, BGR planes, 0–255 floats (each embedder
/// normalises it as its network wants).
#[derive(Debug, Clone, PartialEq)]
pub struct AlignedFace {
    /// Side in pixels.
    pub size: usize,
    /// `[3, size, size]` planes: blue, green, red.
    pub bgr: Vec<f32>,
    /// The other members' crops of a fused embedder
    /// ([`crate::vision::fusion`]); empty for a single model.
    pub more: Vec<AlignedFace>,
}

impl AlignedFace {
    /// Whether every crop is `size`×`size` with its three planes: an
    /// embedder runs a batch only if so, so no embedding can land beside
    /// another face's detection.
    pub fn all_sized(crops: &[AlignedFace], size: usize) -> bool {
        crops
            .iter()
            .all(|c| c.size == size && c.bgr.len() == 3 * size * size)
    }

    /// The crop as an 8-bit RGB image (for inspection).
    pub fn to_rgb(&self) -> RgbImage {
        let n = self.size;
        let plane = n * n;
        RgbImage::from_fn(n as u32, n as u32, |x, y| {
            let i = y as usize * n + x as usize;
            let px = |c: usize| self.bgr[c * plane + i].round().clamp(0.0, 255.0) as u8;
            image::Rgb([px(2), px(1), px(0)])
        })
    }
}

/// Aligns the face with `landmarks` (in `img` coordinates) to the 112×112
/// ArcFace template.
pub fn align(img: &RgbImage, landmarks: &[[f32; 2]; 5]) -> Option<AlignedFace> {
    let to_template = Similarity::estimate(landmarks, &TEMPLATE)?;
    Some(warp(img, &to_template.inverse()?, ARCFACE_SIZE))
}

/// Samples the `size`×`size` crop whose pixel `(x, y)` comes from `img` at
/// `inverse(x, y)`, bilinearly, with black outside the image (OpenCV's
/// `warpAffine` with `INTER_LINEAR` and a constant zero border). `inverse`
/// may be any affine map (its matrix is used as it is).
pub fn warp(img: &RgbImage, inverse: &Similarity, size: usize) -> AlignedFace {
    let plane = size * size;
    let mut bgr = vec![0.0f32; 3 * plane];
    let (w, h) = (img.width() as i64, img.height() as i64);
    let raw = img.as_raw();
    let pixel = |x: i64, y: i64, c: usize| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            0.0
        } else {
            f32::from(raw[((y * w + x) * 3) as usize + c])
        }
    };
    for oy in 0..size {
        for ox in 0..size {
            let [sx, sy] = inverse.apply([ox as f64, oy as f64]);
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let i = oy * size + ox;
            for c in 0..3 {
                let top = pixel(x0, y0, c) * (1.0 - fx) + pixel(x0 + 1, y0, c) * fx;
                let bottom = pixel(x0, y0 + 1, c) * (1.0 - fx) + pixel(x0 + 1, y0 + 1, c) * fx;
                // RGB in, BGR planes out.
                bgr[(2 - c) * plane + i] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
    AlignedFace {
        size,
        bgr,
        more: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_recovers_a_known_similarity() {
        let truth = Similarity {
            m: [[0.8, -0.3, 12.0], [0.3, 0.8, -4.0]],
        };
        let src: Vec<[f32; 2]> = TEMPLATE.to_vec();
        let dst: Vec<[f32; 2]> = src
            .iter()
            .map(|p| {
                let q = truth.apply([f64::from(p[0]), f64::from(p[1])]);
                [q[0] as f32, q[1] as f32]
            })
            .collect();
        let est = Similarity::estimate(&src, &dst).expect("estimate");
        for r in 0..2 {
            for c in 0..3 {
                assert!((est.m[r][c] - truth.m[r][c]).abs() < 1e-4, "{est:?}");
            }
        }
        let inv = est.inverse().expect("invertible");
        let back = inv.apply(est.apply([5.0, 7.0]));
        assert!((back[0] - 5.0).abs() < 1e-9 && (back[1] - 7.0).abs() < 1e-9);
    }

    #[test]
    fn degenerate_landmarks_give_none() {
        assert!(Similarity::estimate(&[[3.0, 3.0]; 5], &TEMPLATE).is_none());
    }

    #[test]
    fn identity_warp_copies_pixels() {
        let img = RgbImage::from_fn(112, 112, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let id = Similarity {
            m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
        };
        let crop = warp(&img, &id, 112);
        assert_eq!(crop.to_rgb(), img);
    }
}
