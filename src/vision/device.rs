//! Compute backends, chosen at run time among those compiled in.

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use super::ModelError;

/// A burn CPU backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's pure-Rust `flex` backend (the default: fastest on CPU).
    #[default]
    Flex,
    /// burn-ndarray (deprecated upstream; kept as the design's reference backend).
    Ndarray,
}

impl Backend {
    /// Backends compiled into this binary.
    pub fn available() -> Vec<Backend> {
        let mut v = Vec::new();
        if cfg!(feature = "flex") {
            v.push(Backend::Flex);
        }
        if cfg!(feature = "ndarray") {
            v.push(Backend::Ndarray);
        }
        v
    }

    /// The burn device, or an error when the backend is not compiled in.
    pub fn device(self) -> Result<Device, ModelError> {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            // Deprecated upstream in favour of flex; the design keeps it selectable.
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Backend::Ndarray => Ok(Device::ndarray()),
            #[allow(unreachable_patterns)]
            other => Err(ModelError::Backend(other.name())),
        }
    }

    /// Lower-case name, as in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "flex" => Ok(Backend::Flex),
            "ndarray" => Ok(Backend::Ndarray),
            _ => Err(format!("unknown backend {s:?} (flex, ndarray)")),
        }
    }
}
