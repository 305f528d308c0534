//! Command implementations for the `facegate` binary.

pub mod calibrate;
pub mod events;
pub mod gallery;
pub mod liveness;
pub mod run;
pub mod usb;
pub mod vision;
