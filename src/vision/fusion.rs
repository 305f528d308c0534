//! Score-level fusion of several embedders (`--embedder sface+dlib`): the
//! fused score of two faces is a weighted mean of the members' cosines,
//! `Σ wᵢ cosᵢ` with `Σ wᵢ = 1`.
//!
//! The rule is carried by the template itself: a fused embedding is the
//! members' unit embeddings side by side, each scaled by `√wᵢ`, so it is a unit
//! vector whose dot product with another is exactly the weighted mean. The
//! gallery, its int8 index and the 1:N search need nothing new, and every
//! member's template is stored (in its slice of the vector). The weights are
//! Fisher's discriminant of the members' scores on LFW View 2 folds 4–10,
//! checked by leave-one-fold-out cross-validation (`scripts/fusion_cv.py`,
//! README *Accuracy*); a gallery's model id names them, so a gallery made
//! under other weights is refused.

use image::RgbImage;

use super::align::AlignedFace;
use super::detection::Detection;
use super::embedding::{Embedder, EmbedderInfo, Embedding, Metric};
use super::{dlib, facenet, sface};

/// A fusion rule: what the fused embedder declares, and its single-model
/// members by name with their weights (summing to 1). The first member's
/// crop is the one the quality gates judge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// What the fused embedder declares.
    pub info: EmbedderInfo,
    /// `(embedder name, weight)`.
    pub members: &'static [(&'static str, f32)],
}

/// SFace and dlib's ResNet: weights fitted on all of View 2 (held out fold by
/// fold they were 0.30–0.33 for SFace); 0.736 accepts the share of LFW's
/// 952 814 impostor pairs (8.2e-4) that SFace's 0.373 does, and 98.8 % of
/// the genuine pairs (SFace 98.7 %); the johns' impostors reach 0.718.
pub static SFACE_DLIB: Rule = Rule {
    info: EmbedderInfo {
        name: "sface+dlib",
        model_id: "fused-sface31-dlib69",
        weights_sha256: combined_sha256(&[sface::WEIGHTS_SHA256, dlib::WEIGHTS_SHA256]),
        dim: sface::EMBEDDING_DIM + dlib::EMBEDDING_DIM,
        metric: Metric::Cosine,
        default_threshold: 0.736,
        min_threshold: 0.70,
    },
    members: &[("sface", 0.3144), ("dlib", 0.6856)],
};

/// SFace, FaceNet and dlib's ResNet, fitted as [`SFACE_DLIB`] (FaceNet gets
/// 0.07–0.08 in every fold); 0.702 accepts LFW's impostor pairs at 8.2e-4
/// and 98.7 % of the genuine ones; the johns' impostors reach 0.679.
pub static SFACE_FACENET_DLIB: Rule = Rule {
    info: EmbedderInfo {
        name: "sface+facenet+dlib",
        model_id: "fused-sface30-facenet8-dlib62",
        weights_sha256: combined_sha256(&[
            sface::WEIGHTS_SHA256,
            facenet::WEIGHTS_SHA256,
            dlib::WEIGHTS_SHA256,
        ]),
        dim: sface::EMBEDDING_DIM + facenet::EMBEDDING_DIM + dlib::EMBEDDING_DIM,
        metric: Metric::Cosine,
        default_threshold: 0.702,
        min_threshold: 0.67,
    },
    members: &[("sface", 0.3037), ("facenet", 0.0796), ("dlib", 0.6167)],
};

/// Several embedders fused by a [`Rule`].
#[derive(Debug)]
pub struct FusedEmbedder {
    info: &'static EmbedderInfo,
    members: Vec<(Box<dyn Embedder>, f32)>,
}

impl FusedEmbedder {
    /// Fuses loaded `members` (in the rule's order) under `info`.
    pub fn new(info: &'static EmbedderInfo, members: Vec<(Box<dyn Embedder>, f32)>) -> Self {
        Self { info, members }
    }
}

