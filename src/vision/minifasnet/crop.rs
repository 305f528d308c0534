//! The crops MiniFASNet was trained on (upstream's `CropImage`): the face
//! box scaled about its centre (2.7× or 4×, less if the image is too small),
//! shifted to lie inside the image, resized to 80×80 as OpenCV's
//! `cv2.resize(INTER_LINEAR)` does on 8-bit images (fixed-point weights).

use image::RgbImage;

use super::model::INPUT_SIZE;

/// OpenCV's `INTER_RESIZE_COEF_BITS`: interpolation weights are integers
/// scaled by 2¹¹.
const COEF_SCALE: f32 = 2048.0;

/// The inclusive pixel box `[x0, y0, x1, y1]` upstream crops for a face box
/// `[x, y, w, h]` at `scale` in a `width`×`height` image; `None` for an empty
/// box or image.
pub fn crop_box(width: u32, height: u32, bbox: [f32; 4], scale: f64) -> Option<[u32; 4]> {
    let [x, y, w, h] = bbox.map(f64::from);
    let (sw, sh) = (f64::from(width), f64::from(height));
    let usable = w > 0.0 && h > 0.0 && width > 1 && height > 1 && x.is_finite() && y.is_finite();
    if !usable {
        return None;
    }
    let scale = scale.min((sh - 1.0) / h).min((sw - 1.0) / w);
    let (nw, nh) = (w * scale, h * scale);
    let (cx, cy) = (x + w / 2.0, y + h / 2.0);
    let (mut x0, mut y0) = (cx - nw / 2.0, cy - nh / 2.0);
    let (mut x1, mut y1) = (cx + nw / 2.0, cy + nh / 2.0);
    if x0 < 0.0 {
        x1 -= x0;
        x0 = 0.0;
    }
    if y0 < 0.0 {
        y1 -= y0;
        y0 = 0.0;
    }
    if x1 > sw - 1.0 {
        x0 -= x1 - sw + 1.0;
        x1 = sw - 1.0;
    }
    if y1 > sh - 1.0 {
        y0 -= y1 - sh + 1.0;
        y1 = sh - 1.0;
    }
    // Python's int(): towards zero (the box is inside the image by now).
    let px = |v: f64, max: f64| v.trunc().clamp(0.0, max) as u32;
    let b = [
        px(x0, sw - 1.0),
        px(y0, sh - 1.0),
        px(x1, sw - 1.0),
        px(y1, sh - 1.0),
    ];
    (b[2] >= b[0] && b[3] >= b[1]).then_some(b)
}

/// The 80×80 crop of `img` inside `inclusive` (`[x0, y0, x1, y1]`), as 8-bit
/// RGB.
pub fn resize(img: &RgbImage, inclusive: [u32; 4]) -> RgbImage {
    let [x0, y0, x1, y1] = inclusive;
    let (sw, sh) = ((x1 - x0 + 1) as usize, (y1 - y0 + 1) as usize);
    let xs = taps(sw, INPUT_SIZE);
    let ys = taps(sh, INPUT_SIZE);
    let px =
        |x: usize, y: usize, c: usize| i32::from(img.get_pixel(x0 + x as u32, y0 + y as u32).0[c]);
    // Horizontal pass in integers (×2048), then OpenCV's vertical rounding.
    let row = |y: usize| -> Vec<[i32; 3]> {
        xs.iter()
            .map(|&(sx, a0, a1)| {
                let next = (sx + 1).min(sw - 1);
                std::array::from_fn(|c| px(sx, y, c) * a0 + px(next, y, c) * a1)
            })
            .collect()
    };
    let mut out = RgbImage::new(INPUT_SIZE as u32, INPUT_SIZE as u32);
    for (dy, &(sy, b0, b1)) in ys.iter().enumerate() {
        let (r0, r1) = (row(sy), row((sy + 1).min(sh - 1)));
        for dx in 0..INPUT_SIZE {
            let v: [u8; 3] = std::array::from_fn(|c| {
                let s = ((b0 * (r0[dx][c] >> 4)) >> 16) + ((b1 * (r1[dx][c] >> 4)) >> 16) + 2;
                (s >> 2).clamp(0, 255) as u8
            });
            out.put_pixel(dx as u32, dy as u32, image::Rgb(v));
        }
    }
    out
}

/// The crop as the network's input: BGR planes of 0–255 floats.
pub fn bgr_planes(crop: &RgbImage) -> Vec<f32> {
    let n = (crop.width() * crop.height()) as usize;
    let mut out = vec![0.0f32; 3 * n];
    for (i, p) in crop.pixels().enumerate() {
        for (c, &v) in p.0.iter().rev().enumerate() {
            out[c * n + i] = f32::from(v);
        }
    }
    out
}

/// For each output pixel: the first source pixel and the two fixed-point
/// weights, as OpenCV's linear resize computes them.
fn taps(src: usize, dst: usize) -> Vec<(usize, i32, i32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            let mut frac = f - s as f32;
            if s < 0 {
                (s, frac) = (0, 0.0);
            }
            if s >= src as i64 - 1 {
                (s, frac) = (src as i64 - 1, 0.0);
            }
            let a1 = (frac * COEF_SCALE).round() as i32;
            (s as usize, 2048 - a1, a1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_is_scaled_about_the_centre_and_shifted_inside() {
        // 100×100 box in the middle of 640×480, scale 2.7 → 270×270.
        assert_eq!(
            crop_box(640, 480, [270.0, 190.0, 100.0, 100.0], 2.7),
            Some([185, 105, 455, 375])
        );
        // Near the left edge: moved right, size kept.
        let b = crop_box(640, 480, [0.0, 190.0, 100.0, 100.0], 2.7).unwrap();
        assert_eq!((b[0], b[2] - b[0]), (0, 270));
        // Too big for the image: the scale shrinks to fit the height.
        let b = crop_box(640, 480, [270.0, 190.0, 200.0, 200.0], 4.0).unwrap();
        assert_eq!((b[1], b[3]), (0, 479));
        assert_eq!(crop_box(640, 480, [10.0, 10.0, 0.0, 5.0], 2.7), None);
    }

    #[test]
    fn resizing_a_flat_image_keeps_its_colour_and_an_upscale_interpolates() {
        let img = RgbImage::from_pixel(200, 160, image::Rgb([10, 128, 250]));
        let out = resize(&img, [20, 10, 179, 149]);
        assert!(out.pixels().all(|p| p.0 == [10, 128, 250]));
        // A 2-pixel ramp stretched to 80: monotone from 0 to 255.
        let mut ramp = RgbImage::new(2, 2);
        for y in 0..2 {
            ramp.put_pixel(1, y, image::Rgb([255, 255, 255]));
        }
        let out = resize(&ramp, [0, 0, 1, 1]);
        let row: Vec<u8> = (0..80).map(|x| out.get_pixel(x, 0).0[0]).collect();
        assert_eq!((row[0], row[79]), (0, 255));
        assert!(row.windows(2).all(|w| w[0] <= w[1]));
        let planes = bgr_planes(&RgbImage::from_pixel(80, 80, image::Rgb([1, 2, 3])));
        assert_eq!((planes[0], planes[6400], planes[12800]), (3.0, 2.0, 1.0));
    }
}
