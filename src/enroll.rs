//! Enrolment: a folder of ID photos, one sub-folder per person, becomes a
//! gallery. Each photo is decoded, its largest face detected, checked against
//! quality gates, aligned and embedded. A bad photo is reported and skipped;
//! nothing else is lost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::gallery::format::{MAX_TEMPLATES, Name};
use crate::gallery::{Gallery, Person, Template, dequantise, quantise};
use crate::vision::{AlignedFace, Detection, Vision, picture};

/// File extensions read as photos (any case).
pub const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// Checks a photo must pass to become a template.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityGates {
    /// Minimum distance between the eyes, in photo pixels.
    pub min_eye_distance: f32,
    /// Minimum detector score.
    pub min_score: f32,
    /// Minimum sharpness: variance of the Laplacian of the aligned grey crop.
    pub min_sharpness: f32,
    /// Largest horizontal nose offset from the eye midpoint, in eye distances
    /// (a yaw proxy: 0 frontal, about 0.5 at 45°).
    pub max_yaw: f32,
    /// Largest tilt of the eye line, in degrees.
    pub max_roll_degrees: f32,
}

impl Default for QualityGates {
    fn default() -> Self {
        Self {
            min_eye_distance: 20.0,
            min_score: 0.9,
            min_sharpness: 15.0,
            max_yaw: 0.45,
            max_roll_degrees: 30.0,
        }
    }
}

/// Measured quality of one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    /// Eye distance in pixels.
    pub eye_distance: f32,
    /// Detector score.
    pub score: f32,
    /// Variance of the Laplacian of the aligned grey crop.
    pub sharpness: f32,
    /// Yaw proxy (see [`QualityGates::max_yaw`]).
    pub yaw: f32,
    /// Roll in degrees.
    pub roll_degrees: f32,
}

impl Quality {
    /// Measures a detection and its aligned crop.
    pub fn measure(d: &Detection, crop: &AlignedFace) -> Self {
        let [r, l, nose, ..] = d.landmarks;
        let eye_distance = d.eye_distance();
        let mid_x = (r[0] + l[0]) / 2.0;
        Self {
            eye_distance,
            score: d.score,
            sharpness: sharpness(crop),
            yaw: if eye_distance > 0.0 {
                (nose[0] - mid_x).abs() / eye_distance
            } else {
                f32::INFINITY
            },
            roll_degrees: (l[1] - r[1]).atan2(l[0] - r[0]).to_degrees().abs(),
        }
    }

    /// The first gate this face fails, as a reason.
    pub fn check(&self, g: &QualityGates) -> Option<String> {
        if self.eye_distance < g.min_eye_distance {
            return Some(format!(
                "face too small (eyes {:.0} px apart, need {:.0})",
                self.eye_distance, g.min_eye_distance
            ));
        }
        if self.score < g.min_score {
            return Some(format!(
                "unclear face (detector score {:.2}, need {:.2})",
                self.score, g.min_score
            ));
        }
        if self.sharpness < g.min_sharpness {
            return Some(format!(
                "blurred (sharpness {:.1}, need {:.1})",
                self.sharpness, g.min_sharpness
            ));
        }
        if self.yaw > g.max_yaw {
            return Some(format!(
                "face turned away (yaw {:.2}, limit {:.2})",
                self.yaw, g.max_yaw
            ));
        }
        if self.roll_degrees > g.max_roll_degrees {
            return Some(format!(
                "head tilted {:.0}° (limit {:.0}°)",
                self.roll_degrees, g.max_roll_degrees
            ));
        }
        None
    }
}

