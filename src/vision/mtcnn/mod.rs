//! Face detection with MTCNN, the seed's enrolment detector: facenet-pytorch
//! 2.6.0's `detect_face` (`MTCNN(min_face_size=20)`: factor 0.709, thresholds
//! 0.6 / 0.7 / 0.7) step for step, in f32 as torch computes it:
//!
//! 1. an image pyramid (`int(side·scale + 1)`, torch's `area` resize), P-Net on
//!    each level, cells with p ≥ 0.6 as 12×12 windows, NMS 0.5 per level;
//! 2. NMS 0.7 over all levels, P-Net's box regression (no +1), squared;
//! 3. the in-image part of each box area-resized to 24×24, R-Net p > 0.7,
//!    NMS 0.7, regression (+1), squared;
//! 4. the same at 48×48 for O-Net: p > 0.7, landmarks on the squared box,
//!    regression, then NMS "Min" 0.7 (intersection over the smaller box).
//!
//! Boxes are not clipped to the image. Unlike facenet-pytorch, a box whose
//! crop is empty is dropped (facenet-pytorch would misalign its batch).

pub mod loader;
pub mod model;

use burn::prelude::*;
use image::RgbImage;

pub use model::Mtcnn;
use model::{ONET_SIZE, RNET_SIZE};

use super::detection::{Detection, Detector};
use super::layers::Skeleton;
use super::pipeline::{self, LoadOptions};
use super::{ModelError, ModelPaths};

/// facenet-pytorch's detection parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MtcnnConfig {
    /// Smallest face side looked for, pixels (the pyramid starts at 12 / this).
    pub min_face_size: f64,
    /// Score thresholds of P-Net (≥), R-Net and O-Net (>).
    pub thresholds: [f32; 3],
    /// Pyramid scale step, in (0, 1).
    pub factor: f64,
}

impl Default for MtcnnConfig {
    /// `MTCNN(min_face_size=20)`: thresholds 0.6, 0.7, 0.7, factor 0.709.
    fn default() -> Self {
        Self {
            min_face_size: 20.0,
            thresholds: [0.6, 0.7, 0.7],
            factor: 0.709,
        }
    }
}

/// R-Net and O-Net inputs per forward pass (facenet-pytorch's batch size).
const BATCH: usize = 512;
/// At most this many pyramid levels (a guard against a bad `factor`).
const MAX_SCALES: usize = 64;

/// Outputs of one net, host side, row-major: box regression `[N, 4(, H',
/// W')]`, face probability `[N, 2(, H', W')]` and (O-Net) landmarks `[N, 10]`.
#[derive(Debug, Clone, Default)]
pub struct NetOutput {
    /// Box regression.
    pub reg: Vec<f32>,
    /// Softmax of the face / not-face logits (channel 1 = face).
    pub prob: Vec<f32>,
    /// O-Net's landmarks, `x0‥x4, y0‥y4` relative to the box.
    pub landmarks: Vec<f32>,
    /// P-Net's map size `(H', W')`; `(1, 1)` for R-Net and O-Net.
    pub map: (usize, usize),
}

/// A candidate box `[x1, y1, x2, y2]` with its score and regression.
#[derive(Debug, Clone, Copy)]
struct Cand {
    b: [f32; 4],
    score: f32,
    reg: [f32; 4],
}

/// MTCNN on a burn device.
#[derive(Debug)]
pub struct MtcnnDetector {
    model: Mtcnn,
    device: Device,
    /// Settings used by [`Detector::detect`].
    pub config: MtcnnConfig,
}

impl Detector for MtcnnDetector {
    fn name(&self) -> &'static str {
        "mtcnn"
    }

    fn detect(&self, img: &RgbImage) -> Vec<Detection> {
        let mut faces: Vec<Detection> = self
            .detect_xyxy(img)
            .into_iter()
            .map(|(b, score, landmarks)| Detection {
                bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                landmarks,
                score,
            })
            .collect();
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        faces
    }
}

impl MtcnnDetector {
    /// Loads the `mtcnn` record from `paths`.
    pub fn load(paths: &ModelPaths, options: &LoadOptions) -> Result<Self, ModelError> {
        let device = options.backend.device()?;
        let skeleton = Mtcnn::build(&mut Skeleton, &mut Skeleton, &mut Skeleton, &device)?;
        let model = pipeline::record(skeleton, paths, "mtcnn", options)?;
        Ok(Self {
            model,
            device,
            config: MtcnnConfig::default(),
        })
    }

    /// A detector running `model` (already on `device`) with the defaults.
    pub fn from_model(model: Mtcnn, device: Device) -> Self {
        Self {
            model,
            device,
            config: MtcnnConfig::default(),
        }
    }

