//! The pipeline: one [`Detector`] and one [`Embedder`], chosen by name
//! (`--detector`, `--embedder`, `[vision]`), composed into [`Vision`].

use std::fmt;
use std::str::FromStr;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::detection::{Detection, Detector, Subject};
use super::embedding::{Embedder, EmbedderInfo, Embedding};
use super::quantize::Precision;
use super::skeleton_load;
use super::{
    Backend, FaceError, Int8Weights, ModelError, ModelPaths, dlib, facenet, fusion, mtcnn,
    retinaface, sface, yunet,
};

/// The face detectors facegate has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// YuNet 2023mar (OpenCV Zoo).
    Yunet,
    /// RetinaFace MobileNet-0.25 (biubug6), the seed's recognition detector:
    /// the default, chosen by measurement (docs/BENCHMARKS.md: it finds a face
    /// in every LFW photo and halves YuNet's EER with SFace).
    #[default]
    Retinaface,
    /// MTCNN (facenet-pytorch 2.6.0), the seed's enrolment detector.
    Mtcnn,
}

/// The face embedders facegate has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderKind {
    /// SFace 2021dec, 128-D (OpenCV Zoo).
    #[default]
    Sface,
    /// FaceNet InceptionResnetV1, 512-D (davidsandberg), the seed's embedder.
    Facenet,
    /// dlib's ResNet-29, 128-D, with its 5-point shape predictor and chip.
    Dlib,
    /// SFace and dlib, scores fused ([`fusion::SFACE_DLIB`]).
    #[serde(rename = "sface+dlib")]
    SfaceDlib,
    /// SFace, FaceNet and dlib, scores fused ([`fusion::SFACE_FACENET_DLIB`]).
    #[serde(rename = "sface+facenet+dlib")]
    SfaceFacenetDlib,
}

impl DetectorKind {
    /// Every detector.
    pub const ALL: [DetectorKind; 3] = [
        DetectorKind::Yunet,
        DetectorKind::Retinaface,
        DetectorKind::Mtcnn,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::Yunet => "yunet",
            DetectorKind::Retinaface => "retinaface",
            DetectorKind::Mtcnn => "mtcnn",
        }
    }
}

impl EmbedderKind {
    /// Every embedder.
    pub const ALL: [EmbedderKind; 5] = [
        EmbedderKind::Sface,
        EmbedderKind::Facenet,
        EmbedderKind::Dlib,
        EmbedderKind::SfaceDlib,
        EmbedderKind::SfaceFacenetDlib,
    ];

    /// What it declares (known without loading it).
    pub fn info(self) -> &'static EmbedderInfo {
        match self {
            EmbedderKind::Sface => &sface::INFO,
            EmbedderKind::Facenet => &facenet::INFO,
            EmbedderKind::Dlib => &dlib::INFO,
            EmbedderKind::SfaceDlib => &fusion::SFACE_DLIB.info,
            EmbedderKind::SfaceFacenetDlib => &fusion::SFACE_FACENET_DLIB.info,
        }
    }

    /// The fusion rule of a fused embedder.
    pub fn rule(self) -> Option<&'static fusion::Rule> {
        match self {
            EmbedderKind::SfaceDlib => Some(&fusion::SFACE_DLIB),
            EmbedderKind::SfaceFacenetDlib => Some(&fusion::SFACE_FACENET_DLIB),
            EmbedderKind::Sface | EmbedderKind::Facenet | EmbedderKind::Dlib => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The kind whose model id is `model_id`.
    pub fn for_model_id(model_id: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.info().model_id == model_id)
    }
}

macro_rules! named {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL
                    .into_iter()
                    .find(|k| k.name() == s)
                    .ok_or_else(|| {
                        let names: Vec<_> = Self::ALL.iter().map(|k| k.name()).collect();
                        format!("unknown model {s:?} (one of {})", names.join(", "))
                    })
            }
        }
    };
}
named!(DetectorKind);
named!(EmbedderKind);

/// `[vision]`: which detector and embedder, plus the detector's settings.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisionConfig {
    /// The face detector.
    pub detector: DetectorKind,
    /// The face embedder.
    pub embedder: EmbedderKind,
}

/// How to load the models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadOptions {
    /// Compute backend.
    pub backend: Backend,
    /// Weights stored as fp32 or int8.
    pub precision: Precision,
    /// How int8 weights are used.
    pub int8: Int8Weights,
    /// YuNet's settings.
    pub yunet: yunet::DetectorConfig,
}

impl LoadOptions {
    /// `backend` and `precision`, int8 expanded at load, YuNet at `yunet`.
    pub fn new(backend: Backend, precision: Precision, yunet: yunet::DetectorConfig) -> Self {
        Self {
            backend,
            precision,
            int8: Int8Weights::default(),
            yunet,
        }
    }
}

/// A face found in an image, aligned and embedded.
#[derive(Debug, Clone, Serialize)]
pub struct Face {
    /// Where it is.
    pub detection: Detection,
    /// Its embedding.
    pub embedding: Embedding,
}

/// Detector and embedder, loaded together.
#[derive(Debug)]
pub struct Vision {
    /// Face detector.
    pub detector: Box<dyn Detector>,
    /// Face embedder.
    pub embedder: Box<dyn Embedder>,
    /// Which they are.
    pub config: VisionConfig,
}

