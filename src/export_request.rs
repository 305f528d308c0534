//! Signed requests for the event log: a USB stick gets the log (names,
//! times, scores) written to it only if it carries `facegate/export-request`
//! signed by a trusted admin key, for this site, and not expired.
//!
//! The file is seven lines of text, made by `facegate export-request`:
//!
//! ```text
//! facegate export-request v1
//! site: Demo lobby
//! created: 2026-12-01T17:00:00Z
//! expires: 2026-12-02T17:00:00Z
//! nonce: 32 hex digits
//! key: 16 hex digits (the signing key's id)
//! signature: 128 hex digits
//! ```
//!
//! The ed25519 signature covers every byte before the `signature:` line.
//! A request is valid for at most [`MAX_VALIDITY`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signature, Signer, SigningKey};

use crate::gallery::Keyring;
use crate::gallery::keys::{hex, key_id};

/// First line of a request.
pub const MAGIC: &str = "facegate export-request v1";

/// Longest validity of a request.
pub const MAX_VALIDITY: Duration = Duration::from_secs(31 * 86400);

/// Largest request file read.
pub const MAX_BYTES: u64 = 4096;

/// How far in the future a request's creation time may be (clock skew).
const SKEW: u64 = 300;

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Not a request at all.
    #[error("malformed export request ({0})")]
    Malformed(String),
    /// Signed by a key not in the admin keyring.
    #[error("export request signed by untrusted key {0}")]
    UnknownKey(String),
    /// The signature does not verify: forged or altered.
    #[error("export request signature invalid (key {0}): forged or altered")]
    BadSignature(String),
    /// Made for another site.
    #[error("export request is for site {found:?}, this terminal is {expected:?}")]
    WrongSite {
        /// The request's site.
        found: String,
        /// This terminal's site.
        expected: String,
    },
    /// Expired.
    #[error("export request expired at {0}")]
    Expired(String),
    /// Created in the future.
    #[error("export request created in the future ({0})")]
    NotYetValid(String),
    /// Valid for longer than allowed.
    #[error("export request valid for longer than {} days", MAX_VALIDITY.as_secs() / 86400)]
    TooLong,
}

impl RequestError {
    /// A short stable name for logs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::Malformed(_) => "malformed",
            RequestError::UnknownKey(_) => "unknown-key",
            RequestError::BadSignature(_) => "bad-signature",
            RequestError::WrongSite { .. } => "wrong-site",
            RequestError::Expired(_) => "expired",
            RequestError::NotYetValid(_) => "not-yet-valid",
            RequestError::TooLong => "too-long",
        }
    }
}

/// A verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The site it is for.
    pub site: String,
    /// Creation time, Unix seconds.
    pub created: u64,
    /// Expiry time, Unix seconds.
    pub expires: u64,
    /// Random nonce.
    pub nonce: [u8; 16],
    /// Id of the signing key.
    pub key: [u8; 8],
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// Makes a signed request for `site`, valid for `valid` from `now`.
pub fn make(
    key: &SigningKey,
    site: &str,
    valid: Duration,
    now: SystemTime,
) -> Result<String, RequestError> {
    if site.is_empty() || site.chars().any(char::is_control) {
        return Err(RequestError::Malformed(
            "the site name must be one line of text".into(),
        ));
    }
    if valid > MAX_VALIDITY || valid.is_zero() {
        return Err(RequestError::TooLong);
    }
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| RequestError::Malformed(e.to_string()))?;
    let created = unix(now);
    let body = format!(
        "{MAGIC}\nsite: {site}\ncreated: {}\nexpires: {}\nnonce: {}\nkey: {}\n",
        rfc3339(created),
        rfc3339(created + valid.as_secs()),
        hex(&nonce),
        hex(&key_id(&key.verifying_key())),
    );
    let signature = key.sign(body.as_bytes());
    Ok(format!("{body}signature: {}\n", hex(&signature.to_bytes())))
}

