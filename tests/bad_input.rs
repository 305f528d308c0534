//! Bad input gets a clear error, never a panic; odd-but-valid images still work.

mod common;

use std::path::Path;

use facegate::vision::{Backend, DetectorConfig, FaceError, ImageError, Vision, picture};
use image::{DynamicImage, ImageFormat, RgbImage};

fn portrait() -> RgbImage {
    picture::load(&common::shared_data().join("id-photos-wikimedia/person_b_1.jpg"))
        .expect("portrait")
}

fn vision() -> Vision {
    common::vision(Backend::default(), DetectorConfig::default())
}

fn jpeg_bytes(img: &DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Jpeg)
        .expect("encode jpeg");
    out.into_inner()
}

#[test]
fn not_an_image_is_refused() {
    for (bytes, what) in [
        (&b"hello, world\n"[..], "text"),
        (&b""[..], "empty"),
        (&[0u8; 64][..], "zeros"),
    ] {
        match picture::decode(bytes, what) {
            Err(ImageError::NotAnImage(name)) => assert_eq!(name, what),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn truncated_jpeg_is_refused() {
    let bytes = std::fs::read(common::shared_data().join("id-photos-wikimedia/person_b_1.jpg"))
        .expect("read");
    for cut in [300, bytes.len() / 4, bytes.len() / 2, bytes.len() - 2] {
        let err = picture::decode(&bytes[..cut], "cut").expect_err("truncated JPEG decoded");
        assert!(matches!(err, ImageError::Decode { .. }), "{cut}: {err:?}");
    }
    assert!(picture::decode(&bytes, "whole").is_ok());
}

#[test]
fn corrupt_png_is_refused() {
    let mut png = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(portrait())
        .write_to(&mut png, ImageFormat::Png)
        .expect("png");
    let mut bytes = png.into_inner();
    let n = bytes.len();
    bytes[n / 2..n / 2 + 64].iter_mut().for_each(|b| *b ^= 0x5A);
    assert!(matches!(
        picture::decode(&bytes, "flipped"),
        Err(ImageError::Decode { .. })
    ));
    assert!(matches!(
        picture::decode(&bytes[..n / 3], "cut"),
        Err(ImageError::Decode { .. })
    ));
}

/// A PNG header claiming 100 000 × 100 000 pixels is refused before any allocation.
#[test]
fn huge_dimensions_are_refused() {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32fast::hash(&ihdr).to_be_bytes());
    let err = picture::decode(&png, "huge").expect_err("huge image decoded");
    assert!(matches!(err, ImageError::TooLarge { .. }), "{err:?}");
}

#[test]
fn no_face_is_a_clear_error() {
    let grey = RgbImage::from_pixel(640, 480, image::Rgb([128, 128, 128]));
    match vision().largest_face(&grey, "grey") {
        Err(FaceError::NoFace(name)) => assert_eq!(name, "grey"),
        other => panic!("{other:?}"),
    }
}

/// Grey, RGBA and 16-bit PNGs of the same portrait all yield the same person.
#[test]
fn pixel_layouts_are_normalised() {
    let vision = vision();
    let rgb = portrait();
    let reference = vision.largest_face(&rgb, "rgb").expect("face").embedding;
    let rgb_img = DynamicImage::ImageRgb8(rgb);
    let layouts = [
        ("grey", DynamicImage::ImageLuma8(rgb_img.to_luma8()), 0.8),
        ("rgba", DynamicImage::ImageRgba8(rgb_img.to_rgba8()), 0.9999),
        (
            "rgb16",
            DynamicImage::ImageRgb16(rgb_img.to_rgb16()),
            0.9999,
        ),
        (
            "grey16",
            DynamicImage::ImageLuma16(rgb_img.to_luma16()),
            0.8,
        ),
    ];
    let dir = common::TempDir::new("layouts");
    for (name, img, min_cos) in layouts {
        let path = dir.path().join(format!("{name}.png"));
        img.save(&path).expect("save png");
        let loaded = picture::load(&path).expect("decode");
        let face = vision.largest_face(&loaded, name).expect("face");
        let cos = face.embedding.cosine(&reference);
        assert!(cos >= min_cos, "{name}: cosine {cos}");
    }
}

/// A JPEG stored sideways with EXIF orientation 6 is turned upright.
#[test]
fn exif_orientation_is_honoured() {
    let upright = DynamicImage::ImageRgb8(portrait());
    let sideways = jpeg_bytes(&upright.rotate270());
    // APP1 "Exif": big-endian TIFF, one IFD entry: Orientation (0x0112), SHORT, 6.
    let mut tiff = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend([0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
    jpeg.extend(((tiff.len() + 2) as u16).to_be_bytes());
    jpeg.extend(&tiff);
    jpeg.extend(&sideways[2..]);
    let img = picture::decode(&jpeg, "exif").expect("decode");
    assert_eq!(
        (img.width(), img.height()),
        (upright.width(), upright.height())
    );
    let vision = vision();
    let face = vision.largest_face(&img, "exif").expect("face");
    let reference = vision
        .largest_face(&upright.to_rgb8(), "upright")
        .expect("face");
    for (a, b) in face.detection.bbox.iter().zip(&reference.detection.bbox) {
        assert!(
            (a - b).abs() < 4.0,
            "{:?} vs {:?}",
            face.detection.bbox,
            reference.detection.bbox
        );
    }
    assert!(face.embedding.cosine(&reference.embedding) > 0.95);
}

/// An 8000 × 8000 photo is downscaled on load and still finds the face.
#[test]
fn very_large_image_is_downscaled() {
    let big = DynamicImage::ImageRgb8(portrait()).resize_exact(
        8000,
        8000,
        image::imageops::FilterType::Nearest,
    );
    let dir = common::TempDir::new("large");
    let path = dir.path().join("big.jpg");
    std::fs::write(&path, jpeg_bytes(&big)).expect("write");
    drop(big);
    let img = picture::load(&path).expect("decode");
    assert_eq!(
        (img.width(), img.height()),
        (picture::MAX_SIDE, picture::MAX_SIDE)
    );
    vision().largest_face(&img, "big").expect("face");
}

/// The CLI reports bad input on stderr with exit code 2 and no panic.
#[test]
fn cli_reports_bad_input() {
    let dir = common::TempDir::new("cli");
    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "not a picture").expect("write");
    let grey = dir.path().join("grey.png");
    RgbImage::from_pixel(64, 64, image::Rgb([90, 90, 90]))
        .save(&grey)
        .expect("save");
    let cases: [(&[&Path], &str); 3] = [
        (&[&text], "not a JPEG or PNG image"),
        (&[Path::new("/nonexistent/face.jpg")], "No such file"),
        (&[&grey], "no face found"),
    ];
    for (args, message) in cases {
        let out = common::facegate()
            .arg("--models")
            .arg(common::models().dir())
            .arg("embed")
            .args(args)
            .output()
            .expect("run facegate");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