    /// P-Net on one normalised `[3, height, width]` input.
    pub fn pnet(&self, input: Vec<f32>, height: usize, width: usize) -> NetOutput {
        let x = Tensor::<4>::from_data(TensorData::new(input, [1, 3, height, width]), &self.device);
        let (reg, prob) = self.model.propose(x);
        let [_, _, h, w] = prob.dims();
        NetOutput {
            reg: host(reg),
            prob: host(prob),
            landmarks: Vec::new(),
            map: (h, w),
        }
    }

    /// R-Net (`size` 24) or O-Net (48) on normalised `[N, 3, size, size]`
    /// inputs, in batches.
    pub fn refine(&self, inputs: &[f32], size: usize) -> NetOutput {
        let per = 3 * size * size;
        let mut out = NetOutput {
            map: (1, 1),
            ..NetOutput::default()
        };
        for chunk in inputs.chunks(BATCH * per) {
            let n = chunk.len() / per;
            let x = Tensor::<4>::from_data(
                TensorData::new(chunk[..n * per].to_vec(), [n, 3, size, size]),
                &self.device,
            );
            let heads = if size == ONET_SIZE {
                self.model.output(x)
            } else {
                self.model.refine(x)
            };
            let mut heads = heads.into_iter().map(host);
            out.prob.extend(heads.next().unwrap_or_default());
            out.reg.extend(heads.next().unwrap_or_default());
            out.landmarks.extend(heads.next().unwrap_or_default());
        }
        out
    }

    /// The faces as facenet-pytorch's `MTCNN.detect(landmarks=True)` gives
    /// them (in NMS order): box `[x1, y1, x2, y2]`, O-Net score, 5 points.
    pub fn detect_xyxy(&self, img: &RgbImage) -> Vec<([f32; 4], f32, [[f32; 2]; 5])> {
        let c = &self.config;
        let boxes = self.propose(img);
        if boxes.is_empty() {
            return Vec::new();
        }
        // Stage 2: R-Net on the squared P-Net boxes.
        let (boxes, inputs) = crops(img, boxes, RNET_SIZE);
        let out = self.refine(&inputs, RNET_SIZE);
        let mut cands = Vec::new();
        for (k, b) in boxes.iter().enumerate() {
            let (Some(score), Some(reg)) = (out.prob.get(2 * k + 1), out.reg.get(4 * k..4 * k + 4))
            else {
                break;
            };
            if *score > c.thresholds[1] {
                cands.push(Cand {
                    b: b.b,
                    score: *score,
                    reg: [reg[0], reg[1], reg[2], reg[3]],
                });
            }
        }
        let boxes: Vec<Cand> = nms(&cands, 0.7)
            .into_iter()
            .map(|i| rerec(bbreg(cands[i])))
            .collect();
        if boxes.is_empty() {
            return Vec::new();
        }
        // Stage 3: O-Net, landmarks, final regression and "Min" NMS.
        let (boxes, inputs) = crops(img, boxes, ONET_SIZE);
        let out = self.refine(&inputs, ONET_SIZE);
        let mut faces = Vec::new();
        for (k, b) in boxes.iter().enumerate() {
            let (Some(score), Some(reg), Some(lm)) = (
                out.prob.get(2 * k + 1),
                out.reg.get(4 * k..4 * k + 4),
                out.landmarks.get(10 * k..10 * k + 10),
            ) else {
                break;
            };
            if *score <= c.thresholds[2] {
                continue;
            }
            let [x1, y1, x2, y2] = b.b;
            let (wi, hi) = (x2 - x1 + 1.0, y2 - y1 + 1.0);
            let points =
                std::array::from_fn(|i| [wi * lm[i] + x1 - 1.0, hi * lm[5 + i] + y1 - 1.0]);
            let cand = bbreg(Cand {
                b: b.b,
                score: *score,
                reg: [reg[0], reg[1], reg[2], reg[3]],
            });
            faces.push((cand, points));
        }
        let cands: Vec<Cand> = faces.iter().map(|f| f.0).collect();
        nms_min(&cands, 0.7)
            .into_iter()
            .map(|i| (faces[i].0.b, faces[i].0.score, faces[i].1))
            .collect()
    }