impl Embedder for FusedEmbedder {
    fn info(&self) -> &'static EmbedderInfo {
        self.info
    }

    /// The first member's crop, with the others' crops in `more`; none if
    /// any member cannot cut its crop.
    fn align(&self, img: &RgbImage, face: &Detection) -> Option<AlignedFace> {
        let mut crops = self
            .members
            .iter()
            .map(|(m, _)| m.align(img, face))
            .collect::<Option<Vec<_>>>()?
            .into_iter();
        let mut first = crops.next()?;
        first.more = crops.collect();
        Some(first)
    }

    /// Each member's unit embedding times `√w`, side by side.
    fn run(&self, crops: &[AlignedFace]) -> Vec<Vec<f32>> {
        if crops.iter().any(|c| c.more.len() + 1 != self.members.len()) {
            return Vec::new();
        }
        let mut out = vec![Vec::with_capacity(self.info.dim); crops.len()];
        for (i, (member, weight)) in self.members.iter().enumerate() {
            // The first member's crops are the ones given (a single model
            // reads only their pixels); the others' are copied out of `more`.
            let others: Vec<AlignedFace>;
            let own = if i == 0 {
                crops
            } else {
                others = crops.iter().map(|c| c.more[i - 1].clone()).collect();
                &others
            };
            let embedded = member.embed(own);
            if embedded.len() != crops.len() {
                return Vec::new();
            }
            let scale = weight.sqrt();
            for (row, Embedding(e)) in out.iter_mut().zip(embedded) {
                row.extend(e.into_iter().map(|v| v * scale));
            }
        }
        out
    }
}

/// XOR of the members' weight hashes: what a fused gallery's header stores.
pub const fn combined_sha256(hashes: &[[u8; 32]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < hashes.len() {
        let mut j = 0;
        while j < 32 {
            out[j] ^= hashes[i][j];
            j += 1;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An embedder whose crops are `size`×`size` and whose output is the
    /// crop's first `dim` values.
    #[derive(Debug)]
    struct Fixed(usize);

    static FIXED: EmbedderInfo = EmbedderInfo {
        name: "fixed",
        model_id: "fixed",
        weights_sha256: [0; 32],
        dim: 3,
        metric: Metric::Cosine,
        default_threshold: 0.5,
        min_threshold: 0.0,
    };
    static FUSED: EmbedderInfo = EmbedderInfo { dim: 6, ..FIXED };

    impl Embedder for Fixed {
        fn info(&self) -> &'static EmbedderInfo {
            &FIXED
        }
        fn align(&self, _: &RgbImage, face: &Detection) -> Option<AlignedFace> {
            let v = face.bbox[0] + self.0 as f32;
            Some(AlignedFace {
                size: self.0,
                bgr: vec![v, 1.0, -v],
                more: Vec::new(),
            })
        }
        fn run(&self, crops: &[AlignedFace]) -> Vec<Vec<f32>> {
            if crops.iter().any(|c| c.size != self.0) {
                return Vec::new();
            }
            crops.iter().map(|c| c.bgr[..3].to_vec()).collect()
        }
    }

    fn face(x: f32) -> Detection {
        Detection {
            bbox: [x, 0.0, 10.0, 10.0],
            landmarks: [[0.0; 2]; 5],
            score: 1.0,
        }
    }

    #[test]
    fn fused_cosine_is_the_weighted_mean_of_the_members() {
        let fused = FusedEmbedder::new(
            &FUSED,
            vec![(Box::new(Fixed(1)), 0.7), (Box::new(Fixed(5)), 0.3)],
        );
        let img = RgbImage::new(1, 1);
        let [a, b] = [0.0, 3.0].map(|x| {
            let crop = fused.align(&img, &face(x)).unwrap();
            assert_eq!(crop.more.len(), 1);
            fused.embed(&[crop]).pop().unwrap()
        });
        assert_eq!(a.0.len(), 6);
        assert!((a.cosine(&a) - 1.0).abs() < 1e-6);
        let members = [(1.0, 0.7), (5.0, 0.3)].map(|(k, w)| {
            let e = |x: f32| Embedding::normalised(vec![x + k, 1.0, -(x + k)]);
            w * e(0.0).cosine(&e(3.0))
        });
        assert!((a.cosine(&b) - members.iter().sum::<f32>()).abs() < 1e-6);
        // A crop without the other members' crops is not embedded.
        let lone = Fixed(1).align(&img, &face(0.0)).unwrap();
        assert!(fused.embed(&[lone]).is_empty());
    }

    #[test]
    fn shipped_rules_sum_to_one_and_name_their_weights() {
        for rule in [&SFACE_DLIB, &SFACE_FACENET_DLIB] {
            let sum: f32 = rule.members.iter().map(|m| m.1).sum();
            assert!((sum - 1.0).abs() < 1e-6, "{}: {sum}", rule.info.name);
            let names: Vec<&str> = rule.members.iter().map(|m| m.0).collect();
            assert_eq!(names.join("+"), rule.info.name);
            for (name, w) in rule.members {
                let pct = format!("{name}{}", (w * 100.0).round());
                assert!(rule.info.model_id.contains(&pct), "{}", rule.info.model_id);
            }
        }
    }

    #[test]
    fn combined_hash_changes_with_each_member() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(combined_sha256(&[a, b])[0], 3);
        assert_ne!(combined_sha256(&[a, b]), combined_sha256(&[a]));
    }
}
