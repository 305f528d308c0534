//! Face detection with RetinaFace (MobileNet-0.25): the seed's recognition
//! detector. Preprocessing as YuNet's (scaled to fit the input size, padded
//! to multiples of 32, BGR), then priors, variance decoding and NMS as in
//! biubug6's `detect.py`.

pub mod loader;
pub mod model;

use burn::prelude::*;
use image::RgbImage;

pub use model::RetinaFace;
use model::{ANCHORS, STRIDES};

use super::detection::{Detection, Detector, nms};
use super::layers::Skeleton;
use super::pipeline::{self, LoadOptions};
use super::yunet::{DetectorConfig, DetectorInput};
use super::{ModelError, ModelPaths};

/// Prior box sizes per level (pixels), two anchors each.
pub const MIN_SIZES: [[f32; ANCHORS]; 3] = [[16.0, 32.0], [64.0, 128.0], [256.0, 512.0]];
/// Box-centre and size variances of the encoding.
pub const VARIANCE: [f32; 2] = [0.1, 0.2];

/// The head outputs of one level, host side: `[class, box, landmarks]`
/// maps, channel-major (`[2·k, rows, cols]`).
#[derive(Debug, Clone)]
pub struct LevelMaps {
    /// Cells across.
    pub cols: usize,
    /// Cells down.
    pub rows: usize,
    /// Class logits, box and landmark regressions.
    pub maps: [Vec<f32>; 3],
}

/// RetinaFace on a burn device.
#[derive(Debug)]
pub struct RetinaFaceDetector {
    model: RetinaFace,
    device: Device,
    /// Settings used by [`Detector::detect`].
    pub config: DetectorConfig,
}

impl Detector for RetinaFaceDetector {
    fn name(&self) -> &'static str {
        "retinaface"
    }

    fn detect(&self, img: &RgbImage) -> Vec<Detection> {
        let input = DetectorInput::new(img, &self.config);
        let scale = input.scale;
        let levels = self.run(input);
        let mut faces = decode(&levels, &self.config);
        for f in &mut faces {
            f.bbox.iter_mut().for_each(|v| *v *= scale);
            f.landmarks.iter_mut().flatten().for_each(|v| *v *= scale);
        }
        faces.retain(|f| f.bbox[2] >= self.config.min_face_size);
        faces
    }
}

impl RetinaFaceDetector {
    /// Loads the record from `paths`.
    pub fn load(paths: &ModelPaths, options: &LoadOptions) -> Result<Self, ModelError> {
        let device = options.backend.device()?;
        let skeleton = RetinaFace::build(&mut Skeleton, &device)?;
        let model = pipeline::record(skeleton, paths, "retinaface", options)?;
        Ok(Self {
            model,
            device,
            config: options.yunet,
        })
    }

    /// Runs the network on a prepared input.
    pub fn run(&self, input: DetectorInput) -> Vec<LevelMaps> {
        let x = Tensor::<4>::from_data(
            TensorData::new(input.bgr, [1, 3, input.height, input.width]),
            &self.device,
        );
        self.model
            .forward(x)
            .into_iter()
            .zip(STRIDES)
            .map(|(maps, s)| LevelMaps {
                cols: input.width / s,
                rows: input.height / s,
                maps: maps.map(|t| t.into_data().try_into_vec::<f32>().unwrap_or_default()),
            })
            .collect()
    }
}

/// Decodes the head maps into faces in network-input pixels: face score =
/// softmax of the class logits, box and landmarks relative to each prior.
pub fn decode(levels: &[LevelMaps], config: &DetectorConfig) -> Vec<Detection> {
    let [vc, vs] = VARIANCE;
    let mut faces = Vec::new();
    for (level, (l, &stride)) in levels.iter().zip(&STRIDES).enumerate() {
        let cells = l.rows * l.cols;
        let [class, boxes, marks] = &l.maps;
        if class.len() != ANCHORS * 2 * cells
            || boxes.len() != ANCHORS * 4 * cells
            || marks.len() != ANCHORS * 10 * cells
        {
            continue;
        }
        let s = stride as f32;
        for i in 0..cells {
            let (r, c) = (i / l.cols, i % l.cols);
            let (cx, cy) = ((c as f32 + 0.5) * s, (r as f32 + 0.5) * s);
            for (a, &size) in MIN_SIZES[level].iter().enumerate() {
                let at = |map: &[f32], k: usize, j: usize| map[(a * k + j) * cells + i];
                let (bg, face) = (at(class, 2, 0), at(class, 2, 1));
                let score = 1.0 / (1.0 + (bg - face).exp());
                if score < config.score_threshold {
                    continue;
                }
                let (x, y) = (
                    cx + at(boxes, 4, 0) * vc * size,
                    cy + at(boxes, 4, 1) * vc * size,
                );
                let (w, h) = (
                    size * (at(boxes, 4, 2) * vs).exp(),
                    size * (at(boxes, 4, 3) * vs).exp(),
                );
                let mut landmarks = [[0.0; 2]; 5];
                for (k, lm) in landmarks.iter_mut().enumerate() {
                    *lm = [
                        cx + at(marks, 10, 2 * k) * vc * size,
                        cy + at(marks, 10, 2 * k + 1) * vc * size,
                    ];
                }
                faces.push(Detection {
                    bbox: [x - w / 2.0, y - h / 2.0, w, h],
                    landmarks,
                    score,
                });
            }
        }
    }
    nms(faces, config.nms_threshold, config.top_k)
}

/// The maps as the ONNX export's `loc`, `conf` (softmax) and `landmarks`
/// outputs: `[priors, 4 | 2 | 10]`, priors ordered by level, cell, anchor.
pub fn as_onnx_outputs(levels: &[LevelMaps]) -> [Vec<f32>; 3] {
    let mut out: [Vec<f32>; 3] = Default::default();
    for l in levels {
        let cells = l.rows * l.cols;
        for i in 0..cells {
            for a in 0..ANCHORS {
                let at = |m: usize, k: usize, j: usize| l.maps[m][(a * k + j) * cells + i];
                out[0].extend((0..4).map(|j| at(1, 4, j)));
                let (bg, face) = (at(0, 2, 0), at(0, 2, 1));
                let p = 1.0 / (1.0 + (bg - face).exp());
                out[1].extend([1.0 - p, p]);
                out[2].extend((0..10).map(|j| at(2, 10, j)));
            }
        }
    }
    out
}