    /// Stage 1: P-Net over the pyramid; the regressed, squared boxes.
    fn propose(&self, img: &RgbImage) -> Vec<Cand> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let c = &self.config;
        let mut all = Vec::new();
        for scale in pyramid(w, h, c) {
            let (hs, ws) = (
                (h as f64 * scale + 1.0) as usize,
                (w as f64 * scale + 1.0) as usize,
            );
            let mut input = Vec::with_capacity(3 * hs * ws);
            area_resize(img, [0, 0, w, h], hs, ws, &mut input);
            let out = self.pnet(input, hs, ws);
            let (mh, mw) = out.map;
            let cells = mh * mw;
            if out.prob.len() != 2 * cells || out.reg.len() != 4 * cells {
                continue;
            }
            let s = scale as f32;
            let mut cands = Vec::new();
            for i in 0..cells {
                let score = out.prob[cells + i];
                if score < c.thresholds[0] {
                    continue;
                }
                let (y, x) = ((i / mw) as f32, (i % mw) as f32);
                cands.push(Cand {
                    b: [
                        ((2.0 * x + 1.0) / s).floor(),
                        ((2.0 * y + 1.0) / s).floor(),
                        ((2.0 * x + 12.0) / s).floor(),
                        ((2.0 * y + 12.0) / s).floor(),
                    ],
                    score,
                    reg: std::array::from_fn(|k| out.reg[k * cells + i]),
                });
            }
            all.extend(nms(&cands, 0.5).into_iter().map(|i| cands[i]));
        }
        nms(&all, 0.7)
            .into_iter()
            .map(|i| {
                let Cand { b, score, reg } = all[i];
                let (rw, rh) = (b[2] - b[0], b[3] - b[1]);
                rerec(Cand {
                    b: [
                        b[0] + reg[0] * rw,
                        b[1] + reg[1] * rh,
                        b[2] + reg[2] * rw,
                        b[3] + reg[3] * rh,
                    ],
                    score,
                    reg,
                })
            })
            .collect()
    }
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap_or_default()
}

/// The pyramid's scales: 12 / min_face, then × factor while the short side
/// stays ≥ 12 (f64, as Python computes it).
pub fn pyramid(width: usize, height: usize, c: &MtcnnConfig) -> Vec<f64> {
    let m = 12.0 / c.min_face_size;
    let mut minl = width.min(height) as f64 * m;
    let mut scale = m;
    let mut out = Vec::new();
    while minl >= 12.0 && out.len() < MAX_SCALES && scale.is_finite() {
        out.push(scale);
        scale *= c.factor;
        minl *= c.factor;
    }
    out
}

/// torch's `interpolate(mode="area")` (adaptive average pooling) of the
/// region `[x0, y0, w, h]` of `img` to `oh × ow`, normalised as
/// `(v − 127.5) · 0.0078125` and appended to `out` as `[3, oh, ow]`. Output
/// pixel i averages input `[⌊i·in/out⌋, ⌈(i+1)·in/out⌉)`; the sums are exact
/// integers, divided by the window's height then width, as torch does.
pub fn area_resize(img: &RgbImage, region: [usize; 4], oh: usize, ow: usize, out: &mut Vec<f32>) {
    let [x0, y0, cw, ch] = region;
    let bins = |n_in: usize, n_out: usize| -> Vec<(usize, usize)> {
        (0..n_out)
            .map(|i| (i * n_in / n_out, ((i + 1) * n_in).div_ceil(n_out)))
            .collect()
    };
    let (rows, cols) = (bins(ch, oh), bins(cw, ow));
    let stride = img.width() as usize * 3;
    let raw = img.as_raw();
    let base = out.len();
    out.resize(base + 3 * oh * ow, 0.0);
    let mut colsum = vec![0u32; cw * 3];
    for (i, &(a, b)) in rows.iter().enumerate() {
        colsum.fill(0);
        for y in a..b {
            let start = (y0 + y) * stride + x0 * 3;
            let Some(row) = raw.get(start..start + cw * 3) else {
                continue;
            };
            for (s, &p) in colsum.iter_mut().zip(row) {
                *s += u32::from(p);
            }
        }
        let kh = (b - a) as f32;
        for (j, &(c0, c1)) in cols.iter().enumerate() {
            let kw = (c1 - c0) as f32;
            for c in 0..3 {
                let sum: u32 = (c0..c1).map(|x| colsum[x * 3 + c]).sum();
                out[base + (c * oh + i) * ow + j] = (sum as f32 / kh / kw - 127.5) * 0.007_812_5;
            }
        }
    }
}

/// The crops of `boxes` (facenet-pytorch's `pad`: truncated box, clipped to
/// the image, 1-based) resized to `size`; boxes with an empty crop are
/// dropped. Returns the kept boxes and their inputs `[N, 3, size, size]`.
fn crops(img: &RgbImage, boxes: Vec<Cand>, size: usize) -> (Vec<Cand>, Vec<f32>) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let mut inputs = Vec::with_capacity(boxes.len() * 3 * size * size);
    let mut kept = Vec::with_capacity(boxes.len());
    for cand in boxes {
        let t = cand.b.map(|v| v.trunc() as i64);
        let (x1, y1) = (t[0].max(1), t[1].max(1));
        let (x2, y2) = (t[2].min(w), t[3].min(h));
        if y2 > y1 - 1 && x2 > x1 - 1 {
            let region = [x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1].map(|v| v as usize);
            area_resize(img, region, size, size, &mut inputs);
            kept.push(cand);
        }
    }
    (kept, inputs)
}

