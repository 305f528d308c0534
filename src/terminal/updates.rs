//! Gallery updates between frames: the inbox, and the installed file
//! changing on disk.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{Terminal, event};
use crate::display::Screen;
use crate::events::EventKind;
use crate::gallery::Gallery;
use crate::update::UpdateError;

impl Terminal {
    /// Between frames: installs galleries offered in the inbox, and reloads
    /// the installed one if it changed on disk (`facegate gallery install`
    /// or `rollback`).
    pub(super) fn check_updates(&mut self) {
        if Instant::now() < self.next_update_check {
            return;
        }
        self.next_update_check =
            Instant::now() + Duration::from_millis(self.config.update.poll_ms.max(50));
        let version = self.gallery.header().version;
        for (file, outcome) in self.updates.poll(version) {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let hold = Some(Duration::from_millis(self.config.terminal.result_screen_ms));
            match outcome {
                Ok(gallery) => {
                    let detail = describe(&gallery, &format!("installed from {name}"));
                    info!(%detail, "gallery installed");
                    self.show(
                        Screen::Updating {
                            percent: Some(100),
                            message: format!("Installed v{}", gallery.header().version),
                        },
                        hold,
                    );
                    self.install_gallery(gallery);
                    self.record(event(EventKind::GalleryInstalled, Some(detail)));
                }
                Err(e) => {
                    let short = match &e {
                        UpdateError::Refused(r) => r.short(),
                        _ => "Cannot read file",
                    };
                    warn!(file = %name, err = %e, "gallery update refused");
                    self.show(
                        Screen::Updating {
                            percent: None,
                            message: format!("Refused: {short}"),
                        },
                        hold,
                    );
                    self.record(event(
                        EventKind::GalleryRefused,
                        Some(format!("{name}: {e}")),
                    ));
                }
            }
        }
        match self.updates.reload_if_changed() {
            Some(Ok(gallery)) if gallery.fingerprint() != self.fingerprint => {
                let detail = describe(&gallery, "reloaded: the installed gallery changed on disk");
                info!(%detail, "gallery reloaded");
                self.install_gallery(gallery);
                self.record(event(EventKind::GalleryInstalled, Some(detail)));
            }
            Some(Err(e)) => {
                warn!(err = %e, "installed gallery changed on disk but is unusable; keeping the one in memory");
                self.record(event(
                    EventKind::GalleryRefused,
                    Some(format!("installed file: {e}")),
                ));
            }
            _ => {}
        }
    }
}

/// "version N, K people, signed by KEY" and what happened.
fn describe(g: &Gallery, what: &str) -> String {
    let signer = g.signed_by.map_or("unsigned".to_string(), |k| {
        format!("signed by {}", crate::gallery::keys::hex(&k))
    });
    let sealed = if g.recipients.is_empty() {
        ""
    } else {
        ", encrypted"
    };
    let provenance = if g.header().from_unverified {
        ", made from an unverified input"
    } else {
        ""
    };
    format!(
        "{what}: version {}, {} people, {signer}{sealed}{provenance}",
        g.header().version,
        g.persons().len()
    )
}
