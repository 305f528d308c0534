//! `facegate run`: the terminal.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

use facegate::config::Config;
use facegate::terminal::Terminal;
use facegate::vision::{DetectorKind, EmbedderKind};

/// Logs to stderr; `FACEGATE_LOG` (e.g. `debug`, `facegate=trace`) filters.
pub fn init_logging() {
    let filter = EnvFilter::try_from_env("FACEGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Runs the terminal described by `config_path` until SIGTERM/SIGINT or the
/// end of a replayed camera.
/// `--detector`/`--embedder` given on the command line, over `[vision]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Models {
    pub detector: Option<DetectorKind>,
    pub embedder: Option<EmbedderKind>,
}

pub fn run(
    config_path: &Path,
    models: Models,
    threads_from_cli: bool,
    as_json: bool,
) -> Result<ExitCode> {
    init_logging();
    let mut config = Config::load(config_path)?;
    if let Some(d) = models.detector {
        config.vision.detector = d;
    }
    if let Some(e) = models.embedder {
        config.vision.embedder = e;
    }
    if let (Some(n), false) = (config.terminal.threads, threads_from_cli) {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting the thread count")?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
    }
    let (terminal, _) = Terminal::open(config, stop)?;
    let stats = terminal.run()?;
    if as_json {
        println!("{}", serde_json::to_string(&stats)?);
    } else {
        println!("{}", stats.summary());
    }
    Ok(ExitCode::SUCCESS)
}
