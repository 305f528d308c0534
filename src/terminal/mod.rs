//! The terminal: camera → detect → align → embed → search → decide → act
//! (door, display, event log), with camera recovery and systemd watchdog
//! pings. One loop, top to bottom, in [`Terminal::run`].

pub mod clock;

mod act;
mod door_events;
mod stats;
mod updates;
mod watchdog;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use image::RgbImage;
use tracing::{info, info_span, warn};

pub use crate::decide::{Candidate, Decider, Decision, DecisionConfig, Sighting};
use clock::TimeFloor;
pub use clock::validity_problem;
pub use stats::Stats;
use watchdog::Watchdog;

use crate::camera::{self, CameraError, Frame, FrameSource};
use crate::config::Config;
use crate::display::{self, Panel, Screen};
use crate::door::{self, DoorEvent, DoorHandle, SimPins};
use crate::events::{Event, EventKind, EventLog};
use crate::gallery::{DeviceKey, Gallery, Index, Keyring, Policy};
use crate::update::{Loaded, Store, Updates};
use crate::vision::minifasnet::Passive;
use crate::vision::{Detection, LoadOptions, ModelPaths, Vision};

/// Consecutive undecodable frames treated as a lost camera.
const BAD_FRAMES_LOST: u32 = 10;
/// First wait before reopening a lost camera.
const RETRY_MIN: Duration = Duration::from_millis(200);

/// What is on the display and until when.
struct Shown {
    current: Option<Screen>,
    hold_until: Option<Instant>,
    alarm: Option<String>,
    /// The display's last error, until it works again.
    display_error: Option<String>,
}

/// A running terminal.
pub struct Terminal {
    config: Config,
    opened: Instant,
    updates: Updates,
    pending_events: Vec<Event>,
    next_update_check: Instant,
    vision: Vision,
    /// The liveness models, when `[liveness]` is on.
    liveness: Option<Passive>,
    /// The people (their templates live in `index` only).
    gallery: Gallery,
    /// [`Gallery::fingerprint`] of the gallery as loaded.
    fingerprint: [u8; 32],
    index: Index,
    decider: Decider,
    camera: Box<dyn FrameSource>,
    door: DoorHandle,
    relay_unlocked: bool,
    panel: Box<dyn Panel>,
    log: EventLog,
    stop: Arc<AtomicBool>,
    shown: Shown,
    stats: Stats,
    watchdog: Watchdog,
    /// The clock is never believed before this.
    time_floor: TimeFloor,
}

/// Reading policy for the installed gallery and for updates.
pub fn gallery_policy(config: &Config) -> Result<Policy> {
    let keyring = match &config.terminal.keys {
        Some(dir) => Keyring::from_dir(&config.resolve(dir))?,
        None => Keyring::default(),
    };
    let device_keys = match config.device_key() {
        Some(path) => vec![
            DeviceKey::read(&path)
                .with_context(|| format!("reading the device key {}", path.display()))?,
        ],
        None => Vec::new(),
    };
    let info = config.vision.embedder.info();
    Ok(Policy {
        model_id: Some(info.model_id.to_string()),
        keyring,
        require_signature: config.terminal.require_signature,
        max_size: usize::try_from(config.update.max_bytes).unwrap_or(usize::MAX),
        device_keys,
        min_threshold: Some(config.min_threshold()),
        weights_sha256: Some(info.weights_sha256),
        ..Policy::default()
    })
}

