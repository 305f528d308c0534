//! Templates encrypted at rest: a gallery's people sealed to one or more
//! device keys (X25519), so names and templates on a lost USB stick or SD
//! card cannot be read without a device's secret key.
//!
//! The people are encrypted once with ChaCha20-Poly1305 under a random
//! content key, with the header as associated data (a changed header makes
//! decryption fail); the content key is sealed to each device with HPKE
//! (RFC 9180, base mode, X25519 / HKDF-SHA256 / ChaCha20-Poly1305). The
//! signature, when there is one, covers the ciphertext.
//!
//! Device key files are one line of hex (the 32-byte X25519 secret, or the
//! public key), like the signing keys of [`super::keys`].

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};

use super::format::{Person, Recipient, Sealed};
use super::keys::{self, KeyError};

/// The HPKE suite: X25519 / HKDF-SHA256 / ChaCha20-Poly1305.
type HpkeAead = hpke::aead::ChaCha20Poly1305;
/// See [`HpkeAead`].
type HpkeKdf = hpke::kdf::HkdfSha256;
/// HPKE `info`: binds the sealed key to this use.
const INFO: &[u8] = b"facegate gallery content key v2";

/// A device's secret key: decrypts galleries sealed to its public key.
#[derive(Clone)]
pub struct DeviceKey {
    secret: [u8; 32],
    public: [u8; 32],
}

impl std::fmt::Debug for DeviceKey {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey({})", keys::hex(&self.id()))
    }
}

impl DeviceKey {
    /// The key with this 32-byte X25519 secret.
    pub fn from_secret(secret: [u8; 32]) -> Result<Self, SealError> {
        let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(&secret)
            .map_err(|e| SealError::Key(e.to_string()))?;
        let pk = X25519HkdfSha256::sk_to_pk(&sk);
        let mut public = [0u8; 32];
        public.copy_from_slice(&pk.to_bytes());
        Ok(Self { secret, public })
    }

    /// A new random key.
    pub fn generate() -> Result<Self, KeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Self::from_secret(secret).map_err(|e| KeyError::Random(e.to_string()))
    }

    /// The public key to encrypt galleries to.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// Short id of the public key (first 8 bytes of its SHA-256).
    pub fn id(&self) -> [u8; 8] {
        public_id(&self.public)
    }

    /// Reads a secret device key file.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let secret = keys::read_hex32(path)?;
        Self::from_secret(secret).map_err(|e| KeyError::Format {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })
    }

    /// Writes `path` (secret, mode 0600, never overwritten) and `path.pub`
    /// (public); returns the public file's path.
    pub fn write(&self, path: &Path) -> Result<PathBuf, KeyError> {
        let id = keys::hex(&self.id());
        let public_path = public_path(path);
        keys::write_new(
            path,
            &format!(
                "# facegate device key {id} (X25519 secret: never leaves this device)\n{}\n",
                keys::hex(&self.secret)
            ),
            0o600,
        )?;
        keys::write_new(
            &public_path,
            &format!(
                "# facegate device public key {id}: `facegate enroll --encrypt-to DIR` with this file in DIR\n{}\n",
                keys::hex(&self.public)
            ),
            0o644,
        )?;
        Ok(public_path)
    }
}

/// `{path}.x25519`: where the public half of a device key file is written.
pub fn public_path(secret: &Path) -> PathBuf {
    let mut p = secret.as_os_str().to_owned();
    p.push(".x25519");
    p.into()
}

/// Short id of a device public key.
pub fn public_id(public: &[u8; 32]) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(public);
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    id
}

