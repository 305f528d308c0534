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

    /// The one of `faces` whose box centre is nearest the image's centre
    /// (`width` × `height`): LFW's convention for its subject.
    pub fn central(faces: &[Detection], width: u32, height: u32) -> Option<&Detection> {
        let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
        let d2 = |d: &Detection| {
            let [x, y, w, h] = d.bbox;
            (x + w / 2.0 - cx).powi(2) + (y + h / 2.0 - cy).powi(2)
        };
        faces.iter().min_by(|a, b| d2(a).total_cmp(&d2(b)))
    }

    /// Distance between the eye centres in pixels.
    pub fn eye_distance(&self) -> f32 {
        let [r, l] = [self.landmarks[0], self.landmarks[1]];
        ((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2)).sqrt()
    }
}

/// Which face of a photo is its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subject {
    /// The largest (enrolment, the door: the person nearest the camera).
    #[default]
    Largest,
    /// The one nearest the centre (LFW's convention: its photos are centred
    /// on their subject, others often beside).
    Central,
}

impl Subject {
    /// The subject among `faces` of a `width` × `height` image.
    pub fn pick(self, faces: &[Detection], width: u32, height: u32) -> Option<&Detection> {
        match self {
            Subject::Largest => Detection::largest(faces),
            Subject::Central => Detection::central(faces, width, height),
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Subject::Largest => "largest",
            Subject::Central => "central",
        })
    }
}

impl std::str::FromStr for Subject {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "largest" => Ok(Subject::Largest),
            "central" => Ok(Subject::Central),
            _ => Err(format!("{s:?}: largest or central")),
        }
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
    fn the_subject_is_the_largest_or_the_central_face() {
        // A big face at the left edge beside a smaller one in the centre of
        // a 250×250 photo (LFW's two-people photos).
        let big = Detection {
            bbox: [0.0, 60.0, 120.0, 120.0],
            landmarks: [[0.0; 2]; 5],
            score: 0.99,
        };
        let centre = Detection {
            bbox: [95.0, 95.0, 60.0, 60.0],
            landmarks: [[0.0; 2]; 5],
            score: 0.95,
        };
        let faces = [big, centre];
        assert_eq!(Subject::Largest.pick(&faces, 250, 250), Some(&big));
        assert_eq!(Subject::Central.pick(&faces, 250, 250), Some(&centre));
        assert_eq!(Subject::Central.pick(&[], 250, 250), None);
        assert_eq!("central".parse(), Ok(Subject::Central));
        assert!("middle".parse::<Subject>().is_err());
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
