//! Face detection with YuNet: preprocessing, the network, box decoding and NMS.

pub mod loader;
pub mod model;

use burn::prelude::*;
use image::RgbImage;
use image::imageops::FilterType;
use serde::{Deserialize, Serialize};

use super::detection::{Detection, Detector, nms};
use super::layers::Skeleton;
use super::pipeline::{self, LoadOptions};
use super::{ModelError, ModelPaths};
pub use model::YuNet;
use model::{HEAD_CHANNELS, STRIDES};

/// Detector settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Largest network input width; images are scaled down to fit (never up).
    pub input_width: u32,
    /// Largest network input height.
    pub input_height: u32,
    /// Minimum face score, `sqrt(class * objectness)`.
    pub score_threshold: f32,
    /// IoU above which the lower-scoring of two boxes is dropped.
    pub nms_threshold: f32,
    /// Candidates kept before NMS, best first.
    pub top_k: usize,
    /// Faces narrower than this (pixels, in the original image) are dropped.
    pub min_face_size: f32,
}

impl Default for DetectorConfig {
    /// OpenCV Zoo's YuNet defaults (score 0.9, NMS 0.3, top-K 5000) at 640×480.
    fn default() -> Self {
        Self {
            input_width: 640,
            input_height: 480,
            score_threshold: 0.9,
            nms_threshold: 0.3,
            top_k: 5000,
            min_face_size: 0.0,
        }
    }
}

/// The network input for one image: BGR planes, padded to multiples of 32.
#[derive(Debug, Clone)]
pub struct DetectorInput {
    /// `[3, height, width]`, BGR, 0–255.
    pub bgr: Vec<f32>,
    /// Padded width (multiple of 32).
    pub width: usize,
    /// Padded height (multiple of 32).
    pub height: usize,
    /// Original pixels per network pixel.
    pub scale: f32,
}

impl DetectorInput {
    /// Scales `img` to fit `config`'s input size (down only) and pads it with
    /// zeros on the right and bottom to multiples of 32.
    pub fn new(img: &RgbImage, config: &DetectorConfig) -> Self {
        let (w, h) = (img.width().max(1), img.height().max(1));
        let fit = (config.input_width as f32 / w as f32)
            .min(config.input_height as f32 / h as f32)
            .min(1.0);
        if fit == 0.5 && w % 2 == 0 && h % 2 == 0 {
            return Self::halved(img);
        }
        let resized;
        let src = if fit < 1.0 {
            let nw = ((w as f32 * fit).round() as u32).max(1);
            let nh = ((h as f32 * fit).round() as u32).max(1);
            resized = image::imageops::resize(img, nw, nh, FilterType::Triangle);
            &resized
        } else {
            img
        };
        let (sw, sh) = (src.width() as usize, src.height() as usize);
        let width = sw.div_ceil(32) * 32;
        let height = sh.div_ceil(32) * 32;
        let plane = width * height;
        let mut bgr = vec![0.0f32; 3 * plane];
        for (y, row) in src.as_raw().chunks_exact(sw * 3).enumerate() {
            for (x, px) in row.chunks_exact(3).enumerate() {
                let i = y * width + x;
                bgr[i] = f32::from(px[2]);
                bgr[plane + i] = f32::from(px[1]);
                bgr[2 * plane + i] = f32::from(px[0]);
            }
        }
        Self {
            bgr,
            width,
            height,
            // Exact ratio of the two sizes, as the coordinates were rounded.
            scale: w as f32 / sw as f32,
        }
    }
}

impl DetectorInput {
    /// The common camera case (640×480 detected at 320×240): each input pixel
    /// is the mean of a 2×2 block, ~10× faster than a general resize.
    fn halved(img: &RgbImage) -> Self {
        let (sw, sh) = (img.width() as usize / 2, img.height() as usize / 2);
        let (width, height) = (sw.div_ceil(32) * 32, sh.div_ceil(32) * 32);
        let plane = width * height;
        let mut bgr = vec![0.0f32; 3 * plane];
        let stride = img.width() as usize * 3;
        for (y, rows) in img.as_raw().chunks_exact(2 * stride).enumerate() {
            let (r0, r1) = rows.split_at(stride);
            for x in 0..sw {
                let i = y * width + x;
                for (c, out) in [2usize, 1, 0].into_iter().enumerate() {
                    let at = 6 * x + out;
                    let sum = u16::from(r0[at])
                        + u16::from(r0[at + 3])
                        + u16::from(r1[at])
                        + u16::from(r1[at + 3]);
                    bgr[c * plane + i] = f32::from(sum) * 0.25;
                }
            }
        }
        Self {
            bgr,
            width,
            height,
            scale: 2.0,
        }
    }
}

/// YuNet on a burn device.
#[derive(Debug)]
pub struct YuNetDetector {
    model: YuNet,
    device: Device,
    /// Settings used by [`Detector::detect`].
    pub config: DetectorConfig,
}

impl Detector for YuNetDetector {
    fn name(&self) -> &'static str {
        "yunet"
    }

    fn detect(&self, img: &RgbImage) -> Vec<Detection> {
        YuNetDetector::detect(self, img)
    }
}

