//! Flip-averaged embeddings (`[vision] flip = true`, `--flip`): each crop is
//! embedded as it is and mirrored left to right, and the two unit embeddings
//! are summed (the result is normalised as every embedding is). A common
//! test-time trick for face recognition, at twice the embedder's cost per
//! face; README *Accuracy* has what it measured on LFW.

use image::RgbImage;

use super::align::AlignedFace;
use super::detection::Detection;
use super::embedding::{Embedder, EmbedderInfo, Embedding};

/// An embedder whose embeddings are averaged with those of the mirrored crop.
#[derive(Debug)]
pub struct FlipAveraged(pub Box<dyn Embedder>);

/// `crop` mirrored left to right (and the other members' crops with it).
pub fn mirrored(crop: &AlignedFace) -> AlignedFace {
    let n = crop.size;
    let bgr = if crop.bgr.len() == 3 * n * n {
        crop.bgr
            .chunks_exact(n)
            .flat_map(|row| row.iter().rev().copied())
            .collect()
    } else {
        crop.bgr.clone()
    };
    AlignedFace {
        size: n,
        bgr,
        more: crop.more.iter().map(mirrored).collect(),
    }
}

impl Embedder for FlipAveraged {
    fn info(&self) -> &'static EmbedderInfo {
        self.0.info()
    }

    fn align(&self, img: &RgbImage, face: &Detection) -> Option<AlignedFace> {
        self.0.align(img, face)
    }

    /// The sum of the crop's and its mirror's unit embeddings.
    fn run(&self, crops: &[AlignedFace]) -> Vec<Vec<f32>> {
        let both: Vec<AlignedFace> = crops
            .iter()
            .cloned()
            .chain(crops.iter().map(mirrored))
            .collect();
        let out = self.0.embed(&both);
        if out.len() != both.len() {
            return Vec::new();
        }
        let (plain, flipped) = out.split_at(crops.len());
        plain
            .iter()
            .zip(flipped)
            .map(|(Embedding(a), Embedding(b))| a.iter().zip(b).map(|(x, y)| x + y).collect())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::Metric;

    static INFO: EmbedderInfo = EmbedderInfo {
        name: "rows",
        model_id: "rows",
        weights_sha256: [0; 32],
        dim: 2,
        metric: Metric::Cosine,
        default_threshold: 0.5,
        min_threshold: 0.0,
    };

    /// Embeds a 2×2 crop as its blue plane's first row.
    #[derive(Debug)]
    struct FirstRow;
    impl Embedder for FirstRow {
        fn info(&self) -> &'static EmbedderInfo {
            &INFO
        }
        fn align(&self, _: &RgbImage, _: &Detection) -> Option<AlignedFace> {
            None
        }
        fn run(&self, crops: &[AlignedFace]) -> Vec<Vec<f32>> {
            crops.iter().map(|c| c.bgr[..2].to_vec()).collect()
        }
    }

    #[test]
    fn mirror_reverses_every_row_of_every_plane() {
        let crop = AlignedFace {
            size: 2,
            bgr: (0..12).map(|v| v as f32).collect(),
            more: Vec::new(),
        };
        let m = mirrored(&crop);
        assert_eq!(m.bgr, [1., 0., 3., 2., 5., 4., 7., 6., 9., 8., 11., 10.]);
        assert_eq!(mirrored(&m), crop);
    }

    #[test]
    fn embedding_is_the_sum_of_both_unit_embeddings() {
        let crop = AlignedFace {
            size: 2,
            bgr: vec![3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            more: Vec::new(),
        };
        let e = FlipAveraged(Box::new(FirstRow)).embed(&[crop]);
        // (0.6, 0.8) + (0.8, 0.6), normalised.
        let s = 1.4 / (2.0f32 * 1.4 * 1.4).sqrt();
        assert!(
            (e[0].0[0] - s).abs() < 1e-6 && (e[0].0[1] - s).abs() < 1e-6,
            "{e:?}"
        );
    }
}