impl Terminal {
    /// Opens everything the config names. The door is locked before anything
    /// else happens; a camera or display that is missing, or a gallery that
    /// is unusable, does not stop the start (see `docs/event-log.md`).
    /// Returns the simulated pins when the door is simulated.
    pub fn open(config: Config, stop: Arc<AtomicBool>) -> Result<(Self, Option<SimPins>)> {
        let started = Instant::now();
        let opened = door::open(&config.door, &config.base).context("opening the door")?;
        let door = DoorHandle::spawn(opened.door, config.door.policy(), stop.clone());
        let mut startup_events = Vec::new();
        let panel = match &config.display {
            Some(d) => {
                let (panel, err) = display::open_or_pending(d, &config.base);
                if let Some(e) = err {
                    warn!(%e, "display not available; retrying every {:?}", display::Pending::RETRY);
                    startup_events.push(event(EventKind::DisplayFault, Some(e.to_string())));
                }
                panel
            }
            None => Box::new(display::NoPanel),
        };
        let log_path = config.resolve(&config.events.path);
        let log = EventLog::open(&log_path, config.events.rotation())
            .with_context(|| format!("opening the event log {}", log_path.display()))?;
        let recovery = log.recovery();
        if recovery.truncated_bytes > 0 {
            warn!(
                log = %log_path.display(),
                records = recovery.records,
                cut_bytes = recovery.truncated_bytes,
                kept_as = ?recovery.saved_copy,
                "event log: a torn or damaged tail was cut off"
            );
        }
        let policy = gallery_policy(&config)?;
        let gallery_path = config.resolve(&config.terminal.gallery);
        let store = Store::new(&gallery_path);
        // Without a usable gallery the terminal still runs (door, exit
        // button, log), lets nobody in by face and waits for the inbox.
        let loaded = match store.load(&policy) {
            Ok(loaded) => loaded,
            Err(e) => {
                let detail = format!(
                    "{}: {e}; nobody is let in by face until a gallery arrives in the inbox",
                    gallery_path.display()
                );
                warn!(%detail, "no usable gallery");
                startup_events.push(event(EventKind::NoGallery, Some(detail)));
                let info = config.vision.embedder.info();
                Loaded::Current(Gallery::none_installed(
                    info.model_id,
                    info.weights_sha256,
                    info.dim as u16,
                ))
            }
        };
        if let Loaded::FellBack { why, broken, .. } = &loaded {
            warn!(%why, "incident: installed gallery refused, using the previous one");
            startup_events.push(event(
                EventKind::GalleryRolledBack,
                Some(format!(
                    "incident: installed gallery refused ({why}); previous one restored \
                     (the anti-rollback floor stays){}",
                    broken
                        .as_ref()
                        .map(|b| format!(", damaged file kept as {}", b.display()))
                        .unwrap_or_default()
                )),
            ));
        }
        let mut gallery = loaded.into_gallery();
        // The time floor: the newest of the last event logged and the
        // gallery's creation (a log that cannot be read counts as empty).
        let last_event = crate::events::read(&log_path)
            .ok()
            .and_then(|c| c.events.iter().map(|e| e.time_ms).max())
            .unwrap_or(0);
        let time_floor =
            TimeFloor::new(last_event.max(gallery.header().created_unix.saturating_mul(1000)));
        let updates = Updates::new(store, policy, config.resolve(&config.update.inbox));
        // The gallery's index first, its templates dropped, then the models:
        // decoding a large gallery and expanding the weights never overlap.
        let (index, fingerprint) = Index::take(&mut gallery);
        let models = ModelPaths::new(match &config.terminal.models {
            Some(dir) => config.resolve(dir),
            None => ModelPaths::default_dir(),
        });
        let options = LoadOptions::new(
            config.terminal.backend,
            config.terminal.precision,
            config.detector,
        );
        let vision =
            Vision::load(&models, config.vision, &options).context("loading the models")?;
        let liveness = match config.liveness.rule() {
            Some(_) => {
                Some(Passive::load(&models, &options).context("loading the liveness models")?)
            }
            None => None,
        };
        // A camera that is not there yet is retried like a lost one.
        let (camera, err) =
            camera::open_or_pending(&config.camera, &config.base).context("opening the camera")?;
        match err {
            Some(e) => warn!(%e, "camera not available yet; retrying"),
            None => info!(camera = %camera.describe(), "camera open"),
        }
        let threshold = config.match_threshold(gallery.header().threshold, gallery.persons().len());
        let decider =
            Decider::new(config.decision, threshold).with_liveness(config.liveness.rule());
        let terminal = Self {
            opened: started,
            updates,
            pending_events: startup_events,
            next_update_check: Instant::now(),
            vision,
            liveness,
            index,
            decider,
            gallery,
            fingerprint,
            camera,
            door,
            relay_unlocked: false,
            panel,
            log,
            stop,
            shown: Shown {
                current: None,
                hold_until: None,
                alarm: None,
                display_error: None,
            },
            stats: Stats::default(),
            watchdog: Watchdog::from_env(),
            time_floor,
            config,
        };
        Ok((terminal, opened.sim))
    }

    /// The gallery in use.
    pub fn gallery(&self) -> &Gallery {
        &self.gallery
    }

    /// Swaps in a new gallery between two frames.
    pub fn install_gallery(&mut self, mut gallery: Gallery) {
        self.time_floor
            .raise(gallery.header().created_unix.saturating_mul(1000));
        (self.index, self.fingerprint) = Index::take(&mut gallery);
        self.decider.set_threshold(
            self.config
                .match_threshold(gallery.header().threshold, gallery.persons().len()),
        );
        self.gallery = gallery;
    }