/// Variance of the 4-neighbour Laplacian over the crop's grey values.
pub fn sharpness(crop: &AlignedFace) -> f32 {
    let n = crop.size;
    let plane = n * n;
    let grey: Vec<f32> = (0..plane)
        .map(|i| {
            0.114 * crop.bgr[i] + 0.587 * crop.bgr[plane + i] + 0.299 * crop.bgr[2 * plane + i]
        })
        .collect();
    let mut values = Vec::with_capacity((n - 2) * (n - 2));
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            let c = grey[y * n + x];
            values.push(
                grey[(y - 1) * n + x]
                    + grey[(y + 1) * n + x]
                    + grey[y * n + x - 1]
                    + grey[y * n + x + 1]
                    - 4.0 * c,
            );
        }
    }
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "outcome", content = "reason")]
pub enum Outcome {
    /// Embedded and stored.
    Enrolled,
    /// Unchanged since the previous gallery: its template was kept.
    Reused,
    /// Not a photo (extension), or over the per-person limit.
    Skipped(String),
    /// A photo that could not be used.
    Failed(String),
}

/// The outcome for one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// Person (folder name).
    pub person: String,
    /// The file.
    pub file: PathBuf,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Non-fatal remarks (several faces, …).
    pub warnings: Vec<String>,
    /// Measured quality, when a face was found.
    pub quality: Option<Quality>,
}

/// Two different people whose templates match.
#[derive(Debug, Clone, Serialize)]
pub struct Lookalike {
    /// One person.
    pub a: String,
    /// The other.
    pub b: String,
    /// Their best template score.
    pub score: f32,
}

/// Everything an enrolment run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// One entry per file seen.
    pub files: Vec<FileReport>,
    /// Person folders that yielded no template (not in the gallery).
    pub empty_persons: Vec<String>,
    /// Pairs of people who match each other above the threshold.
    pub lookalikes: Vec<Lookalike>,
}

impl Report {
    /// Counts of (enrolled, reused, skipped, failed) files.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for f in &self.files {
            match f.outcome {
                Outcome::Enrolled => c.0 += 1,
                Outcome::Reused => c.1 += 1,
                Outcome::Skipped(_) => c.2 += 1,
                Outcome::Failed(_) => c.3 += 1,
            }
        }
        c
    }
}

/// Errors that stop an enrolment run (a bad photo never does).
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// The photos folder cannot be read.
    #[error("{path}: {cause}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The photos folder has no person sub-folders.
    #[error("{0}: no person folders (expected one sub-folder per person)")]
    NoPersons(PathBuf),
}

/// One person's folder.
#[derive(Debug, Clone)]
pub struct PersonDir {
    /// Folder name = display name.
    pub name: String,
    /// All files in it, sorted.
    pub files: Vec<PathBuf>,
}

/// Lists the person folders of `dir` (sorted; hidden entries ignored).
pub fn scan(dir: &Path) -> Result<Vec<PersonDir>, EnrollError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| EnrollError::Io { path, cause }
    };
    let mut persons = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || !path.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(io(&path))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        persons.push(PersonDir { name, files });
    }
    if persons.is_empty() {
        return Err(EnrollError::NoPersons(dir.to_path_buf()));
    }
    persons.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(persons)
}

