//! Camera pixel formats to RGB: YUYV (BT.601, limited range) and MJPEG,
//! including UVC MJPEG frames that omit their Huffman tables.

use image::RgbImage;

/// Converts a YUYV 4:2:2 buffer (`stride` bytes per row) to RGB.
pub fn yuyv_to_rgb(data: &[u8], width: u32, height: u32, stride: u32) -> Option<RgbImage> {
    let (w, h, stride) = (width as usize, height as usize, stride as usize);
    if w == 0 || h == 0 || w % 2 != 0 || stride < w * 2 || data.len() < stride * (h - 1) + w * 2 {
        return None;
    }
    let mut out = vec![0u8; w * h * 3];
    for (y, row_out) in out.chunks_exact_mut(w * 3).enumerate() {
        let row = &data[y * stride..y * stride + w * 2];
        for (px, rgb) in row.chunks_exact(4).zip(row_out.chunks_exact_mut(6)) {
            let (u, v) = (i32::from(px[1]) - 128, i32::from(px[3]) - 128);
            ycbcr(px[0], u, v, &mut rgb[..3]);
            ycbcr(px[2], u, v, &mut rgb[3..]);
        }
    }
    RgbImage::from_raw(width, height, out)
}

/// BT.601 limited-range YCbCr to RGB in 16.16 fixed point.
fn ycbcr(y: u8, u: i32, v: i32, rgb: &mut [u8]) {
    let c = (i32::from(y) - 16).max(0) * 76284; // 1.164
    let r = (c + 104595 * v) >> 16; // 1.596
    let g = (c - 25624 * u - 53281 * v) >> 16; // 0.391, 0.813
    let b = (c + 132252 * u) >> 16; // 2.018
    rgb[0] = r.clamp(0, 255) as u8;
    rgb[1] = g.clamp(0, 255) as u8;
    rgb[2] = b.clamp(0, 255) as u8;
}

/// Decodes an MJPEG frame, inserting the standard Huffman tables when the
/// frame has none (UVC cameras leave them out, as Motion-JPEG allows).
pub fn mjpeg_to_rgb(data: &[u8]) -> Result<RgbImage, String> {
    let with_tables;
    let bytes = if needs_huffman_tables(data) {
        with_tables = insert_huffman_tables(data).ok_or("not a JPEG frame")?;
        &with_tables[..]
    } else {
        data
    };
    image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .map(|i| i.to_rgb8())
        .map_err(|e| e.to_string())
}

/// Walks the marker segments before the first scan.
fn segments(data: &[u8]) -> impl Iterator<Item = (u8, usize)> + '_ {
    let mut pos = 2;
    std::iter::from_fn(move || {
        if pos + 4 > data.len() || data[pos] != 0xFF {
            return None;
        }
        let (marker, at) = (data[pos + 1], pos);
        if marker == 0xDA {
            pos = data.len();
        } else {
            let len = usize::from(u16::from_be_bytes([data[pos + 2], data[pos + 3]]));
            pos += 2 + len;
        }
        Some((marker, at))
    })
}

/// True for a JPEG whose header has no DHT segment.
pub fn needs_huffman_tables(data: &[u8]) -> bool {
    data.starts_with(&[0xFF, 0xD8]) && !segments(data).any(|(m, _)| m == 0xC4)
}

/// The frame with the standard tables inserted before the start of scan.
pub fn insert_huffman_tables(data: &[u8]) -> Option<Vec<u8>> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let (_, sos) = segments(data).find(|&(m, _)| m == 0xDA)?;
    let mut out = Vec::with_capacity(data.len() + 432);
    out.extend_from_slice(&data[..sos]);
    out.extend_from_slice(&standard_dht());
    out.extend_from_slice(&data[sos..]);
    Some(out)
}

