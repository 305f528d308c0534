//! Embeddings files (`calibrate --embeddings FILE`): each photo's embedding
//! under one system, so the runs on one photo set (its pairs, all its pairs,
//! 1:N) embed every photo once, and a reference system's embeddings (dlib's
//! `face_recognition`, written by `scripts/accuracy_dlib.py`) are scored by
//! the same code on the same pairs and galleries.
//!
//! Text, one photo a line, the photo's path and its components separated by
//! tabs and spaces; a photo without a usable face has no components:
//!
//! ```text
//! # facegate embeddings 1
//! # source: facegate retinaface sface int8 central fb143eea…
//! Aaron_Eckhart/Aaron_Eckhart_0001.jpg\t0.0123 -0.0456 …
//! Abel_Aguilar/Abel_Aguilar_0001.jpg\t
//! ```

use std::collections::BTreeMap;
use std::path::Path;

const MAGIC: &str = "# facegate embeddings 1";
const SOURCE: &str = "# source: ";
/// Longest embedding read (FaceNet + SFace + dlib fused is 768).
const MAX_DIM: usize = 4096;

/// Photos (relative paths) and their embeddings, `None` without a face.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Embeddings {
    /// Which system made them: compared, never interpreted.
    pub source: String,
    /// Photo → raw embedding as written (readers normalise).
    pub rows: BTreeMap<String, Option<Vec<f32>>>,
}

impl Embeddings {
    /// An empty file of `source`.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            rows: BTreeMap::new(),
        }
    }

    /// Parses a file's text; errors name the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines().enumerate();
        if lines.next().map(|(_, l)| l.trim_end()) != Some(MAGIC) {
            return Err(format!(
                "not an embeddings file (first line is not {MAGIC:?})"
            ));
        }
        let source = match lines.next() {
            Some((_, l)) if l.starts_with(SOURCE) => l[SOURCE.len()..].trim().to_string(),
            _ => return Err("line 2: expected \"# source: …\"".into()),
        };
        let mut out = Self::new(source);
        let mut dim = None;
        for (i, line) in lines {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (photo, values) = line
                .split_once('\t')
                .ok_or_else(|| format!("line {}: expected PHOTO<TAB>VALUES", i + 1))?;
            let values = values
                .split_whitespace()
                .map(|v| v.parse::<f32>().ok().filter(|v| v.is_finite()))
                .collect::<Option<Vec<f32>>>()
                .ok_or_else(|| format!("line {}: a value is not a finite number", i + 1))?;
            let row = if values.is_empty() {
                None
            } else {
                if values.len() > MAX_DIM || *dim.get_or_insert(values.len()) != values.len() {
                    return Err(format!(
                        "line {}: {} values, not the file's {}",
                        i + 1,
                        values.len(),
                        dim.unwrap_or(0)
                    ));
                }
                Some(values)
            };
            if out.rows.insert(photo.to_string(), row).is_some() {
                return Err(format!("line {}: {photo} listed twice", i + 1));
            }
        }
        Ok(out)
    }

    /// The file's text (photos in order; values round-trip exactly).
    pub fn to_text(&self) -> String {
        let mut text = format!("{MAGIC}\n{SOURCE}{}\n", self.source);
        for (photo, row) in &self.rows {
            text.push_str(photo);
            text.push('\t');
            if let Some(values) = row {
                let parts: Vec<String> = values.iter().map(f32::to_string).collect();
                text.push_str(&parts.join(" "));
            }
            text.push('\n');
        }
        text
    }

    /// Reads `path`; `None` if there is no such file.
    pub fn read(path: &Path) -> Result<Option<Self>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    /// Writes `path` crash-safely.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        crate::atomic::write(path, self.to_text().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly_with_faceless_photos() {
        let mut e = Embeddings::new("facegate retinaface sface int8 central");
        e.rows
            .insert("b/b_1.jpg".into(), Some(vec![0.1, -1e-7, 1.0 / 3.0]));
        e.rows.insert("a/a_1.jpg".into(), None);
        let back = Embeddings::parse(&e.to_text()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let head = format!("{MAGIC}\n{SOURCE}x\n");
        for (body, needle) in [
            ("a\t1 2\nb\t1\n", "line 4: 1 values, not the file's 2"),
            ("a\t1 nan\n", "line 3: a value is not a finite number"),
            ("a\t1\na\t2\n", "line 4: a listed twice"),
            ("a 1 2\n", "line 3: expected PHOTO<TAB>VALUES"),
        ] {
            let e = Embeddings::parse(&format!("{head}{body}")).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
        assert!(
            Embeddings::parse("a\t1\n")
                .unwrap_err()
                .contains("not an embeddings file")
        );
        let dir = std::env::temp_dir().join(format!("facegate-emb-{}", std::process::id()));
        assert_eq!(Embeddings::read(&dir.join("none.tsv")), Ok(None));
    }
}