fn is_photo(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// First 16 bytes of the SHA-256 of a file's content.
pub fn content_hash(bytes: &[u8]) -> [u8; 16] {
    let d = Sha256::digest(bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// How to enrol.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Quality gates.
    pub gates: QualityGates,
    /// A previous gallery: unchanged photos keep their templates, people keep
    /// their ids, and the version counter goes up.
    pub previous: Option<Gallery>,
}

/// Enrols `dir` into `gallery` (which supplies the header), calling `progress`
/// after each file.
pub fn enroll(
    vision: &Vision,
    dir: &Path,
    mut gallery: Gallery,
    options: &Options,
    mut progress: impl FnMut(&FileReport),
) -> Result<(Gallery, Report), EnrollError> {
    let persons = scan(dir)?;
    let mut report = Report::default();
    let previous = options.previous.as_ref();
    let mut next_id = previous.map_or(1, |g| {
        g.persons().iter().map(|p| p.id).max().unwrap_or(0) + 1
    });
    if let Some(prev) = previous {
        gallery.body.header.version = prev.header().version + 1;
    }
    for dir in &persons {
        let old = previous.and_then(|g| g.find(&dir.name));
        let reusable: HashMap<[u8; 16], &Template> = old
            .map(|p| p.templates.iter().map(|t| (t.source, t)).collect())
            .unwrap_or_default();
        let mut templates = Vec::new();
        for file in &dir.files {
            let mut entry = FileReport {
                person: dir.name.clone(),
                file: file.clone(),
                outcome: Outcome::Enrolled,
                warnings: Vec::new(),
                quality: None,
            };
            entry.outcome = if !is_photo(file) {
                Outcome::Skipped("not a photo (extension)".into())
            } else if templates.len() >= MAX_TEMPLATES {
                Outcome::Skipped(format!("already {MAX_TEMPLATES} templates for this person"))
            } else {
                match enroll_photo(vision, file, &options.gates, &reusable, &mut entry) {
                    Ok((template, outcome)) => {
                        templates.push(template);
                        outcome
                    }
                    Err(reason) => Outcome::Failed(reason),
                }
            };
            progress(&entry);
            report.files.push(entry);
        }
        let name = match Name::try_from(dir.name.as_str()) {
            Ok(n) if !templates.is_empty() => n,
            Ok(_) => {
                report.empty_persons.push(dir.name.clone());
                continue;
            }
            Err(_) => {
                report.empty_persons.push(dir.name.clone());
                for f in report.files.iter_mut().filter(|f| f.person == dir.name) {
                    f.outcome = Outcome::Failed(format!(
                        "person name longer than {} bytes",
                        crate::gallery::format::MAX_NAME
                    ));
                }
                continue;
            }
        };
        let id = old.map_or_else(
            || {
                next_id += 1;
                next_id - 1
            },
            |p| p.id,
        );
        gallery.body.persons.push(Person {
            id,
            name,
            badge: old.and_then(|p| p.badge.clone()),
            valid_from: old.and_then(|p| p.valid_from),
            valid_until: old.and_then(|p| p.valid_until),
            templates,
        });
    }
    report.lookalikes = lookalikes(&gallery);
    Ok((gallery, report))
}

fn enroll_photo(
    vision: &Vision,
    file: &Path,
    gates: &QualityGates,
    reusable: &HashMap<[u8; 16], &Template>,
    entry: &mut FileReport,
) -> Result<(Template, Outcome), String> {
    let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
    let source = content_hash(&bytes);
    if let Some(t) = reusable.get(&source) {
        return Ok(((*t).clone(), Outcome::Reused));
    }
    let img: RgbImage =
        picture::decode(&bytes, &file.display().to_string()).map_err(|e| e.to_string())?;
    let faces = vision.detector.detect(&img);
    if faces.len() > 1 {
        entry
            .warnings
            .push(format!("{} faces; using the largest", faces.len()));
    }
    let face = Detection::largest(&faces).ok_or("no face found")?;
    let crop = vision
        .embedder
        .align(&img, face)
        .ok_or("landmarks unusable for alignment")?;
    let quality = Quality::measure(face, &crop);
    entry.quality = Some(quality);
    if let Some(reason) = quality.check(gates) {
        return Err(reason);
    }
    let embedding = vision
        .embedder
        .embed(std::slice::from_ref(&crop))
        .pop()
        .ok_or("embedding failed")?;
    Ok((quantise(&embedding, source), Outcome::Enrolled))
}

/// Pairs of different people whose best templates match at the gallery's
/// threshold.
pub fn lookalikes(gallery: &Gallery) -> Vec<Lookalike> {
    let persons = gallery.persons();
    let embeddings: Vec<Vec<_>> = persons
        .iter()
        .map(|p| p.templates.iter().map(dequantise).collect())
        .collect();
    let mut out = Vec::new();
    for i in 0..persons.len() {
        for j in i + 1..persons.len() {
            let score = embeddings[i]
                .iter()
                .flat_map(|a| embeddings[j].iter().map(move |b| a.cosine(b)))
                .fold(f32::NEG_INFINITY, f32::max);
            if score >= gallery.header().threshold {
                out.push(Lookalike {
                    a: persons[i].name.to_string(),
                    b: persons[j].name.to_string(),
                    score,
                });
            }
        }
    }
    out
}