/// Loads one detector.
pub fn load_detector(
    kind: DetectorKind,
    paths: &ModelPaths,
    options: &LoadOptions,
) -> Result<Box<dyn Detector>, ModelError> {
    Ok(match kind {
        DetectorKind::Yunet => Box::new(yunet::YuNetDetector::load(paths, options)?),
        DetectorKind::Retinaface => Box::new(retinaface::RetinaFaceDetector::load(paths, options)?),
        DetectorKind::Mtcnn => Box::new(mtcnn::MtcnnDetector::load(paths, options)?),
    })
}

/// Loads one embedder.
pub fn load_embedder(
    kind: EmbedderKind,
    paths: &ModelPaths,
    options: &LoadOptions,
) -> Result<Box<dyn Embedder>, ModelError> {
    Ok(match kind {
        EmbedderKind::Sface => Box::new(sface::SFaceEmbedder::load(paths, options)?),
        EmbedderKind::Facenet => Box::new(facenet::FaceNetEmbedder::load(paths, options)?),
        EmbedderKind::Dlib => Box::new(dlib::DlibEmbedder::load(paths, options)?),
        EmbedderKind::SfaceDlib | EmbedderKind::SfaceFacenetDlib => {
            load_fused(kind, paths, options)?
        }
    })
}

/// Loads a fused embedder's members.
fn load_fused(
    kind: EmbedderKind,
    paths: &ModelPaths,
    options: &LoadOptions,
) -> Result<Box<dyn Embedder>, ModelError> {
    let rule = kind
        .rule()
        .ok_or_else(|| ModelError::Mismatch(format!("{kind} is not a fusion")))?;
    let members = rule
        .members
        .iter()
        .map(|&(name, weight)| {
            let member: EmbedderKind = name.parse().map_err(ModelError::Mismatch)?;
            if member.rule().is_some() {
                return Err(ModelError::Mismatch(format!(
                    "{kind}: member {member} is fused"
                )));
            }
            Ok((load_embedder(member, paths, options)?, weight))
        })
        .collect::<Result<_, ModelError>>()?;
    Ok(Box::new(fusion::FusedEmbedder::new(&rule.info, members)))
}

impl Vision {
    /// Loads the detector and embedder `config` names from `paths`.
    pub fn load(
        paths: &ModelPaths,
        config: VisionConfig,
        options: &LoadOptions,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            detector: load_detector(config.detector, paths, options)?,
            embedder: load_embedder(config.embedder, paths, options)?,
            config,
        })
    }

    /// The cosine threshold a new gallery gets with these models.
    pub fn default_threshold(&self) -> f32 {
        self.config.default_threshold()
    }

    /// What the embedder declares.
    pub fn info(&self) -> &'static EmbedderInfo {
        self.embedder.info()
    }

    /// Detects, aligns and embeds every face (best detector score first).
    pub fn faces(&self, img: &RgbImage) -> Vec<Face> {
        let detections = self.detector.detect(img);
        let (kept, crops): (Vec<_>, Vec<_>) = detections
            .into_iter()
            .filter_map(|d| self.embedder.align(img, &d).map(|c| (d, c)))
            .unzip();
        kept.into_iter()
            .zip(self.embedder.embed(&crops))
            .map(|(detection, embedding)| Face {
                detection,
                embedding,
            })
            .collect()
    }

    /// The largest face, aligned and embedded; `name` labels the error.
    pub fn largest_face(&self, img: &RgbImage, name: &str) -> Result<Face, FaceError> {
        self.chosen_face(img, name, Subject::Largest)
    }

    /// The face `subject` picks, aligned and embedded; `name` labels the error.
    pub fn chosen_face(
        &self,
        img: &RgbImage,
        name: &str,
        subject: Subject,
    ) -> Result<Face, FaceError> {
        let no_face = || FaceError::NoFace(name.to_string());
        let found = self.detector.detect(img);
        let detection = *subject
            .pick(&found, img.width(), img.height())
            .ok_or_else(no_face)?;
        let crop = self.embedder.align(img, &detection).ok_or_else(no_face)?;
        let embedding = self
            .embedder
            .embed(std::slice::from_ref(&crop))
            .pop()
            .ok_or_else(no_face)?;
        Ok(Face {
            detection,
            embedding,
        })
    }
}

/// Loads a model skeleton's record from `paths` (`name` at `options`' precision).
pub(super) fn record<M: burn::module::Module>(
    skeleton: M,
    paths: &ModelPaths,
    name: &str,
    options: &LoadOptions,
) -> Result<M, ModelError> {
    skeleton_load(
        skeleton,
        &paths.record(name, options.precision),
        options.int8,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_by_name_and_config_defaults_to_retinaface_sface() {
        for k in DetectorKind::ALL {
            assert_eq!(k.name().parse::<DetectorKind>(), Ok(k));
        }
        for k in EmbedderKind::ALL {
            assert_eq!(k.name().parse::<EmbedderKind>(), Ok(k));
            assert_eq!(EmbedderKind::for_model_id(k.info().model_id), Some(k));
        }
        let e = "arcface".parse::<EmbedderKind>().unwrap_err();
        assert!(
            e.contains("unknown model \"arcface\"") && e.contains("sface"),
            "{e}"
        );
        let c: VisionConfig = toml::from_str("").unwrap();
        assert_eq!(
            (c.detector, c.embedder),
            (DetectorKind::Retinaface, EmbedderKind::Sface)
        );
        let c: VisionConfig = toml::from_str("embedder = \"sface\"").unwrap();
        assert_eq!(c.embedder, EmbedderKind::Sface);
        assert!(toml::from_str::<VisionConfig>("detector = \"nope\"").is_err());
        assert!(toml::from_str::<VisionConfig>("colour = 1").is_err());
    }
}
