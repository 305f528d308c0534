//! The gallery: enrolled people and their face templates, stored as a compact,
//! versioned, CRC-checked and optionally ed25519-signed `postcard` file
//! (`docs/gallery-format.md`), and searched 1:N.

pub mod format;
pub mod keys;
pub mod seal;
pub mod search;

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey};

pub use format::{Body, Encoding, Header, Person, Template};
pub use keys::{Keyring, key_id};
pub use seal::{DeviceKey, SealError};
pub use search::{Index, Match};

use crate::vision::Embedding;
use format::{BodyV1, FORMAT_VERSION, MAGIC, MAX_TEMPLATES, Payload, People};

/// Bytes before the body: magic, version, flags, body length.
const PREFIX: usize = 12;
/// Signature kinds.
const UNSIGNED: u8 = 0;
const ED25519: u8 = 1;

/// Why a gallery file was refused.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// File access failed.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// Not a gallery file.
    #[error("not a facegate gallery (bad magic)")]
    BadMagic,
    /// Written by a newer facegate.
    #[error("gallery format version {0} is newer than this build reads ({FORMAT_VERSION})")]
    FutureVersion(u16),
    /// The file ends early.
    #[error("gallery file is truncated ({0})")]
    Truncated(String),
    /// Larger than allowed.
    #[error("gallery of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Claimed or actual size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The checksum does not match: damaged in storage or transit.
    #[error("gallery is corrupt (CRC-32 {found:08x}, expected {expected:08x})")]
    Crc {
        /// Stored CRC.
        expected: u32,
        /// Computed CRC.
        found: u32,
    },
    /// The body does not decode or breaks a rule.
    #[error("gallery is malformed: {0}")]
    Malformed(String),
    /// Made with another embedding model.
    #[error("gallery was made for model {found}, this device runs {expected}")]
    ModelMismatch {
        /// The gallery's model.
        found: String,
        /// The device's model.
        expected: String,
    },
    /// Signed, but the signature is wrong: tampered with or damaged.
    #[error("gallery signature is invalid (signed by key {0})")]
    BadSignature(String),
    /// Signed by a key the device does not trust.
    #[error("gallery is signed by unknown key {0}")]
    UnknownKey(String),
    /// Unsigned where a signature is required.
    #[error("gallery is not signed, and signatures are required")]
    Unsigned,
    /// Encrypted, and this reader cannot decrypt it.
    #[error("gallery is encrypted: {0}")]
    Sealed(#[from] SealError),
    /// Its match threshold is below the device's floor: it would admit
    /// nearly anyone.
    #[error("gallery threshold {found:.3} is below this device's floor of {floor:.3}")]
    WeakThreshold {
        /// The gallery's threshold.
        found: f32,
        /// The device's floor.
        floor: f32,
    },
    /// Enrolled with other model weights than the device's (same model id).
    #[error("gallery was enrolled with model weights {found}, this device's are {expected}")]
    WeightsMismatch {
        /// The gallery's weights hash (hex).
        found: String,
        /// The device's (hex).
        expected: String,
    },
}

/// What a reader accepts.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Largest file accepted.
    pub max_size: usize,
    /// The device's embedding model id, if it must match.
    pub model_id: Option<String>,
    /// Trusted keys; a signed gallery is verified against them.
    pub keyring: Keyring,
    /// Refuse unsigned galleries.
    pub require_signature: bool,
    /// Check signatures. Off only to inspect a file (list, stats): the
    /// gallery then reports no verified signer.
    pub check_signature: bool,
    /// Device keys that may decrypt an encrypted gallery.
    pub device_keys: Vec<DeviceKey>,
    /// Refuse galleries whose threshold is below this.
    pub min_threshold: Option<f32>,
    /// The device's model weights hash; format-2 galleries must match it.
    pub weights_sha256: Option<[u8; 32]>,
}

impl Default for Policy {
    /// Any size up to the format's limit, any model, signatures checked when a
    /// key is known (an unknown signer is refused), unsigned accepted.
    fn default() -> Self {
        Self {
            max_size: format::DEFAULT_MAX_FILE,
            model_id: None,
            keyring: Keyring::default(),
            require_signature: false,
            check_signature: true,
            device_keys: Vec::new(),
            min_threshold: None,
            weights_sha256: None,
        }
    }
}

