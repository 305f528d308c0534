//! The int8 models against fp32: the bar int8 must meet to be the default.
//!
//! burn computes with the int8 weights expanded to fp32 (see
//! `src/vision/quantize.rs`), so what changes is only the rounding of the
//! weights: embeddings must stay within cosine 0.99 of fp32's, the dlib-johns
//! pairs must separate with no added error, and detector recall on dlib-faces
//! must stay within one point.

mod common;

use common::sets;
use facegate::vision::{Backend, DetectorConfig, Precision, Vision, align, picture};

fn both() -> (Vision, Vision) {
    let load = |p| common::vision_at(Backend::default(), p, DetectorConfig::default());
    (load(Precision::Fp32), load(Precision::Int8))
}

/// Photos of every shared set with one clear face: ID photos, johns chips and
/// the first photo of the first 60 LFW people.
fn photos() -> Vec<std::path::PathBuf> {
    let data = common::shared_data();
    let mut files = common::images_in(&data.join("id-photos-wikimedia"));
    for set in ["dlib-johns", "lfw-deepfunneled"] {
        let mut people: Vec<_> = std::fs::read_dir(data.join(set))
            .expect("shared set")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        people.sort();
        let take = if set == "dlib-johns" { usize::MAX } else { 60 };
        for dir in people.iter().take(take) {
            let photos = common::images_in(dir);
            if set == "dlib-johns" {
                files.extend(photos);
            } else {
                files.extend(photos.into_iter().take(1));
            }
        }
    }
    files
}

/// The lowest cosine of a list, with its photo, and the mean.
fn summary(v: &[(f32, String)]) -> (f32, String, f32) {
    let (min, at) = v
        .iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .cloned()
        .expect("photos");
    (min, at, v.iter().map(|p| p.0).sum::<f32>() / v.len() as f32)
}

/// The embedder: int8 and fp32 SFace on the very same crops.
/// End to end (int8 YuNet's landmarks pick the crop): compared with what fp32
/// itself does when the camera moves by one pixel.
#[test]
fn int8_embeddings_match_fp32() {
    let (fp32, int8) = both();
    let (mut same_crop, mut end_to_end, mut shifted) = (Vec::new(), Vec::new(), Vec::new());
    for path in photos() {
        let img = picture::load(&path).expect("decode");
        let name = path.display().to_string();
        let Ok(reference) = fp32.largest_face(&img, &name) else {
            continue;
        };
        let crop = align(&img, &reference.detection.landmarks).expect("crop");
        let e = int8.embedder.embed(std::slice::from_ref(&crop));
        same_crop.push((e[0].cosine(&reference.embedding), name.clone()));
        let face = int8
            .largest_face(&img, &name)
            .unwrap_or_else(|e| panic!("int8 found no face where fp32 did: {e}"));
        end_to_end.push((face.embedding.cosine(&reference.embedding), name.clone()));
        let moved = image::imageops::crop_imm(&img, 1, 1, img.width() - 1, img.height() - 1);
        if let Ok(f) = fp32.largest_face(&moved.to_image(), &name) {
            shifted.push((f.embedding.cosine(&reference.embedding), name));
        }
    }
    let (crop_min, crop_at, crop_mean) = summary(&same_crop);
    let (e2e_min, e2e_at, e2e_mean) = summary(&end_to_end);
    let (moved_min, moved_at, moved_mean) = summary(&shifted);
    println!(
        "{} photos, cosine to fp32 (min, mean):\n  int8 embedder, same crop: {crop_min:.4} ({crop_at}), {crop_mean:.4}\n  \
         int8 end to end: {e2e_min:.4} ({e2e_at}), {e2e_mean:.4}\n  fp32, image moved by one pixel: {moved_min:.4} ({moved_at}), {moved_mean:.4}",
        same_crop.len()
    );
    assert!(same_crop.len() >= 100, "only {} photos", same_crop.len());
    assert!(crop_min >= 0.99, "embedder: cosine {crop_min} on {crop_at}");
    assert!(e2e_mean >= 0.99, "end to end: mean cosine {e2e_mean}");
    assert!(
        e2e_min >= moved_min - 0.01,
        "end to end: {e2e_min} on {e2e_at}, worse than a one-pixel shift ({moved_min})"
    );
}

