//! dlib's face chips (`dlib/image_transforms/interpolation.h`):
//! [`face_chip_details`] is `get_face_chip_details` (the similarity transform of
//! dlib's template face onto the landmarks, as a rotated rectangle) and
//! [`extract_chip`] is `extract_image_chip` on an RGB image, step for step: an
//! image pyramid (`pyramid_down<2>`, from the crop around the chip grown by a
//! border) deep enough that the chip is no more than 2× smaller than its
//! source, then bilinear sampling in f64, truncated to u8, black wherever the
//! 2×2 neighbourhood leaves the (cropped) source.

use image::RgbImage;

use super::shape::{Affine, DlibRect, similarity_transform};

/// A rectangle with real coordinates (`dlib::drectangle`); as in dlib its width
/// is `right - left + 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DRect {
    /// Left edge.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Right edge.
    pub right: f64,
    /// Bottom edge.
    pub bottom: f64,
}

impl DRect {
    /// A rectangle from its edges.
    pub const fn new(left: f64, top: f64, right: f64, bottom: f64) -> Self {
        Self {
            left,
            top,
            right,
            bottom,
        }
    }

    fn is_empty(&self) -> bool {
        self.top > self.bottom || self.left > self.right
    }

    /// `right - left + 1`, 0 if empty.
    pub fn width(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.right - self.left + 1.0
        }
    }

    /// `bottom - top + 1`, 0 if empty.
    pub fn height(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.bottom - self.top + 1.0
        }
    }

    fn area(&self) -> f64 {
        self.width() * self.height()
    }

    /// dlib's `center(drectangle)`.
    pub fn center(&self) -> [f64; 2] {
        [
            (self.left + self.right) / 2.0,
            (self.top + self.bottom) / 2.0,
        ]
    }

    /// `pyramid_down<2>::rect_down`: each corner `p / 2 - (1.25, 0.75)`.
    fn down(&self) -> Self {
        let d = |p: [f64; 2]| [p[0] / 2.0 - 1.25, p[1] / 2.0 - 0.75];
        let (a, b) = (d([self.left, self.top]), d([self.right, self.bottom]));
        Self::new(
            a[0].min(b[0]),
            a[1].min(b[1]),
            a[0].max(b[0]),
            a[1].max(b[1]),
        )
    }
}

/// Larger chips (`rows × cols`) come back empty (0×0) from [`extract_chip`].
pub const MAX_CHIP_PIXELS: usize = 1 << 26;

/// The integer rectangle helpers dlib's chip extraction uses.
impl DlibRect {
    const EMPTY: Self = Self::new(0, 0, -1, -1);

    const fn new(left: i64, top: i64, right: i64, bottom: i64) -> Self {
        Self {
            left,
            top,
            right,
            bottom,
        }
    }

    fn is_empty(&self) -> bool {
        self.top > self.bottom || self.left > self.right
    }

    fn intersect(&self, o: &Self) -> Self {
        let (a, b) = (self, o);
        Self::new(
            a.left.max(b.left),
            a.top.max(b.top),
            a.right.min(b.right),
            a.bottom.min(b.bottom),
        )
    }

    /// `rectangle(drectangle)`: each edge `lround`ed.
    fn rounded(r: &DRect) -> Self {
        let l = |v: f64| v.round() as i64;
        Self::new(l(r.left), l(r.top), l(r.right), l(r.bottom))
    }

    fn of_image(img: &RgbImage) -> Self {
        Self::new(
            0,
            0,
            i64::from(img.width()) - 1,
            i64::from(img.height()) - 1,
        )
    }
}

/// `dlib::chip_details`: where a chip comes from (a rectangle in the image,
/// rotated by `angle` radians about its centre) and its size in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipDetails {
    /// The source rectangle before rotation, image pixels.
    pub rect: DRect,
    /// Rotation of the rectangle about its centre, radians.
    pub angle: f64,
    /// Chip height, pixels.
    pub rows: usize,
    /// Chip width, pixels.
    pub cols: usize,
}