/// A decoded, checked gallery.
#[derive(Debug, Clone, PartialEq)]
pub struct Gallery {
    /// Header and people.
    pub body: Body,
    /// Key id of a verified signature.
    pub signed_by: Option<[u8; 8]>,
    /// Device public keys the people are encrypted to (none: in the clear).
    /// Read from an encrypted file, kept by edits, used by [`Gallery::encode`].
    pub recipients: Vec<[u8; 32]>,
}

impl Gallery {
    /// SHA-256 over the header and every person (templates included), one
    /// person at a time: tells whether two galleries hold the same body.
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(postcard::to_allocvec(&self.body.header).unwrap_or_default());
        for p in &self.body.persons {
            h.update(postcard::to_allocvec(p).unwrap_or_default());
        }
        h.finalize().into()
    }

    /// An empty gallery for `model_id`.
    pub fn new(
        model_id: &str,
        weights_sha256: [u8; 32],
        embedding_dim: u16,
        threshold: f32,
    ) -> Self {
        let mut id = format::ModelId::new();
        // Model ids are short constants; a longer one keeps its longest prefix.
        for c in model_id.chars() {
            if id.push(c).is_err() {
                break;
            }
        }
        Self {
            body: Body {
                header: Header {
                    model_id: id,
                    weights_sha256,
                    embedding_dim,
                    encoding: Encoding::I8,
                    version: 1,
                    created_unix: now_unix(),
                    issuer: None,
                    threshold,
                    from_unverified: false,
                },
                persons: Vec::new(),
            },
            signed_by: None,
            recipients: Vec::new(),
        }
    }

    /// What a terminal holds when no usable gallery is installed: nobody,
    /// version 0 (so any offered gallery above the anti-rollback floor is
    /// newer), created at the epoch (it raises no time floor). Never saved.
    pub fn none_installed(model_id: &str, weights_sha256: [u8; 32], embedding_dim: u16) -> Self {
        let mut g = Self::new(model_id, weights_sha256, embedding_dim, f32::INFINITY);
        g.body.header.version = 0;
        g.body.header.created_unix = 0;
        g
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.body.header
    }

    /// The people.
    pub fn persons(&self) -> &[Person] {
        &self.body.persons
    }

    /// Serialises, signing with `key` when given (which sets the issuer).
    pub fn encode(&self, key: Option<&SigningKey>) -> Result<Vec<u8>, GalleryError> {
        let mut header = self.body.header.clone();
        header.issuer = key.map(|k| key_id(&k.verifying_key()));
        validate(&header, &self.body.persons)?;
        let malformed = |e: postcard::Error| GalleryError::Malformed(e.to_string());
        let header_bytes = postcard::to_stdvec(&header).map_err(malformed)?;
        let people = if self.recipients.is_empty() {
            People::Plain(self.body.persons.clone())
        } else {
            People::Sealed(seal::seal(
                &self.body.persons,
                &self.recipients,
                &header_bytes,
            )?)
        };
        let payload = postcard::to_stdvec(&Payload { header, people }).map_err(malformed)?;
        let len = u32::try_from(payload.len()).map_err(|_| GalleryError::TooLarge {
            size: payload.len() as u64,
            limit: u64::from(u32::MAX),
        })?;
        let mut out = Vec::with_capacity(PREFIX + payload.len() + 4 + 73);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&payload);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        match key {
            None => out.push(UNSIGNED),
            Some(key) => {
                let signature = key.sign(&out);
                out.push(ED25519);
                out.extend_from_slice(&key_id(&key.verifying_key()));
                out.extend_from_slice(&signature.to_bytes());
            }
        }
        Ok(out)
    }

    /// Parses and checks a gallery file's bytes under `policy`.
    pub fn decode(bytes: &[u8], policy: &Policy) -> Result<Self, GalleryError> {
        if bytes.len() > policy.max_size {
            return Err(GalleryError::TooLarge {
                size: bytes.len() as u64,
                limit: policy.max_size as u64,
            });
        }
        if bytes.len() < 4 || bytes[..4] != MAGIC {
            return Err(if bytes.len() < 4 && MAGIC.starts_with(bytes) {
                GalleryError::Truncated("no header".into())
            } else {
                GalleryError::BadMagic
            });
        }
        if bytes.len() < PREFIX {
            return Err(GalleryError::Truncated("no header".into()));
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version > FORMAT_VERSION {
            return Err(GalleryError::FutureVersion(version));
        }
        if version == 0 || bytes[6..8] != [0, 0] {
            return Err(GalleryError::Malformed(format!(
                "version {version}, flags {:02x}{:02x}",
                bytes[7], bytes[6]
            )));
        }
        let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        if len > policy.max_size {
            return Err(GalleryError::TooLarge {
                size: len as u64,
                limit: policy.max_size as u64,
            });
        }
        let crc_at = PREFIX + len;
        if bytes.len() < crc_at + 5 {
            return Err(GalleryError::Truncated(format!(
                "{} of at least {} bytes",
                bytes.len(),
                crc_at + 5
            )));
        }
        let stored = u32::from_le_bytes([
            bytes[crc_at],
            bytes[crc_at + 1],
            bytes[crc_at + 2],
            bytes[crc_at + 3],
        ]);
        let computed = crc32fast::hash(&bytes[..crc_at]);
        if stored != computed {
            return Err(GalleryError::Crc {
                expected: stored,
                found: computed,
            });
        }
        let signed = &bytes[..crc_at + 4];
        let signature = match (bytes[crc_at + 4], &bytes[crc_at + 5..]) {
            (UNSIGNED, []) => None,
            (ED25519, rest) if rest.len() == 72 => {
                let mut id = [0u8; 8];
                id.copy_from_slice(&rest[..8]);
                let mut sig = [0u8; 64];
                sig.copy_from_slice(&rest[8..]);
                Some((id, Signature::from_bytes(&sig)))
            }
            (ED25519, rest) if rest.len() < 72 => {
                return Err(GalleryError::Truncated("signature block".into()));
            }
            (kind, rest) => {
                return Err(GalleryError::Malformed(format!(
                    "signature kind {kind} with {} trailing bytes",
                    rest.len()
                )));
            }
        };
        // The signature is checked before the body is parsed: a hostile body
        // from an untrusted signer never reaches the decoder.
        let signed_by = match signature {
            None if policy.require_signature => return Err(GalleryError::Unsigned),
            None => None,
            Some(_) if !policy.check_signature => None,
            Some((id, sig)) => {
                let key = policy
                    .keyring
                    .get(&id)
                    .ok_or_else(|| GalleryError::UnknownKey(keys::hex(&id)))?;
                key.verify_strict(signed, &sig)
                    .map_err(|_| GalleryError::BadSignature(keys::hex(&id)))?;
                Some(id)
            }
        };
        let (body, recipients) = decode_payload(version, &bytes[PREFIX..crc_at], policy)?;
        validate(&body.header, &body.persons)?;
        if let Some(expected) = &policy.model_id
            && body.header.model_id.as_str() != expected
        {
            return Err(GalleryError::ModelMismatch {
                found: body.header.model_id.to_string(),
                expected: expected.clone(),
            });
        }
        // Format 1 stored the hash of whichever record enrolled (int8 or
        // fp32); format 2 stores the model's own weights hash, checked here.
        if let Some(expected) = policy.weights_sha256
            && version >= 2
            && body.header.weights_sha256 != expected
        {
            return Err(GalleryError::WeightsMismatch {
                found: keys::hex(&body.header.weights_sha256[..8]),
                expected: keys::hex(&expected[..8]),
            });
        }
        if let Some(floor) = policy.min_threshold
            && body.header.threshold < floor
        {
            return Err(GalleryError::WeakThreshold {
                found: body.header.threshold,
                floor,
            });
        }
        if signature.is_some() && body.header.issuer != signature.map(|(id, _)| id) {
            return Err(GalleryError::Malformed(
                "issuer in the header differs from the signer".into(),
            ));
        }
        Ok(Self {
            body,
            signed_by,
            recipients,
        })
    }

    /// Reads and checks a gallery file.
    pub fn load(path: &Path, policy: &Policy) -> Result<Self, GalleryError> {
        let io = |cause| GalleryError::Io {
            path: path.to_path_buf(),
            cause,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > policy.max_size as u64 {
            return Err(GalleryError::TooLarge {
                size,
                limit: policy.max_size as u64,
            });
        }
        Self::decode(&std::fs::read(path).map_err(io)?, policy)
    }

    /// Writes the gallery atomically (temp file, fsync, rename, fsync dir).
    pub fn save(&self, path: &Path, key: Option<&SigningKey>) -> Result<(), GalleryError> {
        let bytes = self.encode(key)?;
        crate::atomic::write(path, &bytes).map_err(|cause| GalleryError::Io {
            path: path.to_path_buf(),
            cause,
        })
    }

    /// The person with display name `name`.
    pub fn find(&self, name: &str) -> Option<&Person> {
        self.body.persons.iter().find(|p| p.name.as_str() == name)
    }
}

/// Quantises a unit embedding to a template.
pub fn quantise(e: &Embedding, source: [u8; 16]) -> Template {
    let max = e.0.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    Template {
        scale,
        values: e
            .0
            .iter()
            .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
            .collect(),
        source,
    }
}

/// The embedding a template stands for.
pub fn dequantise(t: &Template) -> Embedding {
    Embedding(t.values.iter().map(|&q| f32::from(q) * t.scale).collect())
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The body of a framed payload: format 1 (plain, old header) or 2 (header,
/// people plain or sealed); also the recipients of a sealed one.
fn decode_payload(
    version: u16,
    bytes: &[u8],
    policy: &Policy,
) -> Result<(Body, Vec<[u8; 32]>), GalleryError> {
    let malformed = |e: postcard::Error| GalleryError::Malformed(e.to_string());
    let trailing = |rest: &[u8]| {
        if rest.is_empty() {
            Ok(())
        } else {
            Err(GalleryError::Malformed(format!(
                "{} bytes after the body",
                rest.len()
            )))
        }
    };
    if version == 1 {
        let (old, rest) = postcard::take_from_bytes::<BodyV1>(bytes).map_err(malformed)?;
        trailing(rest)?;
        let body = Body {
            header: old.header.into(),
            persons: old.persons,
        };
        return Ok((body, Vec::new()));
    }
    let (payload, rest) = postcard::take_from_bytes::<Payload>(bytes).map_err(malformed)?;
    trailing(rest)?;
    let Payload { header, people } = payload;
    match people {
        People::Plain(persons) => Ok((Body { header, persons }, Vec::new())),
        People::Sealed(sealed) => {
            let header_bytes = postcard::to_stdvec(&header).map_err(malformed)?;
            let persons = seal::open(&sealed, &policy.device_keys, &header_bytes)?;
            let recipients = sealed.recipients.iter().map(|r| r.public).collect();
            Ok((Body { header, persons }, recipients))
        }
    }
}

/// Rules every stored gallery obeys.
fn validate(h: &Header, persons: &[Person]) -> Result<(), GalleryError> {
    let bad = |m: String| Err(GalleryError::Malformed(m));
    if h.embedding_dim == 0 || h.embedding_dim > 1024 {
        return bad(format!("embedding dimension {}", h.embedding_dim));
    }
    if !h.threshold.is_finite() || !(-1.0..=1.0).contains(&h.threshold) {
        return bad(format!("threshold {}", h.threshold));
    }
    let mut ids = std::collections::HashSet::new();
    for p in persons {
        if !ids.insert(p.id) {
            return bad(format!("person id {} appears twice", p.id));
        }
        if p.name.trim().is_empty() {
            return bad(format!("person {} has no name", p.id));
        }
        if p.templates.is_empty() || p.templates.len() > MAX_TEMPLATES {
            return bad(format!("{} has {} templates", p.name, p.templates.len()));
        }
        for t in &p.templates {
            if t.values.len() != usize::from(h.embedding_dim) {
                return bad(format!(
                    "{} has a template of {} values, the gallery's dimension is {}",
                    p.name,
                    t.values.len(),
                    h.embedding_dim
                ));
            }
            if !t.scale.is_finite() || t.scale <= 0.0 {
                return bad(format!("{} has a template scale of {}", p.name, t.scale));
            }
        }
    }
    Ok(())
}

/// `gallery` plus random unit-length templates (people named `synthetic-N`)
/// up to `people` in all, version up by one: load and speed tests at a site's
/// scale, where the real people still match.
pub fn synthetic(mut gallery: Gallery, people: usize) -> Gallery {
    let dim = usize::from(gallery.header().embedding_dim);
    let mut next_id = gallery.persons().iter().map(|p| p.id).max().unwrap_or(0) + 1;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    while gallery.body.persons.len() < people {
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        gallery.body.persons.push(Person {
            id: next_id,
            name: format!("synthetic-{next_id}")
                .as_str()
                .try_into()
                .unwrap_or_default(),
            badge: None,
            valid_from: None,
            valid_until: None,
            templates: vec![quantise(&Embedding::normalised(v), [0; 16])],
        });
        next_id += 1;
    }
    gallery.body.header.version += 1;
    gallery
}