    /// Runs until the camera source ends or `stop` is set; the door is
    /// locked when it returns.
    pub fn run(mut self) -> Result<Stats> {
        let started = Instant::now();
        self.check_clock();
        self.record(event(EventKind::Started, Some(self.startup_detail())));
        for e in std::mem::take(&mut self.pending_events) {
            self.record(e);
        }
        self.show_idle();
        self.watchdog.ready(&format!(
            "{} people, camera {}",
            self.gallery.persons().len(),
            self.camera.describe()
        ));
        let mut bad_frames = 0;
        while !self.stop.load(Ordering::Relaxed) {
            self.handle_door_events();
            self.check_updates();
            self.watchdog.ping(self.door.is_alive());
            let t = Instant::now();
            let frame = self.camera.next_frame();
            self.stats.capture += t.elapsed();
            match frame {
                Ok(Some(frame)) => {
                    bad_frames = 0;
                    self.step(&frame);
                }
                Ok(None) => {
                    info!("camera source ended");
                    self.finish_pulse();
                    break;
                }
                Err(CameraError::BadFrame { device, msg }) if bad_frames < BAD_FRAMES_LOST => {
                    bad_frames += 1;
                    warn!(%device, %msg, "skipping an undecodable frame");
                }
                Err(e) => {
                    bad_frames = 0;
                    if !self.recover_camera(e) {
                        break;
                    }
                }
            }
        }
        self.stats.wall = started.elapsed();
        Ok(self.shut_down())
    }

    /// One frame through the pipeline.
    fn step(&mut self, frame: &Frame) {
        let _span = info_span!("frame", seq = frame.seq).entered();
        self.stats.frames += 1;
        if self.stats.first_frame.is_none() {
            self.stats.first_frame = Some(self.opened.elapsed());
        }
        let sighting = self.recognise(&frame.image);
        if sighting.is_some() {
            self.stats.faces += 1;
        }
        match self.decider.observe(frame.time, sighting) {
            Some(decision) => self.act(decision),
            None => self.show_progress(sighting, frame),
        }
    }

    /// Detect → follow the largest face → align → embed → search → (for a
    /// match, with liveness on) liveness.
    fn recognise(&mut self, img: &RgbImage) -> Option<Sighting> {
        let detections = timed(&mut self.stats.detect, "detect", || {
            self.vision.detector.detect(img)
        });
        let face = *Detection::largest(&detections)?;
        if !self.decider.wide_enough(&face.bbox) {
            return None;
        }
        let crop = timed(&mut self.stats.align, "align", || {
            self.vision.embedder.align(img, &face)
        })?;
        let embedding = timed(&mut self.stats.embed, "embed", || {
            self.vision
                .embedder
                .embed(std::slice::from_ref(&crop))
                .pop()
        })?;
        let best = timed(&mut self.stats.search, "search", || {
            self.index.search(&embedding, 1).first().map(|m| Candidate {
                person: m.person,
                score: m.score,
            })
        });
        let matched = best.is_some_and(|c| c.score >= self.decider.threshold());
        let live = match &self.liveness {
            Some(models) if matched => {
                self.stats.live_checks += 1;
                // A box the models cannot crop counts as not live.
                let score = timed(&mut self.stats.liveness, "liveness", || {
                    models.score(img, face.bbox)
                });
                Some(score.map_or(0.0, |s| s.live))
            }
            _ => None,
        };
        Some(Sighting {
            bbox: face.bbox,
            best,
            live,
        })
    }

    /// Face seen (box) or idle, unless a result or alarm is on screen.
    fn show_progress(&mut self, sighting: Option<Sighting>, frame: &Frame) {
        if self.holding() {
            return;
        }
        match sighting {
            Some(s) => {
                // Rounded so a still face does not redraw every frame.
                let r = |v: f32| (v / 8.0).round() * 8.0;
                let [x, y, w, h] = s.bbox;
                self.show(
                    Screen::FaceSeen {
                        bbox: [r(x), r(y), r(x + w), r(y + h)],
                        frame: frame.image.dimensions(),
                    },
                    None,
                )
            }
            None => self.show_idle(),
        }
    }

