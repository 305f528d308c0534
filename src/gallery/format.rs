//! The gallery file: what is stored, and how it is framed, checked and signed.
//! The byte-level specification is `docs/gallery-format.md`.

use heapless::String as HString;
use serde::{Deserialize, Serialize};

/// File magic.
pub const MAGIC: [u8; 4] = *b"FGAL";
/// Format version written by this build; newer versions are refused.
pub const FORMAT_VERSION: u16 = 1;
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

/// Everything under the CRC (and signature).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    /// Gallery-wide facts.
    pub header: Header,
    /// Enrolled people.
    pub persons: Vec<Person>,
}
