//! The labelled shared sets, scored the same way for every model variant.

use std::path::PathBuf;

use facegate::vision::detection::iou;
use facegate::vision::{Embedding, Vision, picture};

use super::{images_in, shared_data};

/// Every photo of `dlib-johns` (5 people × 11 chips), embedded: (person, embedding).
pub fn johns(vision: &Vision) -> Vec<(usize, Embedding)> {
    let root = shared_data().join("dlib-johns");
    let mut people: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("dlib-johns")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let mut chips = Vec::new();
    for (id, dir) in people.iter().enumerate() {
        for p in images_in(dir) {
            let img = picture::load(&p).expect("decode");
            let face = vision
                .largest_face(&img, &p.display().to_string())
                .unwrap_or_else(|e| panic!("{e}"));
            chips.push((id, face.embedding));
        }
    }
    chips
}

/// Genuine and impostor cosine scores of all pairs.
pub fn pair_scores(faces: &[(usize, Embedding)]) -> (Vec<f32>, Vec<f32>) {
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for i in 0..faces.len() {
        for j in i + 1..faces.len() {
            let s = faces[i].1.cosine(&faces[j].1);
            if faces[i].0 == faces[j].0 {
                genuine.push(s);
            } else {
                impostor.push(s);
            }
        }
    }
    (genuine, impostor)
}

/// Errors at threshold `t`: genuine below it plus impostors at or above it.
pub fn errors_at(genuine: &[f32], impostor: &[f32], t: f32) -> usize {
    genuine.iter().filter(|&&s| s < t).count() + impostor.iter().filter(|&&s| s >= t).count()
}

/// The threshold with the fewest errors, and that count.
pub fn best_threshold(genuine: &[f32], impostor: &[f32]) -> (f32, usize) {
    genuine
        .iter()
        .chain(impostor)
        .copied()
        .chain([f32::INFINITY])
        .map(|t| (t, errors_at(genuine, impostor, t)))
        .min_by_key(|&(_, e)| e)
        .unwrap_or((f32::INFINITY, 0))
}

/// Hand-labelled faces of dlib's `testing.xml` found at IoU ≥ 0.5: (found, labelled).
pub fn dlib_faces_recall(vision: &Vision) -> (usize, usize) {
    let dir = shared_data().join("dlib-faces");
    let xml = std::fs::read_to_string(dir.join("testing.xml")).expect("testing.xml");
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    let (mut labelled, mut found) = (0, 0);
    for image in doc.descendants().filter(|n| n.has_tag_name("image")) {
        let file = image.attribute("file").expect("file");
        let img = picture::load(&dir.join(file)).expect("decode");
        let faces = vision.detector.detect(&img);
        for b in image.children().filter(|n| n.has_tag_name("box")) {
            if b.attribute("ignore") == Some("1") {
                continue;
            }
            let v = |k: &str| {
                b.attribute(k)
                    .and_then(|s| s.parse::<f32>().ok())
                    .expect("box attribute")
            };
            let truth = [v("left"), v("top"), v("width"), v("height")];
            labelled += 1;
            if faces.iter().any(|f| iou(&f.bbox, &truth) >= 0.5) {
                found += 1;
            }
        }
    }
    (found, labelled)
}
