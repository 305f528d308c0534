//! The board config: one TOML file per board (`board/*.toml`). Unknown keys
//! are refused; every error names the file, and the key where it can.
//! Relative paths are resolved against the config file's directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::camera::CameraConfig;
use crate::decide::DecisionConfig;
use crate::display::DisplayConfig;
use crate::door::DoorConfig;
use crate::liveness::LivenessConfig;
use crate::vision::{Backend, DetectorConfig, Precision, VisionConfig};

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable file.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// Bad TOML or a bad value; the message names the key and line.
    #[error("{path}: {msg}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

/// The whole board config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Site, gallery, models and keys.
    pub terminal: TerminalConfig,
    /// Camera.
    pub camera: CameraConfig,
    /// Which detector and embedder.
    #[serde(default)]
    pub vision: VisionConfig,
    /// Face detector settings (detect on a downscaled frame for speed).
    #[serde(default = "terminal_detector")]
    pub detector: DetectorConfig,
    /// How frames become decisions.
    #[serde(default)]
    pub decision: DecisionConfig,
    /// Presentation-attack detection.
    #[serde(default)]
    pub liveness: LivenessConfig,
    /// Relay, door contact and exit button.
    pub door: DoorConfig,
    /// Status display (none when absent).
    pub display: Option<DisplayConfig>,
    /// Event log.
    #[serde(default)]
    pub events: EventsConfig,
    /// Gallery updates (USB stick inbox).
    #[serde(default)]
    pub update: UpdateConfig,
    /// Directory of the config file (relative paths start here).
    #[serde(skip)]
    pub base: PathBuf,
}

/// `[terminal]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalConfig {
    /// Site name shown on the idle screen.
    #[serde(default = "default_site")]
    pub site: String,
    /// The installed gallery.
    pub gallery: PathBuf,
    /// Models directory (default: `$FACEGATE_MODELS`, `./models`, `/usr/share/facegate/models`).
    pub models: Option<PathBuf>,
    /// Directory of trusted public keys (`*.pub`) for signed galleries.
    pub keys: Option<PathBuf>,
    /// Refuse unsigned galleries (the default; only the demo turns it off).
    #[serde(default = "yes")]
    pub require_signature: bool,
    /// Refuse galleries whose match threshold is below this (default: the
    /// embedder's floor, [`crate::vision::EmbedderInfo::min_threshold`]); a
    /// `[decision] threshold` below it is refused too.
    pub min_threshold: Option<f32>,
    /// This device's secret key for encrypted galleries (default:
    /// `/var/lib/facegate/device-key`, used when it exists).
    pub device_key: Option<PathBuf>,
    /// Compute backend (`flex` default).
    #[serde(default)]
    pub backend: Backend,
    /// Model weights: `int8` (default) or `fp32`.
    #[serde(default)]
    pub precision: Precision,
    /// Model worker threads (default: all cores).
    pub threads: Option<usize>,
    /// How long a granted/denied screen stays up, milliseconds.
    #[serde(default = "default_result_ms")]
    pub result_screen_ms: u64,
    /// Longest wait between attempts to reopen a lost camera, milliseconds.
    #[serde(default = "default_retry_ms")]
    pub camera_retry_max_ms: u64,
}

/// Where `facegate device-key` puts the device's key by default.
pub const DEFAULT_DEVICE_KEY: &str = "/var/lib/facegate/device-key";

/// `[events]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Log file.
    pub path: PathBuf,
    /// Rotate when the file would grow past this.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: u32,
    /// Delete records older than this many days (0: keep them until `keep`
    /// pushes them out).
    pub max_age_days: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            path: "/var/lib/facegate/events.log".into(),
            max_bytes: 1 << 20,
            keep: 4,
            // Movement logs at a workplace: three months (CNIL guidance).
            max_age_days: 90,
        }
    }
}

impl EventsConfig {
    /// Rotation and retention of the log.
    pub fn rotation(&self) -> crate::events::Rotation {
        crate::events::Rotation {
            max_bytes: self.max_bytes,
            keep: self.keep,
            max_age: (self.max_age_days > 0)
                .then(|| std::time::Duration::from_secs(u64::from(self.max_age_days) * 86_400)),
        }
    }
}