#[test]
fn int8_adds_no_error_on_dlib_johns() {
    let (fp32, int8) = both();
    let mut errors = Vec::new();
    for vision in [&fp32, &int8] {
        let chips = sets::johns(vision);
        assert_eq!(chips.len(), 55);
        let (genuine, impostor) = sets::pair_scores(&chips);
        let (t, best) = sets::best_threshold(&genuine, &impostor);
        let at_default = sets::errors_at(
            &genuine,
            &impostor,
            facegate::vision::VisionConfig::default().default_threshold(),
        );
        errors.push((best, at_default, t));
    }
    println!(
        "dlib-johns (best errors, errors at default, best threshold): fp32 {:?}, int8 {:?}",
        errors[0], errors[1]
    );
    assert!(
        errors[1].0 <= errors[0].0,
        "int8 adds errors at the best threshold"
    );
    assert!(
        errors[1].1 <= errors[0].1,
        "int8 adds errors at the default threshold"
    );
}

#[test]
fn int8_detector_recall_within_one_point() {
    let (fp32, int8) = both();
    let (f_found, labelled) = sets::dlib_faces_recall(&fp32);
    let (q_found, q_labelled) = sets::dlib_faces_recall(&int8);
    assert_eq!(labelled, q_labelled);
    let (f, q) = (
        100.0 * f_found as f64 / labelled as f64,
        100.0 * q_found as f64 / labelled as f64,
    );
    println!(
        "dlib-faces recall: fp32 {f_found}/{labelled} = {f:.1} %, int8 {q_found}/{labelled} = {q:.1} %"
    );
    assert!(q >= f - 1.0, "int8 recall {q:.1} % vs fp32 {f:.1} %");
}

#[test]
fn int8_records_are_about_a_quarter_of_fp32() {
    let models = common::models();
    for name in ["yunet", "sface"] {
        let size = |p| {
            std::fs::metadata(models.record(name, p))
                .expect("record")
                .len()
        };
        let (f, q) = (size(Precision::Fp32), size(Precision::Int8));
        println!(
            "{name}: fp32 {f} bytes, int8 {q} bytes ({:.1} %)",
            100.0 * q as f64 / f as f64
        );
        // YuNet keeps its small layers in fp32; SFace is almost all int8 blocks.
        let limit = if name == "sface" { 0.30 } else { 0.45 };
        assert!((q as f64) < limit * f as f64, "{name}: {q} vs {f} bytes");
    }
}

/// FaceNet's int8 record against its fp32 one on the same crops (YuNet's
/// box, the seed's crop): the same bar as SFace's, cosine ≥ 0.99.
#[test]
fn facenet_int8_embeddings_match_fp32() {
    use facegate::vision::facenet::{FaceNetEmbedder, box_crop};
    use facegate::vision::{Detection, Embedder, LoadOptions};
    let options = |p| LoadOptions::new(Backend::default(), p, DetectorConfig::default());
    let models = common::models();
    let fp32 = FaceNetEmbedder::load(&models, &options(Precision::Fp32)).expect("fp32 FaceNet");
    let int8 = FaceNetEmbedder::load(&models, &options(Precision::Int8)).expect("int8 FaceNet");
    let vision = common::vision_at(
        Backend::default(),
        Precision::Fp32,
        DetectorConfig::default(),
    );
    let mut cosines = Vec::new();
    for path in photos().iter().step_by(3) {
        let Ok(img) = picture::load(path) else {
            continue;
        };
        let Some(face) = Detection::largest(&vision.detector.detect(&img)).copied() else {
            continue;
        };
        let Some(crop) = box_crop(&img, &face) else {
            continue;
        };
        let crops = std::slice::from_ref(&crop);
        let (a, b) = (fp32.embed(crops).remove(0), int8.embed(crops).remove(0));
        cosines.push((a.cosine(&b), path.display().to_string()));
    }
    assert!(cosines.len() >= 40, "only {} crops", cosines.len());
    let (min, at, mean) = summary(&cosines);
    eprintln!(
        "FaceNet int8 vs fp32, {} crops: min cosine {min:.4} ({at}), mean {mean:.4}",
        cosines.len()
    );
    assert!(min >= 0.99, "int8 FaceNet at cosine {min} of fp32 on {at}");
}