/// dlib's 5-point template (`get_face_chip_details`), unit square.
const TEMPLATE_5: [[f64; 2]; 5] = [
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
];

/// dlib's mean face shape, points 17..=67 of the iBUG 68-point scheme.
#[rustfmt::skip]
const MEAN_68_X: [f64; 51] = [
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124, 0.904991,
    0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036, 0.490127, 0.554217,
    0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918, 0.182743, 0.645647, 0.714428,
    0.793132, 0.858516, 0.79751, 0.719335, 0.254149, 0.340985, 0.428858, 0.490127, 0.551395,
    0.639268, 0.726104, 0.642159, 0.556721, 0.490127, 0.423532, 0.338094, 0.290379, 0.428096,
    0.490127, 0.552157, 0.689874, 0.553364, 0.490127, 0.42689,
];
#[rustfmt::skip]
const MEAN_68_Y: [f64; 51] = [
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915,
    0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326, 0.609345, 0.628106, 0.609345,
    0.587326, 0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852,
    0.178758, 0.216423, 0.244077, 0.245099, 0.780233, 0.745405, 0.727388, 0.742578, 0.727388,
    0.745405, 0.780233, 0.864805, 0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746,
    0.785343, 0.778746, 0.784792, 0.824182, 0.831803, 0.824182,
];

/// dlib's `get_face_chip_details(shape, size, padding)`: the `size`×`size` chip
/// of dlib's aligned face with `padding` (a fraction of the face) on each side,
/// from 5 landmarks (dlib's 5-point model) or 68 (iBUG; the jaw, brows and lower
/// lip ignored). The landmarks are used as given (dlib's are whole pixels).
/// `None` for another number of points, a zero size or a negative padding.
pub fn face_chip_details(shape: &[[f32; 2]], size: usize, padding: f64) -> Option<ChipDetails> {
    if size == 0 || padding.is_nan() || padding < 0.0 {
        return None;
    }
    let scale = size as f64;
    let (from, to): (Vec<[f64; 2]>, Vec<[f64; 2]>) = match shape.len() {
        5 => {
            // dlib divides a vector by a scalar as a multiplication by its inverse.
            let inv = 1.0 / (2.0 * padding + 1.0);
            let from = TEMPLATE_5.map(|p| p.map(|v| (padding + v) * inv * scale));
            (
                from.to_vec(),
                shape.iter().map(|p| p.map(f64::from)).collect(),
            )
        }
        68 => (17..68)
            .filter(|i| !(17..=26).contains(i) && !(55..=59).contains(i) && !(65..=67).contains(i))
            .map(|i| {
                let t = |v: f64| (padding + v) / (2.0 * padding + 1.0) * scale;
                let p = [t(MEAN_68_X[i - 17]), t(MEAN_68_Y[i - 17])];
                (p, shape[i].map(f64::from))
            })
            .unzip(),
        _ => return None,
    };
    let tform = similarity_transform(&from, &to);
    // chip_details(chip_points, img_points, dims): the rotation and scale of the
    // transform, the rectangle centred on the chip centre's image.
    let p = [tform.m[0][0], tform.m[1][0]];
    let angle = p[1].atan2(p[0]);
    let s = (p[0] * p[0] + p[1] * p[1]).sqrt();
    let centre = tform.apply([scale / 2.0, scale / 2.0]);
    let (w, h) = (scale * s - 1.0, scale * s - 1.0);
    Some(ChipDetails {
        rect: DRect::new(
            centre[0] - w / 2.0,
            centre[1] - h / 2.0,
            centre[0] + w / 2.0,
            centre[1] + h / 2.0,
        ),
        angle,
        rows: size,
        cols: size,
    })
}

