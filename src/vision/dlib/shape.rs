//! dlib's face landmark "shape predictor" (`dlib/image_processing/shape_predictor.h`,
//! Kazemi & Sullivan's cascade of regression trees), read from
//! `shape_predictor_5_face_landmarks.dat` and run as dlib runs it: the shape in
//! `f32`, the similarity transform between shapes in `f64` then cast to `f32`,
//! pixel positions and the returned parts rounded to whole pixels
//! (`floor(x + 0.5)`), pixels outside the image read as 0, grey levels as
//! `(r + g + b) / 3` in integers.

use image::RgbImage;

use super::dat::{DatError, Reader};

/// More parts, cascades, trees, splits or feature pixels than any dlib model has.
const MAX_PARTS: usize = 1 << 12;
const MAX_CASCADES: usize = 1 << 10;
const MAX_TREES: usize = 1 << 16;
const MAX_SPLITS: usize = 1 << 16;
const MAX_PIXELS: usize = 1 << 20;

/// A face rectangle in dlib's convention (`dlib::rectangle`): inclusive pixel
/// coordinates, so its width is `right - left + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DlibRect {
    /// Leftmost column.
    pub left: i64,
    /// Top row.
    pub top: i64,
    /// Rightmost column (inclusive).
    pub right: i64,
    /// Bottom row (inclusive).
    pub bottom: i64,
}

/// One split of a regression tree: go left when
/// `pixel[idx1] - pixel[idx2] > thresh`.
#[derive(Debug, Clone)]
struct Split {
    idx1: usize,
    idx2: usize,
    thresh: f32,
}

/// A complete binary regression tree: `splits` in breadth-first order, then
/// `splits.len() + 1` leaves of one shape increment each (flattened).
#[derive(Debug, Clone)]
struct Tree {
    splits: Vec<Split>,
    leaves: Vec<f32>,
}

/// One cascade level: its trees and its feature pixels, each an anchor part of
/// the mean shape plus an offset in normalised face coordinates.
#[derive(Debug, Clone)]
struct Cascade {
    trees: Vec<Tree>,
    anchors: Vec<usize>,
    deltas: Vec<[f32; 2]>,
}

/// dlib's `shape_predictor`: a mean shape refined by a cascade of tree ensembles.
#[derive(Debug, Clone)]
pub struct ShapePredictor {
    /// The mean shape, `x0, y0, x1, y1, …` in the unit square of the face box.
    initial: Vec<f32>,
    cascades: Vec<Cascade>,
}

