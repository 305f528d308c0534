//! facegate: firmware for a standalone face-recognition door terminal.
//!
//! The crate is organised by concern; [`vision`] holds the face pipeline
//! (detection, alignment, embedding) on burn.

pub mod vision;