/// ITU-T T.81 Annex K.3 tables: (class/id, code counts per length, symbols).
const TABLES: [(u8, [u8; 16], &[u8]); 4] = [
    (
        0x00,
        [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        &DC_SYMBOLS,
    ),
    (
        0x01,
        [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        &DC_SYMBOLS,
    ),
    (
        0x10,
        [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
        &AC_LUMA,
    ),
    (
        0x11,
        [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
        &AC_CHROMA,
    ),
];

const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

const AC_LUMA: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

const AC_CHROMA: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

/// One DHT segment holding the four standard tables.
fn standard_dht() -> Vec<u8> {
    let body: usize = TABLES.iter().map(|(_, _, s)| 17 + s.len()).sum();
    let mut seg = vec![0xFF, 0xC4];
    seg.extend_from_slice(&((body + 2) as u16).to_be_bytes());
    for (class, counts, symbols) in TABLES {
        seg.push(class);
        seg.extend_from_slice(&counts);
        seg.extend_from_slice(symbols);
    }
    seg
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;

    fn test_image() -> RgbImage {
        RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
        })
    }

    #[test]
    fn table_counts_match_symbols() {
        for (_, counts, symbols) in TABLES {
            let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
            assert_eq!(n, symbols.len());
        }
    }

    /// A UVC-style frame (DHT removed) decodes to the same pixels as the
    /// original, because the encoder used the standard tables.
    #[test]
    fn frame_without_huffman_tables_decodes() {
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 85)
            .encode_image(&test_image())
            .unwrap();
        let reference = mjpeg_to_rgb(&jpeg).unwrap();
        let mut stripped = jpeg[..2].to_vec();
        let mut removed = 0;
        for (marker, at) in segments(&jpeg).collect::<Vec<_>>() {
            if marker == 0xDA {
                stripped.extend_from_slice(&jpeg[at..]);
                break;
            }
            let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
            if marker == 0xC4 {
                removed += 1;
            } else {
                stripped.extend_from_slice(&jpeg[at..at + 2 + len]);
            }
        }
        assert!(removed > 0, "the encoder wrote no DHT to remove");
        assert!(needs_huffman_tables(&stripped));
        assert!(!needs_huffman_tables(&jpeg));
        assert_eq!(mjpeg_to_rgb(&stripped).unwrap(), reference);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(mjpeg_to_rgb(b"not a jpeg").is_err());
        assert!(mjpeg_to_rgb(&[0xFF, 0xD8, 0xFF]).is_err());
    }

    /// RGB → YUYV (BT.601 limited range, the inverse) → RGB stays close.
    #[test]
    fn yuyv_round_trip() {
        let img = test_image();
        let (w, h) = img.dimensions();
        let stride = w * 2 + 8; // padded rows, as some drivers deliver
        let mut yuyv = vec![0u8; (stride * h) as usize];
        for y in 0..h {
            for x in (0..w).step_by(2) {
                let yuv = |p: &image::Rgb<u8>| {
                    let [r, g, b] = p.0.map(f32::from);
                    (
                        16.0 + 0.257 * r + 0.504 * g + 0.098 * b,
                        128.0 - 0.148 * r - 0.291 * g + 0.439 * b,
                        128.0 + 0.439 * r - 0.368 * g - 0.071 * b,
                    )
                };
                let (y0, u0, v0) = yuv(img.get_pixel(x, y));
                let (y1, u1, v1) = yuv(img.get_pixel(x + 1, y));
                let at = (y * stride + x * 2) as usize;
                yuyv[at..at + 4].copy_from_slice(&[
                    y0.round() as u8,
                    ((u0 + u1) / 2.0).round() as u8,
                    y1.round() as u8,
                    ((v0 + v1) / 2.0).round() as u8,
                ]);
            }
        }
        let back = yuyv_to_rgb(&yuyv, w, h, stride).unwrap();
        let worst = img
            .as_raw()
            .iter()
            .zip(back.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        // Chroma is shared by pixel pairs; neighbours differ by 4 levels here.
        assert!(worst <= 8, "max channel error {worst}");
    }

    #[test]
    fn short_yuyv_buffer_is_refused() {
        assert!(yuyv_to_rgb(&[0; 10], 4, 4, 8).is_none());
        assert!(yuyv_to_rgb(&[0; 64], 3, 4, 8).is_none());
    }
}