/// Every device public key (`*.x25519`) in `dir`, in name order.
pub fn read_recipients(dir: &Path) -> Result<Vec<[u8; 32]>, KeyError> {
    let entries = std::fs::read_dir(dir).map_err(|cause| KeyError::Io {
        path: dir.to_path_buf(),
        cause,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "x25519"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in &paths {
        let public = keys::read_hex32(p)?;
        // A key that HPKE cannot use is refused now, not at the first seal.
        <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(&public).map_err(|e| {
            KeyError::Format {
                path: p.clone(),
                msg: e.to_string(),
            }
        })?;
        if !out.contains(&public) {
            out.push(public);
        }
    }
    if out.is_empty() {
        return Err(KeyError::Format {
            path: dir.to_path_buf(),
            msg: "no device public keys (*.x25519) in this folder".into(),
        });
    }
    Ok(out)
}

/// Sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A key could not be used.
    #[error("device key unusable: {0}")]
    Key(String),
    /// No randomness.
    #[error("cannot get randomness: {0}")]
    Random(String),
    /// None of this device's keys is among the recipients.
    #[error("encrypted for other devices ({recipients}); this device's key is {ours}")]
    NotForUs {
        /// Ids of the recipients.
        recipients: String,
        /// Ids of our keys.
        ours: String,
    },
    /// Authentication failed: wrong key, or the file was altered.
    #[error("cannot decrypt: the file was altered or the key is wrong")]
    Decrypt,
    /// The decrypted people do not decode.
    #[error("decrypted people do not decode: {0}")]
    Decode(String),
}

/// Encrypts `persons` to `recipients` with `header_bytes` as associated data.
pub fn seal(
    persons: &[Person],
    recipients: &[[u8; 32]],
    header_bytes: &[u8],
) -> Result<Sealed, SealError> {
    let plain = postcard::to_stdvec(persons).map_err(|e| SealError::Decode(e.to_string()))?;
    let mut content_key = [0u8; 32];
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut content_key).map_err(|e| SealError::Random(e.to_string()))?;
    getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
    let cipher = ChaCha20Poly1305::new(&Key::from(content_key));
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plain,
                aad: header_bytes,
            },
        )
        .map_err(|_| SealError::Decrypt)?;
    let mut sealed_to = Vec::with_capacity(recipients.len());
    for public in recipients {
        let pk = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(public)
            .map_err(|e| SealError::Key(e.to_string()))?;
        let (encapped, wrapped) = hpke::single_shot_seal::<HpkeAead, HpkeKdf, X25519HkdfSha256>(
            &OpModeS::Base,
            &pk,
            INFO,
            &content_key,
            header_bytes,
        )
        .map_err(|e| SealError::Key(e.to_string()))?;
        let mut enc = [0u8; 32];
        enc.copy_from_slice(&encapped.to_bytes());
        sealed_to.push(Recipient {
            public: *public,
            encapped: enc,
            wrapped,
        });
    }
    Ok(Sealed {
        recipients: sealed_to,
        nonce,
        ciphertext,
    })
}

/// Decrypts sealed people with whichever of `keys` they were sealed to.
pub fn open(
    sealed: &Sealed,
    keys: &[DeviceKey],
    header_bytes: &[u8],
) -> Result<Vec<Person>, SealError> {
    let Some((key, recipient)) = keys.iter().find_map(|k| {
        sealed
            .recipients
            .iter()
            .find(|r| r.public == k.public)
            .map(|r| (k, r))
    }) else {
        let ids = |it: &mut dyn Iterator<Item = [u8; 8]>| {
            let v: Vec<String> = it.map(|id| keys::hex(&id)).collect();
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        return Err(SealError::NotForUs {
            recipients: ids(&mut sealed.recipients.iter().map(|r| public_id(&r.public))),
            ours: ids(&mut keys.iter().map(DeviceKey::id)),
        });
    };
    let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(&key.secret)
        .map_err(|e| SealError::Key(e.to_string()))?;
    let encapped = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&recipient.encapped)
        .map_err(|_| SealError::Decrypt)?;
    let content_key = hpke::single_shot_open::<HpkeAead, HpkeKdf, X25519HkdfSha256>(
        &OpModeR::Base,
        &sk,
        &encapped,
        INFO,
        &recipient.wrapped,
        header_bytes,
    )
    .map_err(|_| SealError::Decrypt)?;
    let content_key: [u8; 32] = content_key
        .as_slice()
        .try_into()
        .map_err(|_| SealError::Decrypt)?;
    let plain = ChaCha20Poly1305::new(&Key::from(content_key))
        .decrypt(
            &Nonce::from(sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: header_bytes,
            },
        )
        .map_err(|_| SealError::Decrypt)?;
    let (persons, rest) = postcard::take_from_bytes::<Vec<Person>>(&plain)
        .map_err(|e| SealError::Decode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(SealError::Decode(format!(
            "{} bytes after the people",
            rest.len()
        )));
    }
    Ok(persons)
}