    /// Reopens a lost camera with backoff; false if asked to stop meanwhile.
    fn recover_camera(&mut self, err: CameraError) -> bool {
        warn!(%err, "camera lost");
        self.record(event(EventKind::CameraLost, Some(err.to_string())));
        self.decider.forget();
        let max = Duration::from_millis(self.config.terminal.camera_retry_max_ms).max(RETRY_MIN);
        let mut delay = RETRY_MIN;
        let mut attempts = 0u32;
        loop {
            self.show(
                Screen::CameraLost {
                    retry_in_s: delay.as_secs_f32().ceil() as u32,
                },
                None,
            );
            if !self.wait(delay) {
                return false;
            }
            attempts += 1;
            match self.camera.reopen() {
                Ok(()) => {
                    info!(attempts, camera = %self.camera.describe(), "camera back");
                    self.record(event(
                        EventKind::CameraRecovered,
                        Some(format!("after {attempts} attempts")),
                    ));
                    self.show_idle();
                    return true;
                }
                Err(e) => {
                    warn!(%e, attempts, "camera still lost");
                    delay = (delay * 2).min(max);
                }
            }
        }
    }

    /// Waits, keeping the door and watchdog served; false if asked to stop.
    fn wait(&mut self, total: Duration) -> bool {
        let until = Instant::now() + total;
        while Instant::now() < until {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            self.handle_door_events();
            self.check_updates();
            self.watchdog.ping(self.door.is_alive());
            std::thread::sleep(door::POLL * 5);
        }
        true
    }

    /// At the end of a replay: let a running unlock pulse finish.
    fn finish_pulse(&mut self) {
        let limit = Instant::now() + self.config.door.policy().pulse * 2;
        while self.relay_unlocked && Instant::now() < limit && self.wait(door::POLL * 5) {}
    }

    fn shut_down(mut self) -> Stats {
        self.watchdog.stopping();
        let stats = std::mem::take(&mut self.stats);
        self.handle_door_events();
        // Locks the relay and joins the door thread.
        for e in self.door.shutdown() {
            if e == DoorEvent::Locked {
                info!(relay = "locked");
            }
        }
        self.record(event(EventKind::Stopped, Some(stats.summary())));
        info!("{}", stats.summary());
        stats
    }

    fn startup_detail(&self) -> String {
        format!(
            "gallery v{} ({} people), threshold {:.3}, camera {}",
            self.gallery.header().version,
            self.gallery.persons().len(),
            self.decider.threshold(),
            self.camera.describe()
        )
    }

    /// Whether the clock can be trusted (not before the time floor); the
    /// first time it is found set back, the incident is logged.
    fn check_clock(&mut self) -> bool {
        let r = self.time_floor.read(clock::now_ms());
        if r.went_back {
            let detail = format!(
                "system clock {} is before {}, the latest time this terminal has seen; \
                 people with a validity window are denied until the clock is set",
                rfc3339(r.now_ms),
                rfc3339(r.floor_ms)
            );
            warn!(%detail, "incident: clock went back");
            self.record(event(EventKind::ClockWentBack, Some(detail)));
        }
        r.trusted
    }

    /// Appends to the event log; a failure (disk full) is reported, not fatal.
    fn record(&mut self, e: Event) {
        if let Err(err) = self.log.append(&e) {
            warn!(%err, kind = %e.kind, "event not logged");
        }
    }

    fn holding(&self) -> bool {
        self.shown.alarm.is_some() || self.shown.hold_until.is_some_and(|t| Instant::now() < t)
    }

    fn show_idle(&mut self) {
        if !self.holding() {
            let site = self.config.terminal.site.clone();
            self.show(Screen::Idle { site }, None);
        }
    }

    fn show(&mut self, screen: Screen, hold: Option<Duration>) {
        self.shown.hold_until = hold.map(|d| Instant::now() + d);
        if self.shown.current.as_ref() == Some(&screen) {
            return;
        }
        match self.panel.show(&screen) {
            Ok(()) => {
                self.shown.display_error = None;
                self.shown.current = Some(screen);
            }
            // Not marked as shown: the next call tries again. Warned once
            // per distinct error.
            Err(e) => {
                let msg = e.to_string();
                if self.shown.display_error.as_ref() != Some(&msg) {
                    warn!(%e, "display");
                    self.shown.display_error = Some(msg);
                }
                self.shown.current = None;
            }
        }
    }
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn event(kind: EventKind, detail: Option<String>) -> Event {
    Event {
        time_ms: clock::now_ms(),
        kind,
        person_id: None,
        name: None,
        score: None,
        frames: 0,
        detail,
    }
}

/// Runs `f` inside a tracing span named `stage`, adding its time to `total`.
fn timed<T>(total: &mut Duration, stage: &'static str, f: impl FnOnce() -> T) -> T {
    let _span = info_span!("stage", stage).entered();
    let t = Instant::now();
    let out = f();
    *total += t.elapsed();
    out
}
