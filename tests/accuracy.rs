//! Accuracy smoke tests on the shared photo sets, with the default settings:
//! each asserts what README.md's "Accuracy" table claims. The README gives
//! measured scores to three decimals; the bounds here allow them a margin of
//! [`MARGIN`] (noise between backends and builds), the error counts none.

mod common;

use common::sets;
use facegate::gallery::{Index, quantise};
use facegate::vision::{Backend, DetectorConfig, Embedding, VisionConfig, picture};

/// The default models' threshold for a new gallery.
fn default_threshold() -> f32 {
    VisionConfig::default().default_threshold()
}

/// Slack on the README's measured scores.
const MARGIN: f32 = 0.01;

fn embed_dir(vision: &facegate::vision::Vision, dir: &std::path::Path) -> Vec<(String, Embedding)> {
    common::images_in(dir)
        .iter()
        .map(|p| {
            let img = picture::load(p).expect("decode");
            let face = vision
                .largest_face(&img, &p.display().to_string())
                .unwrap_or_else(|e| panic!("{e}"));
            (p.display().to_string(), face.embedding)
        })
        .collect()
}

/// dlib's "johns": 5 people × 11 chips. Every chip must embed; the 275 genuine
/// and 1210 impostor pairs separate with 0 errors at the best threshold and 0
/// at the default one; genuine ≥ 0.524 and impostor ≤ 0.372 (README).
#[test]
fn dlib_johns_pairs_separate() {
    let vision = common::vision(Backend::default(), DetectorConfig::default());
    let chips = sets::johns(&vision);
    assert_eq!(chips.len(), 55, "all 55 chips embed");
    let (genuine, impostor) = sets::pair_scores(&chips);
    assert_eq!((genuine.len(), impostor.len()), (275, 1210));
    let (best_t, best) = sets::best_threshold(&genuine, &impostor);
    let at_default = sets::errors_at(&genuine, &impostor, default_threshold());
    let genuine_min = genuine.iter().copied().fold(f32::INFINITY, f32::min);
    let impostor_max = impostor.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    println!(
        "dlib-johns: {best} error(s) at best threshold {best_t:.3}; {at_default} at the default {}; \
         genuine min {genuine_min:.3}, impostor max {impostor_max:.3}",
        default_threshold()
    );
    assert_eq!(best, 0, "errors at the best threshold {best_t}");
    assert_eq!(
        at_default,
        0,
        "errors at the default threshold {}",
        default_threshold()
    );
    assert!(
        genuine_min >= 0.524 - MARGIN,
        "lowest genuine score {genuine_min} (README: 0.524)"
    );
    assert!(
        impostor_max <= 0.372 + MARGIN,
        "highest impostor score {impostor_max} (README: 0.372)"
    );

    // Stored as int8 templates and searched with an int8 query, scores move
    // little (README: ≤ 0.0037 over the 3025 pairs).
    let mut index = Index::with_dim(128, 0);
    for (i, (_, e)) in chips.iter().enumerate() {
        let t = quantise(e, [0; 16]);
        index.push(i as u32, t.scale, &t.values);
    }
    let mut worst = 0.0f32;
    for (_, q) in &chips {
        let mut by_person = vec![0.0f32; chips.len()];
        for m in index.search(q, chips.len()) {
            by_person[m.person] = m.score;
        }
        for (j, (_, e)) in chips.iter().enumerate() {
            worst = worst.max((by_person[j] - q.cosine(e)).abs());
        }
    }
    println!(
        "int8 templates and query: max |score change| {worst:.4} over {} pairs",
        chips.len() * chips.len()
    );
    // README: ≤ 0.0037, with a margin of a thousandth.
    assert!(
        worst <= 0.0037 + 0.001,
        "int8 search changes scores by {worst} (README: ≤ 0.0037)"
    );
}

/// Portraits years apart: same people accepted, every other pair rejected, at
/// the default threshold, with the README's scores: Macron 2014~2025 0.557,
/// Ardern 2018~2022 0.721, the 13 other pairs ≤ 0.265.
#[test]
fn id_photos_verify_at_default_threshold() {
    let vision = common::vision(Backend::default(), DetectorConfig::default());
    let faces = embed_dir(&vision, &common::shared_data().join("id-photos-wikimedia"));
    assert_eq!(faces.len(), 6);
    let person = |name: &str| {
        let stem = std::path::Path::new(name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("");
        // person_a_1 -> person_a; impostor_1 -> impostor_1 (each their own).
        if stem.starts_with("person_") {
            stem[..8].to_string()
        } else {
            stem.to_string()
        }
    };
    // person_a is Macron, person_b Ardern (id-photos-wikimedia/CREDITS.md).
    let readme_genuine = |p: &str| match p {
        "person_a" => 0.557,
        "person_b" => 0.721,
        _ => unreachable!("{p}"),
    };
    let (mut checked, mut genuine_pairs, mut impostor_max) = (0, 0, f32::NEG_INFINITY);
    for i in 0..faces.len() {
        for j in i + 1..faces.len() {
            let (a, b) = (&faces[i], &faces[j]);
            let s = a.1.cosine(&b.1);
            let same = person(&a.0) == person(&b.0);
            println!("{} ~ {}: {s:.3}", person(&a.0), person(&b.0));
            if same {
                assert!(s >= default_threshold(), "{} ~ {} rejected ({s})", a.0, b.0);
                let claimed = readme_genuine(&person(&a.0));
                assert!(
                    (s - claimed).abs() <= MARGIN,
                    "{} ~ {}: {s}, README: {claimed}",
                    a.0,
                    b.0
                );
                genuine_pairs += 1;
            } else {
                impostor_max = impostor_max.max(s);
                assert!(s < default_threshold(), "{} ~ {} accepted ({s})", a.0, b.0);
            }
            checked += 1;
        }
    }
    println!("highest of the other pairs: {impostor_max:.3}");
    assert_eq!((checked, genuine_pairs), (15, 2));
    assert!(
        impostor_max <= 0.265 + MARGIN,
        "highest other pair {impostor_max} (README: ≤ 0.265)"
    );
}

/// Recall of the hand-labelled faces in dlib's `testing.xml` at IoU ≥ 0.5:
/// all 25 with the default RetinaFace (README).
#[test]
fn detector_recall_on_dlib_faces() {
    let vision = common::vision(Backend::default(), DetectorConfig::default());
    let (found, labelled) = sets::dlib_faces_recall(&vision);
    let recall = found as f32 / labelled as f32;
    println!(
        "dlib-faces testing.xml: {found}/{labelled} faces found, recall {:.1} %",
        100.0 * recall
    );
    // README: 25 / 25.
    assert_eq!(labelled, 25, "labelled faces in testing.xml");
    assert!(
        found >= 25,
        "{found}/{labelled} faces found (README: 25/25)"
    );
}