/// dlib's `rotate_point(center, p, angle)`.
fn rotate(center: [f64; 2], p: [f64; 2], (sin, cos): (f64, f64)) -> [f64; 2] {
    let (dx, dy) = (p[0] - center[0], p[1] - center[1]);
    [
        (cos * dx - sin * dy) + center[0],
        (sin * dx + cos * dy) + center[1],
    ]
}

/// An RGB image plane (a pyramid level or a view of the input).
struct Plane<'a> {
    data: std::borrow::Cow<'a, [u8]>,
    /// Row stride in bytes.
    stride: usize,
    width: usize,
    height: usize,
}

impl Plane<'_> {
    const EMPTY: Plane<'static> = Plane {
        data: std::borrow::Cow::Borrowed(&[]),
        stride: 0,
        width: 0,
        height: 0,
    };

    fn px(&self, x: usize, y: usize) -> [u8; 3] {
        let i = y * self.stride + 3 * x;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// `pyramid_down<2>` on RGB: a 5×5 binomial filter (1 4 6 4 1)² / 256 in
    /// integers, truncated, keeping every other row and column; an image of 8
    /// pixels or fewer on a side gives an empty one.
    fn down(&self) -> Plane<'static> {
        if self.height <= 8 || self.width <= 8 {
            return Plane::EMPTY;
        }
        let (tw, oh) = ((self.width - 3) / 2, (self.height - 3) / 2);
        let mut rows = vec![0u32; self.height * tw * 3];
        for y in 0..self.height {
            for c in 0..tw {
                for k in 0..3 {
                    let v = |dx: usize| u32::from(self.px(2 * c + dx, y)[k]);
                    rows[(y * tw + c) * 3 + k] = v(0) + 4 * v(1) + 6 * v(2) + 4 * v(3) + v(4);
                }
            }
        }
        let mut out = vec![0u8; oh * tw * 3];
        for (dr, r) in (2..self.height - 2).step_by(2).enumerate().take(oh) {
            for i in 0..tw * 3 {
                let t = |y: usize| rows[y * tw * 3 + i];
                let sum = t(r - 2) + 4 * t(r - 1) + 6 * t(r) + 4 * t(r + 1) + t(r + 2);
                out[dr * tw * 3 + i] = (sum / 256) as u8;
            }
        }
        Plane {
            data: out.into(),
            stride: tw * 3,
            width: tw,
            height: oh,
        }
    }

    /// dlib's `interpolate_bilinear`: `None` unless the whole 2×2 neighbourhood
    /// is inside the plane.
    fn bilinear(&self, p: [f64; 2]) -> Option<[u8; 3]> {
        let (left, top) = (p[0].floor(), p[1].floor());
        if !(left >= 0.0
            && top >= 0.0
            && left + 1.0 < self.width as f64
            && top + 1.0 < self.height as f64)
        {
            return None;
        }
        let (x, y) = (left as usize, top as usize);
        let (lr, tb) = (p[0] - left, p[1] - top);
        let (tl, tr, bl, br) = (
            self.px(x, y),
            self.px(x + 1, y),
            self.px(x, y + 1),
            self.px(x + 1, y + 1),
        );
        Some(std::array::from_fn(|k| {
            let f = |v: [u8; 3]| f64::from(v[k]);
            let v = (1.0 - tb) * ((1.0 - lr) * f(tl) + lr * f(tr))
                + tb * ((1.0 - lr) * f(bl) + lr * f(br));
            v as u8
        }))
    }
}