impl ShapePredictor {
    /// Parses a serialised `dlib::shape_predictor` (version 1: the initial shape,
    /// the forests, the anchor indices and the deltas); checks every index so
    /// that [`ShapePredictor::predict`] cannot go out of bounds.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DatError> {
        let mut r = Reader::new(bytes);
        r.expect_int(1, "shape_predictor version")?;
        let start = r.offset();
        let initial = r.matrix()?;
        let len = initial.data.len();
        if initial.cols != 1 || len == 0 || len % 2 != 0 || len > 2 * MAX_PARTS {
            return Err(DatError {
                offset: start,
                msg: format!(
                    "initial shape of {} × {}, expected a column of 2 × parts",
                    initial.rows, initial.cols
                ),
            });
        }
        let forests = r.vec(MAX_CASCADES, |r| r.vec(MAX_TREES, |r| tree(r, len)))?;
        let anchors = r.vec(MAX_CASCADES, |r| r.vec(MAX_PIXELS, index))?;
        let deltas = r.vec(MAX_CASCADES, |r| {
            r.vec(MAX_PIXELS, |r| Ok([r.float()? as f32, r.float()? as f32]))
        })?;
        if forests.len() != anchors.len() || forests.len() != deltas.len() {
            return Err(r.error(format!(
                "{} forests, {} anchor lists and {} delta lists",
                forests.len(),
                anchors.len(),
                deltas.len()
            )));
        }
        let parts = len / 2;
        let mut cascades = Vec::with_capacity(forests.len());
        for (level, ((trees, anchors), deltas)) in
            forests.into_iter().zip(anchors).zip(deltas).enumerate()
        {
            let pixels = anchors.len();
            if deltas.len() != pixels {
                return Err(r.error(format!(
                    "cascade {level}: {pixels} anchors but {} deltas",
                    deltas.len()
                )));
            }
            if anchors.iter().any(|&a| a >= parts) {
                return Err(r.error(format!(
                    "cascade {level}: an anchor is not one of the {parts} parts"
                )));
            }
            let bad_split = |t: &Tree| {
                t.splits
                    .iter()
                    .any(|s| s.idx1 >= pixels || s.idx2 >= pixels)
            };
            if trees.iter().any(bad_split) {
                return Err(r.error(format!(
                    "cascade {level}: a split reads beyond its {pixels} pixels"
                )));
            }
            cascades.push(Cascade {
                trees,
                anchors,
                deltas,
            });
        }
        Ok(Self {
            initial: initial.data,
            cascades,
        })
    }

    /// Number of landmarks (5 for `shape_predictor_5_face_landmarks.dat`).
    pub fn num_parts(&self) -> usize {
        self.initial.len() / 2
    }

    /// dlib's `shape_predictor::operator()(img, rect)` on an RGB image: the
    /// landmarks in image pixels, `[x, y]`, rounded to whole pixels as dlib's
    /// `full_object_detection` parts are. `rect` is in dlib's convention
    /// (inclusive), as `dlib.rectangle` or the HOG detector gives it.
    pub fn predict(&self, img: &RgbImage, rect: DlibRect) -> Vec<[f32; 2]> {
        let to_img = Unnormalize::new(rect);
        let mut shape = self.initial.clone();
        let mut features = Vec::new();
        for cascade in &self.cascades {
            let m = shape_tform(&self.initial, &shape);
            features.clear();
            features.extend(cascade.anchors.iter().zip(&cascade.deltas).map(|(&a, d)| {
                // tform * delta + location(current_shape, anchor), all in f32.
                let x = (m[0][0] * d[0] + m[0][1] * d[1]) + shape[2 * a];
                let y = (m[1][0] * d[0] + m[1][1] * d[1]) + shape[2 * a + 1];
                let [px, py] = to_img.point(x, y);
                intensity(img, px, py)
            }));
            for tree in &cascade.trees {
                for (s, l) in shape.iter_mut().zip(tree.leaf(&features)) {
                    *s += l;
                }
            }
        }
        shape
            .chunks_exact(2)
            .map(|p| {
                let [x, y] = to_img.point(p[0], p[1]);
                [x as f32, y as f32]
            })
            .collect()
    }
}

impl Tree {
    /// The leaf the features lead to (dlib's `regression_tree::operator()`).
    fn leaf(&self, features: &[f32]) -> &[f32] {
        let mut i = 0;
        while let Some(s) = self.splits.get(i) {
            i = if features[s.idx1] - features[s.idx2] > s.thresh {
                2 * i + 1
            } else {
                2 * i + 2
            };
        }
        let n = self.leaves.len() / (self.splits.len() + 1);
        let leaf = i - self.splits.len();
        &self.leaves[leaf * n..(leaf + 1) * n]
    }
}

/// A `std::vector<split_feature>` and a `std::vector<matrix<float,0,1>>`, each
/// leaf the length of the shape; a complete tree.
fn tree(r: &mut Reader<'_>, shape_len: usize) -> Result<Tree, DatError> {
    let splits = r.vec(MAX_SPLITS, |r| {
        Ok(Split {
            idx1: index(r)?,
            idx2: index(r)?,
            thresh: r.float()? as f32,
        })
    })?;
    let start = r.offset();
    let mut leaves = Vec::new();
    let count = r.vec(MAX_SPLITS + 1, |r| {
        let at = r.offset();
        let m = r.matrix()?;
        if m.cols != 1 || m.data.len() != shape_len {
            return Err(DatError {
                offset: at,
                msg: format!("leaf of {} × {}, expected {shape_len} × 1", m.rows, m.cols),
            });
        }
        leaves.extend_from_slice(&m.data);
        Ok(())
    })?;
    // dlib requires a full tree: 2^depth leaves, one more than the splits.
    if count.len() != splits.len() + 1 || !count.len().is_power_of_two() {
        return Err(DatError {
            offset: start,
            msg: format!("tree of {} splits and {} leaves", splits.len(), count.len()),
        });
    }
    Ok(Tree { splits, leaves })
}

