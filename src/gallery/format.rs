//! The gallery file: what is stored, and how it is framed, checked and signed.
//! The byte-level specification is `docs/gallery-format.md`.

use heapless::String as HString;
use serde::{Deserialize, Serialize};

/// File magic.
pub const MAGIC: [u8; 4] = *b"FGAL";
/// Format version written by this build; newer versions are refused.
/// Version 1 files (no provenance flag, never encrypted) are still read.
pub const FORMAT_VERSION: u16 = 2;
/// Longest display name (bytes of UTF-8).
pub const MAX_NAME: usize = 64;
/// Longest badge number.
pub const MAX_BADGE: usize = 32;
/// Longest model id.
pub const MAX_MODEL_ID: usize = 32;
/// Most templates kept per person.
pub const MAX_TEMPLATES: usize = 16;
/// Default limit on a gallery file's size (a configured limit may be lower).
pub const DEFAULT_MAX_FILE: usize = 256 * 1024 * 1024;

/// A bounded display name.
pub type Name = HString<MAX_NAME>;
/// A bounded badge number.
pub type Badge = HString<MAX_BADGE>;
/// A bounded model id.
pub type ModelId = HString<MAX_MODEL_ID>;

/// How templates are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// Signed 8-bit components with one f32 scale per template:
    /// `value = scale * q`.
    I8,
}

/// Gallery-wide facts, checked before a gallery is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Which embedding model made the templates (must match the device's).
    pub model_id: ModelId,
    /// SHA-256 of the embedding model's weights when the gallery was made.
    pub weights_sha256: [u8; 32],
    /// Components per template.
    pub embedding_dim: u16,
    /// Template encoding.
    pub encoding: Encoding,
    /// Gallery version counter; an update must increase it.
    pub version: u64,
    /// Creation time, seconds since the Unix epoch.
    pub created_unix: u64,
    /// Key id of the signer, when signed.
    pub issuer: Option<[u8; 8]>,
    /// Cosine score at or above which a face matches.
    pub threshold: f32,
    /// Made by editing a gallery whose signature was not verified
    /// (`--allow-unverified`): whoever signed this did not vouch for its input.
    pub from_unverified: bool,
}

/// The header of format version 1 (no provenance flag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeaderV1 {
    /// See [`Header`].
    pub model_id: ModelId,
    /// See [`Header`].
    pub weights_sha256: [u8; 32],
    /// See [`Header`].
    pub embedding_dim: u16,
    /// See [`Header`].
    pub encoding: Encoding,
    /// See [`Header`].
    pub version: u64,
    /// See [`Header`].
    pub created_unix: u64,
    /// See [`Header`].
    pub issuer: Option<[u8; 8]>,
    /// See [`Header`].
    pub threshold: f32,
}

impl From<HeaderV1> for Header {
    fn from(h: HeaderV1) -> Self {
        Self {
            model_id: h.model_id,
            weights_sha256: h.weights_sha256,
            embedding_dim: h.embedding_dim,
            encoding: h.encoding,
            version: h.version,
            created_unix: h.created_unix,
            issuer: h.issuer,
            threshold: h.threshold,
            from_unverified: false,
        }
    }
}

/// One stored face template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Dequantisation scale.
    pub scale: f32,
    /// Quantised components (`embedding_dim` of them).
    pub values: Vec<i8>,
    /// First 16 bytes of the SHA-256 of the photo it came from (for
    /// `enroll --update`).
    pub source: [u8; 16],
}

/// An enrolled person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// Stable id, kept across updates.
    pub id: u32,
    /// Display name.
    pub name: Name,
    /// Optional badge number.
    pub badge: Option<Badge>,
    /// Access valid from (Unix seconds), if limited.
    pub valid_from: Option<u64>,
    /// Access valid until (Unix seconds), if limited.
    pub valid_until: Option<u64>,
    /// One or more templates.
    pub templates: Vec<Template>,
}

/// A gallery's contents in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    /// Gallery-wide facts.
    pub header: Header,
    /// Enrolled people.
    pub persons: Vec<Person>,
}

/// Format version 1's body: everything under the CRC (and signature).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BodyV1 {
    /// Gallery-wide facts.
    pub header: HeaderV1,
    /// Enrolled people.
    pub persons: Vec<Person>,
}

/// Format version 2's payload: the header in the clear (so a device can
/// check model, version and threshold before anything else), the people
/// in the clear or sealed to device keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// Gallery-wide facts (also the associated data of the sealed people).
    pub header: Header,
    /// The people.
    pub people: People,
}

/// The people of a version 2 file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum People {
    /// Readable by anyone with the file.
    Plain(Vec<Person>),
    /// Encrypted: only the listed device keys can read them.
    Sealed(Sealed),
}

/// People encrypted at rest: `postcard(Vec<Person>)` under a random content
/// key with ChaCha20-Poly1305 (associated data: the header's postcard bytes),
/// the content key sealed to each recipient with HPKE (RFC 9180: X25519,
/// HKDF-SHA256, ChaCha20-Poly1305, base mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sealed {
    /// One entry per device that can read the gallery.
    pub recipients: Vec<Recipient>,
    /// ChaCha20-Poly1305 nonce of the people.
    pub nonce: [u8; 12],
    /// The encrypted people, with the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// The content key, sealed to one device's X25519 public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    /// The device's public key.
    pub public: [u8; 32],
    /// HPKE encapsulated key.
    pub encapped: [u8; 32],
    /// The content key, HPKE-sealed (32 bytes + 16-byte tag).
    pub wrapped: Vec<u8>,
}
