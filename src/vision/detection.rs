//! What a face detector returns, the [`Detector`] trait every detector
//! implements, and the shared non-maximum suppression.

use image::RgbImage;
use serde::{Deserialize, Serialize};

/// A face detector: boxes, scores and five landmarks in the coordinates of
/// the image given, best score first.
pub trait Detector: std::fmt::Debug {
    /// Its name, as `--detector` and `[vision] detector` spell it.
    fn name(&self) -> &'static str;
    /// Every face found in `img`, best score first.
    fn detect(&self, img: &RgbImage) -> Vec<Detection>;
}

/// A detected face in original image coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Box `[x, y, width, height]`.
    pub bbox: [f32; 4],
    /// Right eye, left eye, nose tip, right and left mouth corners.
    pub landmarks: [[f32; 2]; 5],
    /// Score in 0..1.
    pub score: f32,
}

impl Detection {
    /// Box area in pixels².
    pub fn area(&self) -> f32 {
        self.bbox[2].max(0.0) * self.bbox[3].max(0.0)
    }

    /// The largest of `faces` by box area.
    pub fn largest(faces: &[Detection]) -> Option<&Detection> {
        faces.iter().max_by(|a, b| a.area().total_cmp(&b.area()))
    }

    /// Distance between the eye centres in pixels.
    pub fn eye_distance(&self) -> f32 {
        let [r, l] = [self.landmarks[0], self.landmarks[1]];
        ((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2)).sqrt()
    }
}

/// Greedy non-maximum suppression, best score first.
pub fn nms(mut faces: Vec<Detection>, iou_threshold: f32, top_k: usize) -> Vec<Detection> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    faces.truncate(top_k);
    let mut kept: Vec<Detection> = Vec::new();
    for f in faces {
        if kept.iter().all(|k| iou(&k.bbox, &f.bbox) <= iou_threshold) {
            kept.push(f);
        }
    }
    kept
}

/// Intersection over union of two `[x, y, w, h]` boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let iy = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    let inter = ix.max(0.0) * iy.max(0.0);
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, score: f32) -> Detection {
        Detection {
            bbox: [x, 0.0, 10.0, 10.0],
            landmarks: [[0.0; 2]; 5],
            score,
        }
    }

    #[test]
    fn nms_keeps_best_of_overlapping_boxes() {
        let kept = nms(
            vec![face(0.0, 0.8), face(1.0, 0.95), face(50.0, 0.9)],
            0.3,
            10,
        );
        let scores: Vec<f32> = kept.iter().map(|f| f.score).collect();
        assert_eq!(scores, vec![0.95, 0.9]);
    }

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 4.0, 4.0], &[0.0, 0.0, 4.0, 4.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 4.0, 4.0], &[5.0, 5.0, 4.0, 4.0]), 0.0);
        assert!((iou(&[0.0, 0.0, 4.0, 4.0], &[2.0, 0.0, 4.0, 4.0]) - 8.0 / 24.0).abs() < 1e-6);
    }
}