fn unhex<const N: usize>(text: &str, what: &str) -> Result<[u8; N], RequestError> {
    let bad = || RequestError::Malformed(format!("{what} is not {} hex digits", 2 * N));
    if text.len() != 2 * N || !text.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn time(text: &str, what: &str) -> Result<u64, RequestError> {
    humantime::parse_rfc3339(text)
        .map(unix)
        .map_err(|_| RequestError::Malformed(format!("{what} is not an RFC 3339 time")))
}

/// Checks a request file's bytes: format, trusted key, signature, then site
/// and times against `now`. Nothing in the file is believed before its
/// signature verifies.
pub fn verify(
    bytes: &[u8],
    keyring: &Keyring,
    site: &str,
    now: SystemTime,
) -> Result<Request, RequestError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| RequestError::Malformed("not UTF-8 text".into()))?;
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    let fields = [
        "",
        "site: ",
        "created: ",
        "expires: ",
        "nonce: ",
        "key: ",
        "signature: ",
    ];
    if lines.len() != fields.len() || !text.ends_with('\n') || lines[0] != MAGIC {
        return Err(RequestError::Malformed(format!(
            "expected the {} lines of a {MAGIC:?} file",
            fields.len()
        )));
    }
    let mut values = Vec::with_capacity(fields.len());
    for (line, field) in lines.iter().zip(fields).skip(1) {
        let value = line.strip_prefix(field).ok_or_else(|| {
            RequestError::Malformed(format!("expected a line {:?}", field.trim_end()))
        })?;
        values.push(value);
    }
    let key: [u8; 8] = unhex(values[4], "key")?;
    let signature: [u8; 64] = unhex(values[5], "signature")?;
    let signed_len = text.len() - lines[6].len() - 1;
    let public = keyring
        .get(&key)
        .ok_or_else(|| RequestError::UnknownKey(hex(&key)))?;
    public
        .verify_strict(&bytes[..signed_len], &Signature::from_bytes(&signature))
        .map_err(|_| RequestError::BadSignature(hex(&key)))?;
    let request = Request {
        site: values[0].to_string(),
        created: time(values[1], "created")?,
        expires: time(values[2], "expires")?,
        nonce: unhex(values[3], "nonce")?,
        key,
    };
    if request.site != site {
        return Err(RequestError::WrongSite {
            found: request.site,
            expected: site.to_string(),
        });
    }
    let now = unix(now);
    if request.expires <= now {
        return Err(RequestError::Expired(rfc3339(request.expires)));
    }
    if request.created > now + SKEW {
        return Err(RequestError::NotYetValid(rfc3339(request.created)));
    }
    if request.expires.saturating_sub(request.created) > MAX_VALIDITY.as_secs() {
        return Err(RequestError::TooLong);
    }
    Ok(request)
}

/// The record of requests already used on this terminal (one line per
/// request: nonce, expiry): a copied request cannot be replayed here.
#[derive(Debug, Clone)]
pub struct Spent {
    path: std::path::PathBuf,
}

impl Spent {
    /// The record in the file at `path` (missing: none used yet).
    pub fn new(path: &std::path::Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    /// Whether `request` was used before.
    pub fn contains(&self, request: &Request) -> std::io::Result<bool> {
        let nonce = hex(&request.nonce);
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(text
                .lines()
                .any(|l| l.split_whitespace().next() == Some(nonce.as_str()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records `request` as used (appended and fsynced).
    pub fn insert(&self, request: &Request) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(&self.path)?;
        writeln!(f, "{} {}", hex(&request.nonce), request.expires)?;
        f.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn ring() -> Keyring {
        Keyring::new(vec![key(1).verifying_key()])
    }

    fn code(r: Result<Request, RequestError>) -> &'static str {
        r.map_or_else(|e| e.code(), |_| "valid")
    }

    #[test]
    fn only_a_signed_current_request_for_this_site_is_valid() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let day = Duration::from_secs(86400);
        let good = make(&key(1), "Demo lobby", day, now).unwrap();
        let ok = verify(good.as_bytes(), &ring(), "Demo lobby", now).unwrap();
        assert_eq!(ok.site, "Demo lobby");
        assert_eq!(ok.expires - ok.created, 86400);
        let v = |text: &str, site: &str, at: SystemTime| {
            code(verify(text.as_bytes(), &ring(), site, at))
        };
        assert_eq!(v(&good, "Other site", now), "wrong-site");
        assert_eq!(v(&good, "Demo lobby", now + 2 * day), "expired");
        assert_eq!(v(&good, "Demo lobby", now - day), "not-yet-valid");
        let stranger = make(&key(2), "Demo lobby", day, now).unwrap();
        assert_eq!(v(&stranger, "Demo lobby", now), "unknown-key");
        let retargeted = good.replace("Demo lobby", "Demo lobbx");
        assert_eq!(v(&retargeted, "Demo lobbx", now), "bad-signature");
        let extended = good.replace("expires: 2027", "expires: 2028");
        assert_ne!(extended, good);
        assert_eq!(v(&extended, "Demo lobby", now), "bad-signature");
        let unsigned: String = good.lines().take(6).map(|l| format!("{l}\n")).collect();
        assert_eq!(v(&unsigned, "Demo lobby", now), "malformed");
        assert_eq!(v("", "Demo lobby", now), "malformed");
        assert_eq!(
            v(&good.replace('\n', "\r\n"), "Demo lobby", now),
            "malformed"
        );
        assert!(make(&key(1), "a\nb", day, now).is_err());
        assert!(make(&key(1), "x", 40 * day, now).is_err());
    }
}