impl YuNetDetector {
    /// Loads the record from `paths`.
    pub fn load(paths: &ModelPaths, options: &LoadOptions) -> Result<Self, ModelError> {
        let device = options.backend.device()?;
        let skeleton = YuNet::build(&mut Skeleton, &device)?;
        let model = pipeline::record(skeleton, paths, "yunet", options)?;
        Ok(Self::new(model, device, options.yunet))
    }

    /// Wraps a loaded network.
    pub fn new(model: YuNet, device: Device, config: DetectorConfig) -> Self {
        Self {
            model,
            device,
            config,
        }
    }

    /// Detects faces, best score first.
    pub fn detect(&self, img: &RgbImage) -> Vec<Detection> {
        let input = DetectorInput::new(img, &self.config);
        let (width, height, scale) = (input.width, input.height, input.scale);
        let maps = self.run(input);
        let mut faces = decode(&maps, width, height, scale, &self.config);
        faces.retain(|f| f.bbox[2] >= self.config.min_face_size);
        faces
    }

    /// Runs the network: one `[16, H/s, W/s]` map per stride, sigmoid applied to
    /// the class and objectness channels.
    pub fn run(&self, input: DetectorInput) -> Vec<Vec<f32>> {
        let x = Tensor::<4>::from_data(
            TensorData::new(input.bgr, [1, 3, input.height, input.width]),
            &self.device,
        );
        self.model
            .forward(x)
            .into_iter()
            .map(|t| {
                let mut v = t.into_data().try_into_vec::<f32>().unwrap_or_default();
                let cells = v.len() / HEAD_CHANNELS;
                for x in &mut v[..2 * cells] {
                    *x = 1.0 / (1.0 + (-*x).exp());
                }
                v
            })
            .collect()
    }
}

/// Decodes the per-stride maps of a `width` × `height` network input into
/// faces (OpenCV's `FaceDetectorYN` post-processing), then applies NMS and maps
/// back to original coordinates (`scale` original pixels per input pixel).
pub fn decode(
    maps: &[Vec<f32>],
    width: usize,
    height: usize,
    scale: f32,
    config: &DetectorConfig,
) -> Vec<Detection> {
    let mut faces = Vec::new();
    for (map, &stride) in maps.iter().zip(&STRIDES) {
        let (cols, rows) = (width / stride, height / stride);
        let cells = cols * rows;
        if map.len() != HEAD_CHANNELS * cells {
            continue;
        }
        let ch = |c: usize, i: usize| map[c * cells + i];
        let s = stride as f32;
        for r in 0..rows {
            for c in 0..cols {
                let i = r * cols + c;
                let score = (ch(0, i).clamp(0.0, 1.0) * ch(1, i).clamp(0.0, 1.0)).sqrt();
                if score < config.score_threshold {
                    continue;
                }
                let (cx, cy) = ((c as f32 + ch(2, i)) * s, (r as f32 + ch(3, i)) * s);
                let (w, h) = (ch(4, i).exp() * s, ch(5, i).exp() * s);
                let mut landmarks = [[0.0; 2]; 5];
                for (k, lm) in landmarks.iter_mut().enumerate() {
                    *lm = [
                        (ch(6 + 2 * k, i) + c as f32) * s,
                        (ch(7 + 2 * k, i) + r as f32) * s,
                    ];
                }
                faces.push(Detection {
                    bbox: [cx - w / 2.0, cy - h / 2.0, w, h],
                    landmarks,
                    score,
                });
            }
        }
    }
    let mut kept = nms(faces, config.nms_threshold, config.top_k);
    for f in &mut kept {
        f.bbox.iter_mut().for_each(|v| *v *= scale);
        f.landmarks.iter_mut().flatten().for_each(|v| *v *= scale);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_2x2_blocks_into_bgr_planes() {
        let img = RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 7) as u8])
        });
        let config = DetectorConfig {
            input_width: 320,
            input_height: 240,
            ..Default::default()
        };
        let input = DetectorInput::new(&img, &config);
        assert_eq!((input.width, input.height, input.scale), (320, 256, 2.0));
        let plane = input.width * input.height;
        let at = |x: u32, y: u32, c: usize| f32::from(img.get_pixel(x, y)[c]);
        for (x, y) in [(0u32, 0u32), (17, 5), (319, 239)] {
            let i = y as usize * input.width + x as usize;
            for (p, c) in [(0, 2), (1, 1), (2, 0)] {
                let want = (at(2 * x, 2 * y, c)
                    + at(2 * x + 1, 2 * y, c)
                    + at(2 * x, 2 * y + 1, c)
                    + at(2 * x + 1, 2 * y + 1, c))
                    / 4.0;
                assert_eq!(input.bgr[p * plane + i], want, "({x}, {y}) plane {p}");
            }
        }
        // Padding rows stay zero.
        assert_eq!(input.bgr[240 * input.width], 0.0);
    }

    #[test]
    fn input_pads_to_multiples_of_32_and_scales_down_only() {
        let cfg = DetectorConfig::default();
        let small = DetectorInput::new(&RgbImage::new(150, 100), &cfg);
        assert_eq!((small.width, small.height, small.scale), (160, 128, 1.0));
        let big = DetectorInput::new(&RgbImage::new(1280, 960), &cfg);
        assert_eq!((big.width, big.height, big.scale), (640, 480, 2.0));
    }
}
