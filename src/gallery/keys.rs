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
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| bad("empty"))?;
    if line.len() != 64 {
        return Err(bad("expected 64 hex digits"));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&line[2 * i..2 * i + 2], 16).map_err(|_| bad("not hex"))?;
    }
    Ok(out)
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

    /// Every `*.pub` file in `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, KeyError> {
        let entries = std::fs::read_dir(dir).map_err(|cause| KeyError::Io {
            path: dir.to_path_buf(),
            cause,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pub"))
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
