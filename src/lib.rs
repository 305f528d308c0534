//! facegate: firmware for a standalone face-recognition door terminal.
//!
//! One module per concern: [`vision`] (detection, alignment, embedding on
//! burn), [`gallery`] (enrolled people, file format, 1:N search),
//! [`enroll`] (building galleries from ID photos), [`calibrate`] (thresholds).

pub mod atomic;
pub mod calibrate;
pub mod camera;
pub mod config;
pub mod decide;
pub mod display;
pub mod door;
pub mod enroll;
pub mod events;
pub mod export_request;
pub mod gallery;
pub mod gpio;
pub mod liveness;
pub mod terminal;
pub mod update;
pub mod usb_import;
pub mod vision;