/// An `unsigned long` index.
fn index(r: &mut Reader<'_>) -> Result<usize, DatError> {
    let at = r.offset();
    let v = r.uint()?;
    usize::try_from(v).map_err(|_| DatError {
        offset: at,
        msg: format!("index {v} out of range"),
    })
}

/// dlib's `find_tform_between_shapes(initial, current).get_m()` cast to `f32`:
/// the linear part of the least-squares similarity transform, computed in f64
/// from the f32 shapes (identity for a single part).
fn shape_tform(from: &[f32], to: &[f32]) -> [[f32; 2]; 2] {
    if from.len() == 2 {
        return [[1.0, 0.0], [0.0, 1.0]];
    }
    let pts = |s: &[f32]| -> Vec<[f64; 2]> {
        s.chunks_exact(2)
            .map(|p| [f64::from(p[0]), f64::from(p[1])])
            .collect()
    };
    let t = similarity_transform(&pts(from), &pts(to));
    t.m.map(|row| row.map(|v| v as f32))
}

/// An affine map `p ↦ m·p + b` (`dlib::point_transform_affine`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Affine {
    pub(crate) m: [[f64; 2]; 2],
    pub(crate) b: [f64; 2],
}

impl Affine {
    pub(crate) fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        [
            (self.m[0][0] * p[0] + self.m[0][1] * p[1]) + self.b[0],
            (self.m[1][0] * p[0] + self.m[1][1] * p[1]) + self.b[1],
        ]
    }
}

/// dlib's `find_similarity_transform` (Umeyama's least squares, f64): the
/// rotation, uniform scale and translation taking `from` closest to `to`.
/// dlib solves it with its own 2×2 SVD; in 2-D that has this closed form: the
/// same transform up to the last bits (≤ 3e-13 px on the chip rectangles of 500
/// faces). The shape predictor casts it to f32, where that vanishes; in chips it
/// can flip the truncation of a bilinear value that is an integer in exact
/// arithmetic (flat regions): 9 of 33.75 M channel values by 1.
pub(crate) fn similarity_transform(from: &[[f64; 2]], to: &[[f64; 2]]) -> Affine {
    let n = from.len().min(to.len()) as f64;
    let mean = |pts: &[[f64; 2]]| {
        let s = pts
            .iter()
            .fold([0.0, 0.0], |a, p| [a[0] + p[0], a[1] + p[1]]);
        [s[0] / n, s[1] / n]
    };
    let (mf, mt) = (mean(from), mean(to));
    let mut sigma_from = 0.0;
    let mut cov = [[0.0; 2]; 2];
    for (f, t) in from.iter().zip(to) {
        let df = [f[0] - mf[0], f[1] - mf[1]];
        let dt = [t[0] - mt[0], t[1] - mt[1]];
        sigma_from += df[0] * df[0] + df[1] * df[1];
        for (i, row) in cov.iter_mut().enumerate() {
            for (j, c) in row.iter_mut().enumerate() {
                *c += dt[i] * df[j];
            }
        }
    }
    sigma_from /= n;
    let inv_n = 1.0 / n;
    let cov = cov.map(|row| row.map(|v| v * inv_n));
    // The rotation maximising tr(Rᵀ·cov) and tr(D·S) of Umeyama's (43).
    let (a, b) = (cov[0][0] + cov[1][1], cov[1][0] - cov[0][1]);
    let norm = (a * a + b * b).sqrt();
    let (cos, sin) = if norm > 0.0 {
        (a / norm, b / norm)
    } else {
        (1.0, 0.0)
    };
    let c = if sigma_from != 0.0 {
        1.0 / sigma_from * norm
    } else {
        1.0
    };
    let m = [[c * cos, c * -sin], [c * sin, c * cos]];
    let b = [
        mt[0] - (m[0][0] * mf[0] + m[0][1] * mf[1]),
        mt[1] - (m[1][0] * mf[0] + m[1][1] * mf[1]),
    ];
    Affine { m, b }
}

