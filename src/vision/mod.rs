//! The vision pipeline: decode → detect → align → embed, with the models
//! behind the [`Detector`] and [`Embedder`] traits ([`pipeline`]).
//!
//! Models are imported once from the weights that `scripts/fetch-models.sh`
//! exports (`*.safetensors`) into burn records under the models directory, fp32
//! (`*.bpk`) and int8 (`*-int8.bpk`, see [`quantize`]), and loaded from those
//! records at start.

pub mod align;
pub mod detection;
pub mod device;
pub mod dlib;
pub mod embedding;
mod error;
pub mod facenet;
pub mod fusion;
mod kernels;
pub mod layers;
pub mod minifasnet;
pub mod mtcnn;
pub mod picture;
pub mod pipeline;
pub mod quantize;
pub mod retinaface;
pub mod sface;
pub mod thresholds;
pub mod weights;
pub mod yunet;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::Device;

pub use align::{AlignedFace, align};
pub use detection::{Detection, Detector, Subject};
pub use device::Backend;
pub use embedding::{Embedder, EmbedderInfo, Embedding, Metric};
pub use error::{FaceError, ImageError, ModelError};
pub use pipeline::{DetectorKind, EmbedderKind, Face, LoadOptions, Vision, VisionConfig};
pub use quantize::Precision;
pub use retinaface::{RetinaFace, RetinaFaceDetector};
pub use sface::{DEFAULT_COSINE_THRESHOLD, SFace, SFaceEmbedder};
pub use yunet::{DetectorConfig, YuNet, YuNetDetector};

use weights::Weights;

/// The model files in a models directory.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    dir: PathBuf,
}

impl ModelPaths {
    /// Models under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The models directory: `$FACEGATE_MODELS`, else `models/` in the current
    /// directory, else `/usr/share/facegate/models`.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("FACEGATE_MODELS") {
            return dir.into();
        }
        let local = PathBuf::from("models");
        if ["yunet-int8.bpk", "yunet.bpk"]
            .iter()
            .any(|f| local.join(f).exists())
        {
            return local;
        }
        let installed = PathBuf::from("/usr/share/facegate/models");
        if installed.exists() { installed } else { local }
    }

    /// `{dir}/{name}.{ext}`.
    pub fn file(&self, name: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{name}.{ext}"))
    }

    /// The burn record of model `name` (`yunet`, `sface`) at `precision`.
    pub fn record(&self, name: &str, precision: Precision) -> PathBuf {
        self.file(&precision.stem(name), "bpk")
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Imports every exported model (`NAME.safetensors`, dlib's `.dat`) into
/// burn records, fp32 and int8; YuNet and SFace must be there, the others are
/// imported when their export is. Returns the written paths.
pub fn import_models(paths: &ModelPaths, device: &Device) -> Result<Vec<PathBuf>, ModelError> {
    let mut out = Vec::new();
    let mut yunet = yunet::loader::Import(Weights::open(&paths.file("yunet", "safetensors"))?);
    let detector = YuNet::build(&mut yunet, device)?;
    yunet.0.finish()?;
    out.extend(save_both(
        detector,
        paths,
        "yunet",
        quantize::DETECTOR_BLOCK,
    )?);
    let mut sface = sface::loader::Import(Weights::open(&paths.file("sface", "safetensors"))?);
    sface.check_input_norm()?;
    let embedder = SFace::build(&mut sface, device)?;
    sface.0.finish()?;
    out.extend(save_both(
        embedder,
        paths,
        "sface",
        quantize::EMBEDDER_BLOCK,
    )?);
    let export = paths.file("facenet", "safetensors");
    if export.exists() {
        let mut w = facenet::loader::Import(Weights::open(&export)?);
        let model = facenet::FaceNet::build(&mut w, device)?;
        w.0.finish()?;
        out.extend(save_both(
            model,
            paths,
            "facenet",
            quantize::EMBEDDER_BLOCK,
        )?);
    }
    if let Some(model) = dlib::import(paths, device)? {
        out.extend(save_both(model, paths, "dlib", quantize::EMBEDDER_BLOCK)?);
    }
    for (name, model) in minifasnet::import(paths, device)? {
        out.extend(save_both(model, paths, name, quantize::EMBEDDER_BLOCK)?);
    }
    let export = paths.file("retinaface", "safetensors");
    if export.exists() {
        let mut w = retinaface::loader::Import(Weights::open(&export)?);
        let model = RetinaFace::build(&mut w, device)?;
        w.0.finish()?;
        out.extend(save_both(
            model,
            paths,
            "retinaface",
            quantize::DETECTOR_BLOCK,
        )?);
    }
    if let Some([mut p, mut r, mut o]) = mtcnn::loader::Import::open_all(paths)? {
        let model = mtcnn::Mtcnn::build(&mut p, &mut r, &mut o, device)?;
        for w in [p, r, o] {
            w.finish()?;
        }
        out.extend(save_both(model, paths, "mtcnn", quantize::DETECTOR_BLOCK)?);
    }
    Ok(out)
}

/// Saves `model` as `name` in fp32 and int8 (blocks of `block` inputs).
fn save_both<M: Module>(
    model: M,
    paths: &ModelPaths,
    name: &str,
    block: usize,
) -> Result<[PathBuf; 2], ModelError> {
    let out = [
        paths.record(name, Precision::Fp32),
        paths.record(name, Precision::Int8),
    ];
    save(model.clone(), &out[0])?;
    save(quantize::quantize(model, block), &out[1])?;
    Ok(out)
}

/// How int8 weights are used at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Int8Weights {
    /// Expanded to fp32 once at load (the default: fp32 speed).
    #[default]
    ExpandAtLoad,
    /// Kept int8 in memory; burn dequantizes them in every call (less memory, slower).
    PerCall,
}

fn save<M: Module>(module: M, path: &Path) -> Result<(), ModelError> {
    // Write beside, then rename: a crash never leaves a half-written record.
    let tmp = path.with_extension("bpk.tmp");
    module.save_file(&tmp).map_err(|e| ModelError::Record {
        path: tmp.clone(),
        msg: e.to_string(),
    })?;
    std::fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))
}

/// Loads the record at `path` into `skeleton`; int8 weights are expanded or
/// kept as `int8` says (fp32 weights are left as they are).
fn skeleton_load<M: Module>(skeleton: M, path: &Path, int8: Int8Weights) -> Result<M, ModelError> {
    if !path.exists() {
        return Err(ModelError::Record {
            path: path.to_path_buf(),
            msg: "model file not found (scripts/fetch-models.sh makes it)".into(),
        });
    }
    let model = skeleton
        .try_load_file(path)
        .map_err(|e| ModelError::Record {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
    Ok(match int8 {
        Int8Weights::ExpandAtLoad => quantize::dequantize(model),
        Int8Weights::PerCall => model,
    })
}
