//! systemd readiness and watchdog notifications (no-ops outside systemd).

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Pings the systemd watchdog at half its period, only while healthy.
pub struct Watchdog {
    period: Option<Duration>,
    last: Instant,
}

impl Watchdog {
    /// Reads `WATCHDOG_USEC` from the environment systemd gave us.
    pub fn from_env() -> Self {
        Self {
            period: sd_notify::watchdog_enabled().map(|p| p / 2),
            last: Instant::now(),
        }
    }

    /// Tells systemd the service is up.
    pub fn ready(&mut self, status: &str) {
        let status = format!("running: {status}");
        let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    /// Pings if due and `healthy`; a stuck or unhealthy loop stops pinging
    /// and systemd restarts the service.
    pub fn ping(&mut self, healthy: bool) {
        if let Some(period) = self.period
            && healthy
            && self.last.elapsed() >= period
        {
            let _ = sd_notify::notify(&[NotifyState::Watchdog]);
            self.last = Instant::now();
        }
    }

    /// Tells systemd we are stopping.
    pub fn stopping(&mut self) {
        let _ = sd_notify::notify(&[NotifyState::Stopping]);
    }
}