/// dlib's `extract_image_chip(img, details, chip)` with bilinear interpolation:
/// the `rows`×`cols` chip; pixels whose source is outside the image are black.
/// An unrotated chip the size of its rectangle is a plain copy (dlib's
/// `basic_extract_image_chip`). A chip of more than [`MAX_CHIP_PIXELS`] is
/// empty (0×0); details that are not finite give a black chip.
pub fn extract_chip(img: &RgbImage, details: &ChipDetails) -> RgbImage {
    let d = details;
    let (rows, cols) = (d.rows, d.cols);
    if d.angle == 0.0 && rows as f64 == d.rect.height() && cols as f64 == d.rect.width() {
        return copy_chip(img, DlibRect::rounded(&d.rect));
    }
    let Some(size) = rows.checked_mul(cols).filter(|&n| n <= MAX_CHIP_PIXELS) else {
        return RgbImage::new(0, 0);
    };
    // Both at most 2^26 here.
    let mut chip = RgbImage::new(cols as u32, rows as u32);
    let size = size as f64;
    let finite = [
        d.rect.left,
        d.rect.top,
        d.rect.right,
        d.rect.bottom,
        d.angle,
    ]
    .iter()
    .all(|v| v.is_finite());
    if size == 0.0 || !finite || d.rect.is_empty() {
        return chip;
    }
    // How deep the pyramid must be, and the border its filters need.
    let (mut depth, mut grow, mut r) = (0usize, 2.0, d.rect.down());
    while r.area() > size {
        r = r.down();
        depth += 1;
        grow = grow * 2.0 + 2.0;
    }
    let rot = (d.angle.sin(), d.angle.cos());
    let c = d.rect.center();
    let corners = [
        [d.rect.left, d.rect.top],
        [d.rect.right, d.rect.top],
        [d.rect.left, d.rect.bottom],
        [d.rect.right, d.rect.bottom],
    ]
    .map(|p| rotate(c, p, rot));
    let (mut lo, mut hi) = (corners[0], corners[0]);
    for p in &corners[1..] {
        lo = [lo[0].min(p[0]), lo[1].min(p[1])];
        hi = [hi[0].max(p[0]), hi[1].max(p[1])];
    }
    let full = DlibRect::of_image(img);
    let grown = DRect::new(
        (lo[0] - grow).max(0.0),
        (lo[1] - grow).max(0.0),
        (hi[0] + grow).min(full.right as f64),
        (hi[1] + grow).min(full.bottom as f64),
    );
    let bounds = DlibRect::rounded(&grown);
    let bounds = if bounds.is_empty() {
        DlibRect::EMPTY
    } else {
        bounds
    };
    let sub = bounds.intersect(&full);
    let source = if sub.is_empty() {
        Plane::EMPTY
    } else {
        let stride = 3 * img.width() as usize;
        let start = sub.top as usize * stride + 3 * sub.left as usize;
        Plane {
            data: (&img.as_raw()[start..]).into(),
            stride,
            width: (sub.right - sub.left + 1) as usize,
            height: (sub.bottom - sub.top + 1) as usize,
        }
    };
    let mut levels: Vec<Plane<'static>> = Vec::with_capacity(depth);
    for i in 0..depth {
        let next = levels.get(i.wrapping_sub(1)).unwrap_or(&source).down();
        levels.push(next);
    }
    // The level to sample and the chip's rectangle in its coordinates.
    let (dx, dy) = (-bounds.left as f64, -bounds.top as f64);
    let mut r = DRect::new(
        d.rect.left + dx,
        d.rect.top + dy,
        d.rect.right + dx,
        d.rect.bottom + dy,
    );
    let mut level = None;
    while level.map_or(0, |l| l + 1) < levels.len() && r.down().area() > size {
        level = Some(level.map_or(0, |l| l + 1));
        r = r.down();
    }
    let plane = level.and_then(|l| levels.get(l)).unwrap_or(&source);
    // find_affine_transform from the chip's corners (0,0), (cols−1,0), (0,rows−1):
    // exact here, where dlib multiplies by an SVD pseudo-inverse (last-bit noise).
    let c = r.center();
    let tl = rotate(c, [r.left, r.top], rot);
    let tr = rotate(c, [r.right, r.top], rot);
    let bl = rotate(c, [r.left, r.bottom], rot);
    let col = |a: [f64; 2], b: [f64; 2], n: usize| {
        if n > 1 {
            [
                (b[0] - a[0]) / (n - 1) as f64,
                (b[1] - a[1]) / (n - 1) as f64,
            ]
        } else {
            [0.0, 0.0]
        }
    };
    let (cx, cy) = (col(tl, tr, cols), col(tl, bl, rows));
    let tform = Affine {
        m: [[cx[0], cy[0]], [cx[1], cy[1]]],
        b: tl,
    };
    for (x, y, px) in chip.enumerate_pixels_mut() {
        if let Some(v) = plane.bilinear(tform.apply([f64::from(x), f64::from(y)])) {
            px.0 = v;
        }
    }
    chip
}

