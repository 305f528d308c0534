//! `facegate usb-import` and `facegate usb-export`, run by
//! `board/usb-import.sh` as the unprivileged `facegate` user on a mounted
//! stick, and `facegate export-request`, run on the admin's computer.
//!
//! Every refusal is one line on stderr (the journal) with its reason.
//! Exit codes: 0 done (or nothing offered), 1 refused, 2 error.

use std::ffi::OsStr;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result};
use rustix::fs::FileType;

use facegate::config::Config;
use facegate::export_request::{self, Spent};
use facegate::gallery::Keyring;
use facegate::gallery::keys::{self, hex};
use facegate::usb_import::{
    EXPORT_REQUEST, ImportError, import_gallery, open_beneath, open_dir, read_beneath, safe_tag,
    unique_name, write_new,
};

fn log(partition: &OsStr, msg: &str) {
    eprintln!("facegate usb {}: {msg}", partition.to_string_lossy());
}

/// Copies the stick's `facegate/gallery.fgal` into the inbox.
pub fn import(from: &Path, config: &Path, partition: &OsStr) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let inbox = config.resolve(&config.update.inbox);
    match import_gallery(from, &inbox, config.update.max_bytes, partition) {
        Ok(path) => {
            log(
                partition,
                &format!("gallery handed to the terminal as {}", path.display()),
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Missing { path }) => {
            log(partition, &format!("no gallery offered ({path} not found)"));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            log(partition, &format!("gallery refused, nothing copied: {e}"));
            Ok(ExitCode::from(1))
        }
    }
}

/// Where used export requests are recorded: beside the event log.
fn spent(config: &Config) -> Spent {
    let log = config.resolve(&config.events.path);
    Spent::new(&log.with_file_name("export-requests.used"))
}

/// Verifies the stick's `facegate/export-request`; unless `check`, writes
/// the event log as CSV to `facegate/` on the stick under a new name.
pub fn export(from: &Path, config: &Path, partition: &OsStr, check: bool) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let refused = |msg: String| -> Result<ExitCode> {
        log(partition, &format!("no event export: {msg}"));
        Ok(ExitCode::from(1))
    };
    let root = open_dir(from)?;
    let bytes = match read_beneath(&root, &EXPORT_REQUEST, export_request::MAX_BYTES) {
        Ok(bytes) => bytes,
        Err(ImportError::Missing { .. }) => {
            return refused("no export request on the stick".into());
        }
        Err(e) => return refused(format!("export request refused: {e}")),
    };
    let keys_dir = config
        .update
        .admin_keys
        .as_ref()
        .or(config.terminal.keys.as_ref())
        .map(|d| config.resolve(d));
    let Some(keys_dir) = keys_dir else {
        return refused(
            "export request ignored: no admin keys configured ([update] admin_keys or [terminal] keys)"
                .into(),
        );
    };
    let keyring = Keyring::from_dir(&keys_dir)?;
    let site = &config.terminal.site;
    let request = match export_request::verify(&bytes, &keyring, site, SystemTime::now()) {
        Ok(r) => r,
        Err(e) => return refused(format!("{e}, ignored")),
    };
    let spent = spent(&config);
    if spent
        .contains(&request)
        .context("reading the used-requests record")?
    {
        return refused(format!(
            "export request {} was already used on this terminal, ignored",
            hex(&request.nonce)
        ));
    }
    if check {
        log(
            partition,
            &format!(
                "valid export request signed by key {}, nonce {}",
                hex(&request.key),
                hex(&request.nonce)
            ),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let log_path = config.resolve(&config.events.path);
    let events = if log_path.exists() {
        facegate::events::read(&log_path)?.events
    } else {
        Vec::new()
    };
    let csv = facegate::events::to_csv(&events);
    let (dir, _) = open_beneath(&root, &EXPORT_REQUEST[..1], FileType::Directory)?;
    let name = unique_name("events", &safe_tag(OsStr::new(site)), ".csv");
    write_new(&dir, &name, csv.as_bytes(), 0o644)
        .with_context(|| format!("writing facegate/{name} on the stick"))?;
    spent
        .insert(&request)
        .context("recording the used export request")?;
    log(
        partition,
        &format!(
            "{} events written to the stick as facegate/{name} (request key {}, nonce {})",
            events.len(),
            hex(&request.key),
            hex(&request.nonce)
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// Makes a signed export request on the admin's computer.
pub fn make_request(sign: &Path, site: &str, valid: &str, out: &Path) -> Result<()> {
    let key = keys::read_signing_key(sign)?;
    let valid = humantime::parse_duration(valid)
        .with_context(|| format!("--valid {valid:?}: use a duration such as 24h or 7d"))?;
    let text = export_request::make(&key, site, valid, SystemTime::now())?;
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    let expires = text
        .lines()
        .find_map(|l| l.strip_prefix("expires: "))
        .unwrap_or("?");
    println!(
        "export request for site {site:?}, valid until {expires}, signed by key {}, written to {}",
        hex(&keys::key_id(&key.verifying_key())),
        out.display()
    );
    Ok(())
}
