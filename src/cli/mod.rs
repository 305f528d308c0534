//! Command implementations for the `facegate` binary.

pub mod gallery;
pub mod vision;