/// dlib's `basic_extract_image_chip`: the rectangle copied, black outside the image.
fn copy_chip(img: &RgbImage, location: DlibRect) -> RgbImage {
    let (w, h) = (
        location.right - location.left + 1,
        location.bottom - location.top + 1,
    );
    let (Ok(w), Ok(h)) = (u32::try_from(w.max(0)), u32::try_from(h.max(0))) else {
        return RgbImage::new(0, 0);
    };
    if u64::from(w) * u64::from(h) > MAX_CHIP_PIXELS as u64 {
        return RgbImage::new(0, 0);
    }
    let mut chip = RgbImage::new(w, h);
    let area = location.intersect(&DlibRect::of_image(img));
    if area.is_empty() {
        return chip;
    }
    for y in area.top..=area.bottom {
        for x in area.left..=area.right {
            let p = *img.get_pixel(x as u32, y as u32);
            chip.put_pixel((x - location.left) as u32, (y - location.top) as u32, p);
        }
    }
    chip
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * (1.0 + b.abs())
    }

    #[test]
    fn similarity_recovers_a_known_transform() {
        let (s, th, t) = (1.7f64, 0.3f64, [12.5, -4.0]);
        let m = [[s * th.cos(), -s * th.sin()], [s * th.sin(), s * th.cos()]];
        let from = [[0.0, 0.0], [10.0, 3.0], [-2.0, 7.0], [5.0, 5.0]];
        let to = from.map(|p| Affine { m, b: t }.apply(p));
        let got = similarity_transform(&from, &to);
        let want = m.iter().flatten().chain(&t);
        let found = got.m.iter().flatten().chain(&got.b);
        assert!(found.zip(want).all(|(a, b)| close(*a, *b)), "{got:?}");
    }

    #[test]
    fn face_chip_details_of_a_transformed_template() {
        // Landmarks = the 150-pixel template, scaled 2×, rotated 0.2 rad, moved.
        let (s, th) = (2.0f64, 0.2f64);
        let tf = Affine {
            m: [[s * th.cos(), -s * th.sin()], [s * th.sin(), s * th.cos()]],
            b: [40.0, 30.0],
        };
        let inv = 1.0 / 1.5;
        let shape: Vec<[f32; 2]> = TEMPLATE_5
            .iter()
            .map(|p| {
                tf.apply(p.map(|v| (0.25 + v) * inv * 150.0))
                    .map(|v| v as f32)
            })
            .collect();
        let d = face_chip_details(&shape, 150, 0.25).unwrap();
        assert!((d.angle - th).abs() < 1e-6, "{d:?}");
        assert!((d.rect.width() - 300.0).abs() < 1e-4, "{d:?}");
        let c = tf.apply([75.0, 75.0]);
        assert!(
            (d.rect.center()[0] - c[0]).abs() < 1e-4 && (d.rect.center()[1] - c[1]).abs() < 1e-4
        );
        assert_eq!((d.rows, d.cols), (150, 150));
        assert!(face_chip_details(&shape[..4], 150, 0.25).is_none());
        assert!(face_chip_details(&shape, 0, 0.25).is_none());
    }

    #[test]
    fn unrotated_unscaled_chip_is_a_copy_black_outside() {
        let img = RgbImage::from_fn(20, 10, |x, y| Rgb([x as u8, y as u8, 7]));
        let d = ChipDetails {
            rect: DRect::new(15.0, -2.0, 24.0, 5.0),
            angle: 0.0,
            rows: 8,
            cols: 10,
        };
        let chip = extract_chip(&img, &d);
        assert_eq!(chip.dimensions(), (10, 8));
        assert_eq!(chip.get_pixel(0, 2).0, [15, 0, 7]);
        assert_eq!(chip.get_pixel(4, 7).0, [19, 5, 7]);
        assert_eq!(chip.get_pixel(5, 3).0, [0, 0, 0]);
        assert_eq!(chip.get_pixel(0, 1).0, [0, 0, 0]);
    }

    #[test]
    fn pyramid_filter_and_bilinear() {
        // A horizontal ramp: the (1 4 6 4 1)/16 filter keeps it linear, centred
        // on source column 2c + 2.
        let ramp = RgbImage::from_fn(40, 12, |x, _| Rgb([3 * x as u8, 0, 255]));
        let plane = Plane {
            data: ramp.as_raw().as_slice().into(),
            stride: 120,
            width: 40,
            height: 12,
        };
        let down = plane.down();
        assert_eq!((down.width, down.height), (18, 4));
        for c in 0..18 {
            assert_eq!(down.px(c, 1), [3 * (2 * c as u8 + 2), 0, 255]);
        }
        assert_eq!(plane.bilinear([2.5, 3.0]), Some([7, 0, 255])); // 7.5 truncated
        assert_eq!(plane.bilinear([38.9, 10.9]), Some([116, 0, 255]));
        assert_eq!(plane.bilinear([39.0, 3.0]), None);
        assert_eq!(plane.bilinear([-0.1, 3.0]), None);
        let tiny = Plane {
            data: ramp.as_raw()[..8 * 3 * 8].to_vec().into(),
            stride: 24,
            width: 8,
            height: 8,
        };
        assert_eq!(tiny.down().width, 0);
    }

    #[test]
    fn downscaled_chip_uses_the_pyramid_and_is_black_outside() {
        // A 600-pixel square of grey 200 in a black image, chipped to 50×50 from
        // a 700-pixel rectangle rotated 0.1 rad, sampled from the third pyramid level.
        let img = RgbImage::from_fn(800, 800, |x, y| {
            if (100..700).contains(&x) && (100..700).contains(&y) {
                Rgb([200, 200, 200])
            } else {
                Rgb([0, 0, 0])
            }
        });
        let d = ChipDetails {
            rect: DRect::new(50.0, 50.0, 749.0, 749.0),
            angle: 0.1,
            rows: 50,
            cols: 50,
        };
        let chip = extract_chip(&img, &d);
        assert_eq!(chip.dimensions(), (50, 50));
        let centre = chip.get_pixel(25, 25).0;
        assert!(centre.iter().all(|&v| v == 199 || v == 200), "{centre:?}");
        assert_eq!(chip.get_pixel(0, 0).0, [0, 0, 0]);
        // Partly outside the image: black there, no panic; and degenerate details.
        let off = ChipDetails {
            rect: DRect::new(600.0, -300.0, 1199.0, 299.0),
            ..d
        };
        let chip = extract_chip(&img, &off);
        assert_eq!(chip.get_pixel(49, 0).0, [0, 0, 0]);
        let bad = ChipDetails {
            rect: DRect {
                left: f64::NAN,
                ..d.rect
            },
            ..d
        };
        assert_eq!(extract_chip(&img, &bad).dimensions(), (50, 50));
        let far = ChipDetails {
            rect: DRect::new(1e6, 1e6, 1e6 + 10.0, 1e6 + 10.0),
            ..d
        };
        assert!(extract_chip(&img, &far).pixels().all(|p| p.0 == [0, 0, 0]));
    }
}