/// `unnormalizing_tform(rect)`: the unit square onto the rectangle's corners,
/// (0,0) → top-left and (1,1) → bottom-right, in f64, then rounded to a pixel.
#[derive(Debug, Clone, Copy)]
struct Unnormalize {
    sx: f64,
    sy: f64,
    left: f64,
    top: f64,
}

impl Unnormalize {
    fn new(r: DlibRect) -> Self {
        Self {
            sx: (r.right - r.left) as f64,
            sy: (r.bottom - r.top) as f64,
            left: r.left as f64,
            top: r.top as f64,
        }
    }

    /// The pixel of a normalised point, rounded as dlib's `point` conversion
    /// does (`floor(v + 0.5)`).
    fn point(&self, x: f32, y: f32) -> [i64; 2] {
        let px = self.sx * f64::from(x) + self.left;
        let py = self.sy * f64::from(y) + self.top;
        [(px + 0.5).floor() as i64, (py + 0.5).floor() as i64]
    }
}

/// dlib's `get_pixel_intensity` of an `rgb_pixel` (the integer mean), 0 outside
/// the image.
fn intensity(img: &RgbImage, x: i64, y: i64) -> f32 {
    let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y)) else {
        return 0.0;
    };
    if x >= img.width() || y >= img.height() {
        return 0.0;
    }
    let [r, g, b] = img.get_pixel(x, y).0;
    f32::from(((u16::from(r) + u16::from(g) + u16::from(b)) / 3) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer of dlib's serialisation format for hand-made predictors.
    #[derive(Default)]
    struct Writer(Vec<u8>);

    impl Writer {
        fn int(&mut self, v: i64) -> &mut Self {
            let mut mag = v.unsigned_abs();
            let mut bytes = Vec::new();
            loop {
                bytes.push((mag & 0xff) as u8);
                mag >>= 8;
                if mag == 0 {
                    break;
                }
            }
            let sign = if v < 0 { 0x80 } else { 0 };
            self.0.push(sign | bytes.len() as u8);
            self.0.extend(bytes);
            self
        }

        /// `float_details`: value = mantissa · 2^-20 (the test values are exact).
        fn float(&mut self, v: f32) -> &mut Self {
            let mantissa = f64::from(v) * f64::from(1u32 << 20);
            assert_eq!(mantissa.fract(), 0.0);
            self.int(mantissa as i64).int(-20)
        }

        fn column(&mut self, values: &[f32]) -> &mut Self {
            self.int(-(values.len() as i64)).int(-1);
            for &v in values {
                self.float(v);
            }
            self
        }
    }

    /// One part at the box centre; one cascade of one depth-1 tree on two
    /// pixels: the part itself and 0.25 of the box to its right. If the centre is
    /// brighter by more than 10 the part moves by (+0.25, −0.125) of the box.
    fn tiny() -> Vec<u8> {
        let mut w = Writer::default();
        w.int(1).column(&[0.5, 0.5]);
        // forests: 1 cascade of 1 tree: 1 split (idx 0, idx 1, 10.0), 2 leaves.
        w.int(1).int(1).int(1).int(0).int(1).float(10.0);
        w.int(2).column(&[0.25, -0.125]).column(&[0.0, 0.0]);
        // anchor_idx: 1 cascade of 2 pixels, both anchored on part 0.
        w.int(1).int(2).int(0).int(0);
        // deltas: (0, 0) and (0.25, 0).
        w.int(1).int(2).float(0.0).float(0.0).float(0.25).float(0.0);
        w.0
    }

    #[test]
    fn hand_made_predictor() {
        let sp = ShapePredictor::from_bytes(&tiny()).unwrap();
        assert_eq!(sp.num_parts(), 1);
        let rect = DlibRect {
            left: 10,
            top: 20,
            right: 50,
            bottom: 60,
        };
        // Centre (30, 40); the second pixel is (40, 40).
        let mut img = RgbImage::new(64, 64);
        assert_eq!(sp.predict(&img, rect), vec![[30.0, 40.0]]);
        // (200 + 100 + 0) / 3 = 100 at the centre: 100 − 0 > 10 goes left.
        img.put_pixel(30, 40, image::Rgb([200, 100, 0]));
        assert_eq!(sp.predict(&img, rect), vec![[40.0, 35.0]]);
        // A box partly outside the image: outside pixels read 0.
        let out = DlibRect {
            left: 50,
            top: 50,
            right: 90,
            bottom: 90,
        };
        assert_eq!(sp.predict(&img, out), vec![[70.0, 70.0]]);
    }

    #[test]
    fn truncated_or_hostile_files_are_errors() {
        let good = tiny();
        for n in 0..good.len() {
            assert!(ShapePredictor::from_bytes(&good[..n]).is_err(), "{n} bytes");
        }
        // A wrong version.
        let mut bad = good.clone();
        bad[1] = 2;
        assert!(ShapePredictor::from_bytes(&bad).is_err());
        // A split reading pixel 7 of 2.
        let mut w = Writer::default();
        w.int(1).column(&[0.5, 0.5]);
        w.int(1).int(1).int(1).int(0).int(7).float(10.0);
        w.int(2).column(&[0.0, 0.0]).column(&[0.0, 0.0]);
        w.int(1).int(2).int(0).int(0);
        w.int(1).int(2).float(0.0).float(0.0).float(0.25).float(0.0);
        let err = ShapePredictor::from_bytes(&w.0).unwrap_err();
        assert!(err.msg.contains("split"), "{err}");
        // An anchor on part 3 of 1, and a tree with 3 leaves.
        let mut w = Writer::default();
        w.int(1)
            .column(&[0.5, 0.5])
            .int(1)
            .int(0)
            .int(1)
            .int(1)
            .int(3);
        w.int(1).int(1).float(0.0).float(0.0);
        assert!(ShapePredictor::from_bytes(&w.0).is_err());
        let mut w = Writer::default();
        w.int(1)
            .column(&[0.5, 0.5])
            .int(1)
            .int(1)
            .int(1)
            .int(0)
            .int(0)
            .float(0.0);
        w.int(3)
            .column(&[0.0, 0.0])
            .column(&[0.0, 0.0])
            .column(&[0.0, 0.0]);
        let err = ShapePredictor::from_bytes(&w.0).unwrap_err();
        assert!(err.msg.contains("leaves"), "{err}");
        // A vector claiming 2^40 cascades.
        let mut w = Writer::default();
        w.int(1).column(&[0.5, 0.5]).int(1 << 40);
        assert!(ShapePredictor::from_bytes(&w.0).is_err());
    }

    #[test]
    fn real_model_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/shape_predictor_5_face_landmarks.dat"
        );
        let bytes = std::fs::read(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (scripts/seed_models.py dlib fetches it)"));
        let sp = ShapePredictor::from_bytes(&bytes).unwrap();
        assert_eq!(sp.num_parts(), 5);
        let img = RgbImage::from_pixel(100, 100, image::Rgb([128, 128, 128]));
        let rect = DlibRect {
            left: 20,
            top: 20,
            right: 79,
            bottom: 79,
        };
        let parts = sp.predict(&img, rect);
        assert_eq!(parts.len(), 5);
        assert!(
            parts
                .iter()
                .all(|p| p.iter().all(|v| (0.0..100.0).contains(v)))
        );
    }
}