/// `rerec`: the square of side max(w, h) on the box's centre.
fn rerec(mut c: Cand) -> Cand {
    let [x1, y1, x2, y2] = c.b;
    let (w, h) = (x2 - x1, y2 - y1);
    let l = w.max(h);
    let (nx, ny) = (x1 + w * 0.5 - l * 0.5, y1 + h * 0.5 - l * 0.5);
    c.b = [nx, ny, nx + l, ny + l];
    c
}

/// `bbreg`: the regression relative to the 1-based size `x2 − x1 + 1`.
fn bbreg(mut c: Cand) -> Cand {
    let [x1, y1, x2, y2] = c.b;
    let (w, h) = (x2 - x1 + 1.0, y2 - y1 + 1.0);
    let r = c.reg;
    c.b = [x1 + r[0] * w, y1 + r[1] * h, x2 + r[2] * w, y2 + r[3] * h];
    c
}

/// Indices by descending score, ties in input order.
fn by_score(cands: &[Cand]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_by(|&a, &b| cands[b].score.total_cmp(&cands[a].score));
    order
}

/// torchvision's `nms`: greedy by score, IoU with areas `(x2 − x1)(y2 − y1)`,
/// suppressing IoU > `thr`. Returns the kept indices, best first.
fn nms(cands: &[Cand], thr: f64) -> Vec<usize> {
    let area = |c: &Cand| (c.b[2] - c.b[0]) * (c.b[3] - c.b[1]);
    greedy(cands, |a, b| {
        let w = (a.b[2].min(b.b[2]) - a.b[0].max(b.b[0])).max(0.0);
        let h = (a.b[3].min(b.b[3]) - a.b[1].max(b.b[1])).max(0.0);
        let inter = w * h;
        f64::from(inter / (area(a) + area(b) - inter)) > thr
    })
}

/// facenet-pytorch's `nms_numpy(…, "Min")`: +1 sizes, intersection over the
/// smaller area, keeping `o ≤ thr` only.
fn nms_min(cands: &[Cand], thr: f32) -> Vec<usize> {
    let area = |c: &Cand| (c.b[2] - c.b[0] + 1.0) * (c.b[3] - c.b[1] + 1.0);
    greedy(cands, |a, b| {
        let w = (a.b[2].min(b.b[2]) - a.b[0].max(b.b[0]) + 1.0).max(0.0);
        let h = (a.b[3].min(b.b[3]) - a.b[1].max(b.b[1]) + 1.0).max(0.0);
        let o = w * h / area(a).min(area(b));
        o.is_nan() || o > thr
    })
}

/// Greedy suppression: the best remaining box is kept and removes every
/// later one for which `suppress(kept, other)`.
fn greedy(cands: &[Cand], suppress: impl Fn(&Cand, &Cand) -> bool) -> Vec<usize> {
    let order = by_score(cands);
    let mut dead = vec![false; cands.len()];
    let mut keep = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        if dead[i] {
            continue;
        }
        keep.push(i);
        for &j in &order[pos + 1..] {
            if !dead[j] && suppress(&cands[i], &cands[j]) {
                dead[j] = true;
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_of_640x480_has_ten_scales() {
        let s = pyramid(640, 480, &MtcnnConfig::default());
        assert_eq!(s.len(), 10);
        assert_eq!(s[0], 0.6);
        assert!(pyramid(19, 100, &MtcnnConfig::default()).is_empty());
    }

    #[test]
    fn area_resize_averages_overlapping_bins() {
        // 3 → 2 columns: bins [0, 2) and [1, 3).
        let img = RgbImage::from_fn(3, 1, |x, _| image::Rgb([[0, 100, 200][x as usize]; 3]));
        let mut out = Vec::new();
        area_resize(&img, [0, 0, 3, 1], 1, 2, &mut out);
        let px: Vec<f32> = out.iter().map(|v| v / 0.007_812_5 + 127.5).collect();
        assert_eq!(px, [50.0, 150.0, 50.0, 150.0, 50.0, 150.0]);
    }

    #[test]
    fn min_nms_drops_a_box_inside_a_better_one() {
        let c = |b: [f32; 4], score| Cand {
            b,
            score,
            reg: [0.0; 4],
        };
        let cands = [
            c([0.0, 0.0, 9.0, 9.0], 0.8),
            c([2.0, 2.0, 5.0, 5.0], 0.7),
            c([2.0, 2.0, 5.0, 5.0], 0.9),
        ];
        // IoU 9/81 keeps the large box; "Min" (16/16 with +1 sizes) does not.
        assert_eq!(nms(&cands, 0.7), [2, 0]);
        assert_eq!(nms_min(&cands, 0.7), [2]);
    }
}
