//! Measured thresholds: the 1:1 default a new gallery gets, and the 1:N
//! thresholds that hold a stranger's chance of being let in (FPIR) to a
//! target for a gallery of the site's size.
//!
//! Both were measured on LFW with `facegate calibrate` (README *Accuracy*,
//! `scripts/bench.sh accuracy`); a door's approach photos are easier than
//! LFW's news photos, so these err on the strict side.

use super::pipeline::{DetectorKind, EmbedderKind, VisionConfig};

/// Cosine thresholds calibrated for a detector and an embedder together: an
/// embedder's scores depend on the crops its detector's landmarks give
/// (SFace scores run higher on RetinaFace's than on YuNet's, for which
/// OpenCV chose 0.363). Each has the false-accept rate on LFW's impostor
/// pairs that the embedder's default has with YuNet (README, *Models*).
/// Other pairs use the embedder's default.
const ONE_TO_ONE: [(DetectorKind, EmbedderKind, f32); 1] = [(
    DetectorKind::Retinaface,
    EmbedderKind::Sface,
    // At 0.373 it accepts 777 of LFW's 952 814 impostor pairs (2 photos per
    // person; FAR 8.2e-4), as 0.363 does with YuNet's crops, and 97.6 % of
    // the 1196 genuine pairs (YuNet: 94.7 %).
    0.373,
)];

/// The FPIRs the 1:N table holds.
pub const FPIRS: [f64; 2] = [1e-2, 1e-3];

/// `(gallery size, threshold at FPIR 1e-2, threshold at FPIR 1e-3)` per
/// detector and embedder: `facegate calibrate lfw-deepfunneled
/// --identification --gallery-size 100,1000 --trials 5 --subject central
/// --same-person scripts/lfw-errata.txt`.
type Row = (usize, f32, f32);
const ONE_TO_N: [(DetectorKind, EmbedderKind, [Row; 2]); 1] = [(
    DetectorKind::Retinaface,
    EmbedderKind::Sface,
    [(100, 0.440, 0.497), (1000, 0.480, 0.524)],
)];

impl VisionConfig {
    /// The cosine threshold a new gallery gets with these models.
    pub fn default_threshold(self) -> f32 {
        ONE_TO_ONE
            .iter()
            .find(|(d, e, _)| (*d, *e) == (self.detector, self.embedder))
            .map_or(self.embedder.info().default_threshold, |c| c.2)
    }

    /// The threshold that keeps FPIR at `fpir` (one of [`FPIRS`]) for a
    /// gallery of `people` with these models: interpolated in log(size)
    /// between the measured sizes, the smallest's below them, extrapolated
    /// along the last slope above them. `None` where nothing was measured
    /// (other models, another FPIR).
    pub fn gallery_threshold(self, people: usize, fpir: f64) -> Option<f32> {
        let column = FPIRS.iter().position(|f| (f - fpir).abs() < fpir * 1e-6)?;
        let (_, _, rows) = ONE_TO_N
            .iter()
            .find(|(d, e, _)| (*d, *e) == (self.detector, self.embedder))?;
        let at = |r: &Row| if column == 0 { r.1 } else { r.2 };
        let (lo, hi) = (&rows[0], &rows[1]);
        let x = (people.max(lo.0) as f32).ln();
        let slope = (at(hi) - at(lo)) / ((hi.0 as f32).ln() - (lo.0 as f32).ln());
        Some(at(lo) + slope * (x - (lo.0 as f32).ln()))
    }

    /// Whether [`VisionConfig::gallery_threshold`] knows `fpir` for these
    /// models; the error says what was measured.
    pub fn check_fpir(self, fpir: f64) -> Result<(), String> {
        match self.gallery_threshold(1, fpir) {
            Some(_) => Ok(()),
            None => Err(format!(
                "no 1:N thresholds were measured for fpir {fpir} with {} + {} (measured: \
                 fpir 1e-2 and 1e-3 with retinaface + sface, README *Accuracy*)",
                self.detector, self.embedder
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gallery_thresholds_grow_with_the_gallery() {
        let c = VisionConfig::default();
        let t = |n, f| c.gallery_threshold(n, f).expect("measured");
        assert_eq!(t(10, 1e-3), t(100, 1e-3));
        assert!((t(100, 1e-3) - ONE_TO_N[0].2[0].2).abs() < 1e-6);
        assert!((t(1000, 1e-2) - ONE_TO_N[0].2[1].1).abs() < 1e-6);
        assert!(t(100, 1e-3) < t(300, 1e-3) && t(300, 1e-3) < t(1000, 1e-3));
        assert!(t(10_000, 1e-3) > t(1000, 1e-3), "extrapolated upwards");
        assert!(t(1000, 1e-2) < t(1000, 1e-3));
        assert!(t(100, 1e-2) > c.default_threshold(), "1:N is stricter");
        assert_eq!(c.gallery_threshold(100, 1e-4), None);
        let other = VisionConfig {
            embedder: EmbedderKind::Facenet,
            ..c
        };
        assert_eq!(other.gallery_threshold(100, 1e-3), None);
    }
}
