//! Ed25519 keys for signing galleries: key files, key ids and keyrings.
//!
//! Key files are one line of hex (64 digits: the 32-byte secret seed or public
//! key); lines starting with `#` are comments. A key id is the first 8 bytes of
//! the SHA-256 of the public key.

use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Errors reading or making keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// File access failed.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The file is not a key.
    #[error("{path}: not a facegate key ({msg})")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// No randomness for a new key.
    #[error("cannot get randomness for a new key: {0}")]
    Random(String),
}

/// The 8-byte id of a public key.
pub fn key_id(key: &VerifyingKey) -> [u8; 8] {
    let digest = Sha256::digest(key.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    id
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn read_hex32(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = std::fs::read_to_string(path).map_err(|cause| KeyError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    let bad = |msg: &str| KeyError::Format {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    };
    // A byte-order mark from a Windows editor; CRLF endings `lines()` takes.
    let line = text
        .trim_start_matches('\u{feff}')
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| bad("no key line, only blanks or comments"))?;
    // Checked before any slicing: a multi-byte character would split.
    if !line.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("the key line is not hex digits"));
    }
    if line.len() != 64 {
        return Err(bad(&format!(
            "expected 64 hex digits, found {}",
            line.len()
        )));
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(line.as_bytes().chunks_exact(2)) {
        *byte = (hex_digit(pair[0]) << 4) | hex_digit(pair[1]);
    }
    Ok(out)
}

/// The value of an ASCII hex digit (0 for anything else, checked before).
fn hex_digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Reads a secret key file.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    Ok(SigningKey::from_bytes(&read_hex32(path)?))
}

/// Reads a public key file.
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_bytes(&read_hex32(path)?).map_err(|e| KeyError::Format {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })
}

/// Makes a new key pair and writes `{stem}.key` (secret, mode 0600) and
/// `{stem}.pub`; returns the two paths.
pub fn generate(stem: &Path) -> Result<(PathBuf, PathBuf, SigningKey), KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    let public = key.verifying_key();
    let id = hex(&key_id(&public));
    let secret_path = stem.with_extension("key");
    let public_path = stem.with_extension("pub");
    let secret = format!(
        "# facegate gallery signing key {id} (secret: keep off the terminals)\n{}\n",
        hex(&key.to_bytes())
    );
    let public_text = format!(
        "# facegate gallery public key {id}\n{}\n",
        hex(public.as_bytes())
    );
    write_new(&secret_path, &secret, 0o600)?;
    write_new(&public_path, &public_text, 0o644)?;
    Ok((secret_path, public_path, key))
}

pub(crate) fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |cause| KeyError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Trusted public keys.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<VerifyingKey>,
}

impl Keyring {
    /// A keyring of `keys`.
    pub fn new(keys: Vec<VerifyingKey>) -> Self {
        Self { keys }
    }

    /// Every `*.pub` file in `dir` (directories of that name are skipped).
    pub fn from_dir(dir: &Path) -> Result<Self, KeyError> {
        let entries = std::fs::read_dir(dir).map_err(|cause| KeyError::Io {
            path: dir.to_path_buf(),
            cause,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pub") && !p.is_dir())
            .collect();
        paths.sort();
        let keys = paths
            .iter()
            .map(|p| read_verifying_key(p))
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// The keys.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// The key with id `id`.
    pub fn get(&self, id: &[u8; 8]) -> Option<&VerifyingKey> {
        self.keys.iter().find(|k| &key_id(k) == id)
    }

    /// Whether the keyring is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("facegate-keys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A public key file holding `text`, read back: never a panic.
    fn read_text(tag: &str, text: &str) -> Result<VerifyingKey, KeyError> {
        let path = dir(tag).join("k.pub");
        std::fs::write(&path, text).unwrap();
        read_verifying_key(&path)
    }

    fn format_msg(r: Result<VerifyingKey, KeyError>) -> String {
        match r {
            Err(KeyError::Format { msg, .. }) => msg,
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    fn a_public_key() -> String {
        let key = SigningKey::from_bytes(&[7; 32]);
        hex(key.verifying_key().as_bytes())
    }

    #[test]
    fn generated_keys_read_back() {
        let stem = dir("gen").join("site");
        let (secret, public, key) = generate(&stem).unwrap();
        assert_eq!(
            read_signing_key(&secret).unwrap().to_bytes(),
            key.to_bytes()
        );
        assert_eq!(read_verifying_key(&public).unwrap(), key.verifying_key());
    }

    #[test]
    fn crlf_comments_and_bom_are_accepted() {
        let hex = a_public_key();
        let want = SigningKey::from_bytes(&[7; 32]).verifying_key();
        let crlf = format!("# facegate gallery public key\r\n\r\n{hex}\r\n");
        assert_eq!(read_text("crlf", &crlf).unwrap(), want);
        let bom = format!("\u{feff}# comment\n{}\n", hex.to_uppercase());
        assert_eq!(read_text("bom", &bom).unwrap(), want);
    }

    #[test]
    fn malformed_key_files_are_errors_not_panics() {
        let hex = a_public_key();
        // 64 bytes with a two-byte character at an odd offset: slicing by
        // byte pairs would split it.
        let split = format!("é{}", &hex[..62]);
        assert_eq!(split.len(), 64);
        assert!(format_msg(read_text("split", &split)).contains("not hex"));
        // 64 characters, 128 bytes.
        let wide = "é".repeat(64);
        assert!(format_msg(read_text("wide", &wide)).contains("not hex"));
        let odd = &hex[..63];
        assert!(format_msg(read_text("odd", odd)).contains("found 63"));
        let long = format!("{hex}0");
        assert!(format_msg(read_text("long", &long)).contains("found 65"));
        // `from_str_radix` would take "+f" as 15.
        let plus = format!("+f{}", &hex[2..]);
        assert!(format_msg(read_text("plus", &plus)).contains("not hex"));
        let inner_space = format!("{} {}", &hex[..32], &hex[33..]);
        assert!(format_msg(read_text("space", &inner_space)).contains("not hex"));
        assert!(format_msg(read_text("empty", "")).contains("no key line"));
        let comments = "# facegate gallery public key\n\n   \n# nothing else\n";
        assert!(format_msg(read_text("comments", comments)).contains("no key line"));
        let binary = dir("binary").join("k.pub");
        std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).unwrap();
        assert!(matches!(
            read_verifying_key(&binary),
            Err(KeyError::Io { .. })
        ));
    }

    #[test]
    fn a_directory_named_pub_is_skipped_by_the_keyring() {
        let d = dir("ring");
        std::fs::create_dir(d.join("old.pub")).unwrap();
        assert!(matches!(
            read_verifying_key(&d.join("old.pub")),
            Err(KeyError::Io { .. })
        ));
        assert!(Keyring::from_dir(&d).unwrap().is_empty());
        let (_, _, key) = generate(&d.join("site")).unwrap();
        let ring = Keyring::from_dir(&d).unwrap();
        assert!(ring.get(&key_id(&key.verifying_key())).is_some());
        // A bad key file still stops the keyring: it is not silently left out.
        std::fs::write(d.join("bad.pub"), "é\n").unwrap();
        assert!(Keyring::from_dir(&d).is_err());
    }
}
