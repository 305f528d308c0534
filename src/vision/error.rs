//! Errors of the vision stages.

use std::path::{Path, PathBuf};

/// A model could not be imported, saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Reading or writing a file failed.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A weight file is malformed or not the expected model.
    #[error("{path}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The weights do not fit the architecture.
    #[error("model mismatch: {0}")]
    Mismatch(String),
    /// burn could not save or load a record.
    #[error("{path}: {msg} (run scripts/fetch-models.sh to rebuild the models)")]
    Record {
        /// The record file.
        path: PathBuf,
        /// burn's message.
        msg: String,
    },
    /// The requested backend is not compiled in.
    #[error("backend {0} is not compiled in (cargo feature `{0}`)")]
    Backend(&'static str),
}

impl ModelError {
    pub(crate) fn io(path: &Path, cause: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            cause,
        }
    }
}

/// An image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Reading the file failed.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The bytes are not an image format facegate reads (JPEG, PNG).
    #[error("{0}: not a JPEG or PNG image")]
    NotAnImage(String),
    /// The image is corrupt or truncated.
    #[error("{name}: cannot decode image: {msg}")]
    Decode {
        /// File name or label.
        name: String,
        /// Decoder's message.
        msg: String,
    },
    /// The image exceeds the size limits.
    #[error("{name}: image too large ({msg})")]
    TooLarge {
        /// File name or label.
        name: String,
        /// Which limit.
        msg: String,
    },
}

/// A face could not be found or embedded.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// The image is unusable.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// No face was detected.
    #[error("{0}: no face found")]
    NoFace(String),
}