/// `[update]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateConfig {
    /// Directory the USB import drops offered galleries into (`*.fgal`).
    pub inbox: PathBuf,
    /// Largest gallery file accepted, bytes.
    pub max_bytes: u64,
    /// How often the inbox and the installed gallery are checked, milliseconds.
    pub poll_ms: u64,
    /// Directory of admin public keys (`*.pub`) whose signed
    /// `facegate/export-request` on a USB stick gets the event log written
    /// to it (default: `[terminal] keys`; no keys: no exports).
    pub admin_keys: Option<PathBuf>,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        Self {
            inbox: "/var/lib/facegate/inbox".into(),
            max_bytes: 64 << 20,
            poll_ms: 1000,
            admin_keys: None,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_site() -> String {
    "facegate".into()
}
fn default_result_ms() -> u64 {
    3000
}
fn default_retry_ms() -> u64 {
    5000
}
/// The terminal detects on a 320×240 copy of the frame: faces at a door are
/// large, and it is 3x faster than 640×480.
fn terminal_detector() -> DetectorConfig {
    DetectorConfig {
        input_width: 320,
        input_height: 240,
        ..DetectorConfig::default()
    }
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, path, base)
    }

    /// Parses config text; `path` names it in errors, `base` resolves paths.
    pub fn parse(text: &str, path: &Path, base: PathBuf) -> Result<Self, ConfigError> {
        let invalid = |msg: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            msg,
        };
        let mut config: Config = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        config.base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        config
            .decision
            .validate()
            .map_err(|m| invalid(format!("[decision]: {m}")))?;
        config
            .liveness
            .validate(config.decision.votes)
            .map_err(|m| invalid(format!("[liveness]: {m}")))?;
        config
            .door
            .validate()
            .map_err(|e| invalid(format!("[door]: {e}")))?;
        if let Some(f) = config.decision.fpir {
            config
                .vision
                .check_fpir(f)
                .map_err(|m| invalid(format!("[decision]: {m}; set threshold instead")))?;
        }
        let floor = config.min_threshold();
        if !(-1.0..=1.0).contains(&floor) {
            return Err(invalid(format!(
                "[terminal]: min_threshold {floor} is not a cosine score"
            )));
        }
        if let Some(t) = config.decision.threshold
            && t < floor
        {
            return Err(invalid(format!(
                "[decision]: threshold {t} is below the floor of {floor} ([terminal] min_threshold)"
            )));
        }
        Ok(config)
    }

    /// The threshold a gallery of `people` is searched at: its own (or
    /// `[decision] threshold`), raised to `[decision] fpir`'s for its size.
    pub fn match_threshold(&self, gallery_threshold: f32, people: usize) -> f32 {
        let base = self.decision.threshold.unwrap_or(gallery_threshold);
        self.decision
            .fpir
            .and_then(|f| self.vision.gallery_threshold(people, f))
            .map_or(base, |t| base.max(t))
    }

    /// The lowest gallery threshold this device accepts.
    pub fn min_threshold(&self) -> f32 {
        self.terminal
            .min_threshold
            .unwrap_or(self.vision.embedder.info().min_threshold)
    }

    /// The device key file: configured, else the default path if it exists.
    pub fn device_key(&self) -> Option<PathBuf> {
        match &self.terminal.device_key {
            Some(p) => Some(self.resolve(p)),
            None => Some(PathBuf::from(DEFAULT_DEVICE_KEY)).filter(|p| p.exists()),
        }
    }

    /// `path` resolved against the config file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[terminal]
gallery = "gallery.fgal"
[camera.v4l2]
device = "/dev/video0"
[door.gpio]
relay = "GPIO17"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("board/test.toml"), PathBuf::from("board"))
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.terminal.site, "facegate");
        assert_eq!(c.detector.input_width, 320);
        assert_eq!(c.decision.votes, 3);
        assert_eq!(c.door.pulse_ms, 3000);
        assert_eq!(
            c.resolve(&c.terminal.gallery),
            PathBuf::from("board/gallery.fgal")
        );
        assert!(c.display.is_none());
        let r = c.events.rotation();
        assert_eq!(r.max_age, Some(std::time::Duration::from_secs(90 * 86_400)));
        let off = parse(&format!("{MINIMAL}\n[events]\nmax_age_days = 0\n")).unwrap();
        assert_eq!(off.events.rotation().max_age, None);
    }

    #[test]
    fn unknown_keys_are_refused_naming_key_and_file() {
        let text = MINIMAL.replace("[door.gpio]", "[door]\npulse = 3\n[door.gpio]");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.starts_with("board/test.toml:"), "{e}");
        assert!(e.contains("pulse") && e.contains("line"), "{e}");
        let e = parse(&format!("{MINIMAL}\n[decision]\nvotes = 9\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[decision]: votes (9)"), "{e}");
        let e = parse(&MINIMAL.replace("device = \"/dev/video0\"", "device = 3"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("device"), "{e}");
    }

    #[test]
    fn missing_file_names_the_file() {
        let e = Config::load(Path::new("/nonexistent/board.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/board.toml:"), "{e}");
    }

    #[test]
    fn fpir_raises_the_threshold_for_the_gallery_size_never_lowers_it() {
        let c = parse(&format!("{MINIMAL}\n[decision]\nfpir = 1e-3\n")).unwrap();
        let at = |n| c.vision.gallery_threshold(n, 1e-3).unwrap();
        assert_eq!(c.match_threshold(0.373, 2), at(100));
        assert_eq!(c.match_threshold(0.373, 1000), at(1000));
        assert!(at(1000) > at(100));
        assert_eq!(c.match_threshold(0.9, 1000), 0.9, "never lowered");
        let fixed = parse(&format!(
            "{MINIMAL}\n[decision]\nfpir = 1e-3\nthreshold = 0.45\n"
        ))
        .unwrap();
        assert_eq!(fixed.match_threshold(0.373, 1000), at(1000));
        let off = parse(MINIMAL).unwrap();
        assert_eq!(off.match_threshold(0.373, 1000), 0.373);
        for bad in [
            "[decision]\nfpir = 1e-4\n",
            "[decision]\nfpir = 1e-3\n[vision]\nembedder = \"facenet\"\n",
        ] {
            let e = parse(&format!("{MINIMAL}\n{bad}")).unwrap_err().to_string();
            assert!(e.contains("no 1:N thresholds were measured"), "{e}");
        }
    }
}

#[cfg(test)]
mod boards {
    use super::*;

    /// Every shipped board config parses and passes its checks.
    #[test]
    fn shipped_board_configs_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("board");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
        assert!(seen >= 4, "expected sim, rpi4, rpi5 and jetson configs");
    }
}
