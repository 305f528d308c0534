//! `facegate events list|export`.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};

use facegate::events::{self, Event, EventKind, export};

/// Events at or after `since` (Unix ms) and of one of `kinds` (all if empty).
fn select(log: &Path, since: Option<&str>, kinds: &[EventKind]) -> Result<Vec<Event>> {
    let since = since
        .map(|s| events::parse_since(s, SystemTime::now()))
        .transpose()
        .map_err(anyhow::Error::msg)?
        .unwrap_or(0);
    let contents = events::read(log)?;
    for (file, bytes) in &contents.ignored {
        eprintln!(
            "warning: {}: {bytes} bytes after the last good record ignored",
            file.display()
        );
    }
    Ok(contents
        .events
        .into_iter()
        .filter(|e| e.time_ms >= since && (kinds.is_empty() || kinds.contains(&e.kind)))
        .collect())
}

/// Runs `print` on a locked stdout; a reader that went away (`| head`) is
/// not an error.
fn to_stdout(print: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match print(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other.context("writing to stdout")?),
    }
}

/// Prints a table, or JSON lines.
pub fn list(log: &Path, since: Option<&str>, kinds: &[EventKind], as_json: bool) -> Result<()> {
    let events = select(log, since, kinds)?;
    to_stdout(|out| print_list(out, &events, as_json))
}

fn print_list(out: &mut dyn Write, events: &[Event], as_json: bool) -> std::io::Result<()> {
    if as_json {
        for e in events {
            writeln!(out, "{}", export::to_json(e))?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<24} {:<18} {:<24} {:>6} {:>6}  detail",
        "time (UTC)", "kind", "name", "score", "frames"
    )?;
    for e in events {
        writeln!(
            out,
            "{:<24} {:<18} {:<24} {:>6} {:>6}  {}",
            export::time_text(e),
            e.kind.as_str(),
            e.name.as_deref().unwrap_or("-"),
            e.score.map_or("-".into(), |s| format!("{s:.3}")),
            e.frames,
            e.detail.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// Writes CSV or a JSON array to `out` (atomically) or stdout.
pub fn export(log: &Path, format: &str, since: Option<&str>, out: Option<&Path>) -> Result<()> {
    let events = select(log, since, &[])?;
    let text = match format {
        "csv" => events::to_csv(&events),
        "json" => {
            let all: Vec<_> = events.iter().map(events::to_json).collect();
            serde_json::to_string_pretty(&all)? + "\n"
        }
        other => anyhow::bail!("unknown format {other:?} (csv or json)"),
    };
    match out {
        Some(path) => {
            facegate::atomic::write(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("{} events written to {}", events.len(), path.display());
        }
        None => to_stdout(|out| out.write_all(text.as_bytes()))?,
    }
    Ok(())
}
