//! A reader of dlib's serialisation format (`dlib/serialize.h`), enough for
//! the `.dat` model files of PyPI `face-recognition-models`: dlib's packed
//! integers, `'0'`/`'1'` bools, strings, `float_details` floats, matrices and
//! DNN tensors. Every read is bounds-checked; a malformed file is an error
//! naming the byte offset, never a panic.

use std::fmt;

/// A malformed stream: what was expected and where.
#[derive(Debug, Clone, PartialEq)]
pub struct DatError {
    /// Byte offset of the item that failed.
    pub offset: usize,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for DatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.msg)
    }
}

impl std::error::Error for DatError {}

/// A DNN tensor (`resizable_tensor`): `[num_samples, k, nr, nc]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct DatTensor {
    /// Dimensions `[n, k, nr, nc]`.
    pub shape: [usize; 4],
    /// Values.
    pub data: Vec<f32>,
}

/// A dense matrix (`dlib::matrix<float>`), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct DatMatrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Values.
    pub data: Vec<f32>,
}

/// No tensor or matrix in a model file is larger than this many values.
const MAX_VALUES: usize = 1 << 26;

/// A cursor over a serialised dlib object.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Current byte offset.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// An error at the current offset.
    pub fn error(&self, msg: impl Into<String>) -> DatError {
        DatError {
            offset: self.pos,
            msg: msg.into(),
        }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DatError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.error(format!("{n} bytes wanted, the file ends first")))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, DatError> {
        Ok(self.bytes(1)?[0])
    }

    /// A signed integer: a control byte (bit 7: negative, low 4 bits: the
    /// number of little-endian magnitude bytes that follow, 1..=8).
    pub fn int(&mut self) -> Result<i64, DatError> {
        let start = self.pos;
        let control = self.byte()?;
        let size = usize::from(control & 0x0f);
        if size == 0 || size > 8 {
            self.pos = start;
            return Err(self.error(format!("bad integer control byte {control:#04x}")));
        }
        let mut magnitude: u64 = 0;
        for (i, b) in self.bytes(size)?.iter().enumerate() {
            magnitude |= u64::from(*b) << (8 * i);
        }
        let value = i64::try_from(magnitude).map_err(|_| DatError {
            offset: start,
            msg: "integer out of range".into(),
        })?;
        Ok(if control & 0x80 != 0 { -value } else { value })
    }

    /// An unsigned integer (as [`Reader::int`], no sign bit).
    pub fn uint(&mut self) -> Result<u64, DatError> {
        let start = self.pos;
        let control = self.byte()? & 0x8f;
        if control == 0 || control > 8 {
            self.pos = start;
            return Err(self.error(format!("bad unsigned control byte {control:#04x}")));
        }
        let mut value: u64 = 0;
        for (i, b) in self.bytes(usize::from(control))?.iter().enumerate() {
            value |= u64::from(*b) << (8 * i);
        }
        Ok(value)
    }

    /// An integer that must fit in `usize` and be at most `max`.
    pub fn count(&mut self, max: usize) -> Result<usize, DatError> {
        let start = self.pos;
        let v = self.int()?;
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(DatError {
                offset: start,
                msg: format!("count {v} is not in 0..={max}"),
            })
    }

    /// An `int` that must equal `want` (a version number, a layer size).
    pub fn expect_int(&mut self, want: i64, what: &str) -> Result<(), DatError> {
        let start = self.pos;
        let v = self.int()?;
        if v != want {
            return Err(DatError {
                offset: start,
                msg: format!("{what} is {v}, expected {want}"),
            });
        }
        Ok(())
    }

    /// A bool, stored as the character `'0'` or `'1'`.
    pub fn bool(&mut self) -> Result<bool, DatError> {
        match self.byte()? {
            b'0' => Ok(false),
            b'1' => Ok(true),
            b => {
                self.pos -= 1;
                Err(self.error(format!("bad bool byte {b:#04x}")))
            }
        }
    }

    /// A string: its length (unsigned) then its bytes.
    pub fn string(&mut self) -> Result<String, DatError> {
        let start = self.pos;
        let len = usize::try_from(self.uint()?).unwrap_or(usize::MAX);
        if len > 4096 {
            self.pos = start;
            return Err(self.error(format!("string of {len} bytes")));
        }
        let bytes = self.bytes(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DatError {
            offset: start,
            msg: "string is not UTF-8".into(),
        })
    }

    /// Whether a string equal to `s` comes next (nothing is consumed).
    pub fn peek_string(&self, s: &str) -> bool {
        let mut probe = self.clone();
        probe.string().is_ok_and(|found| found == s)
    }

    /// A string that must be one of `versions`; returns which.
    pub fn version(&mut self, versions: &[&str]) -> Result<String, DatError> {
        let start = self.pos;
        let v = self.string()?;
        if versions.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(DatError {
                offset: start,
                msg: format!("found {v:?}, expected one of {versions:?}"),
            })
        }
    }

    /// A float or double: `float_details` (an int64 mantissa and an int16
    /// exponent, value = mantissa · 2^exponent; exponents 32000..=32002 are
    /// +∞, −∞ and NaN).
    pub fn float(&mut self) -> Result<f64, DatError> {
        let start = self.pos;
        if self.buf.get(self.pos).is_some_and(|b| b & 0x70 != 0) {
            return Err(self.error("float in dlib's old ASCII format (not supported)"));
        }
        let mantissa = self.int()?;
        let exponent = self.int()?;
        match exponent {
            32000 => Ok(f64::INFINITY),
            32001 => Ok(f64::NEG_INFINITY),
            32002 => Ok(f64::NAN),
            e if (-32768..32000).contains(&e) => Ok(mantissa as f64 * 2f64.powi(e as i32)),
            e => Err(DatError {
                offset: start,
                msg: format!("float exponent {e} out of range"),
            }),
        }
    }

    /// A DNN tensor: version 2, `[n, k, nr, nc]`, then little-endian f32s.
    pub fn tensor(&mut self) -> Result<DatTensor, DatError> {
        self.expect_int(2, "tensor version")?;
        let shape = self.dims()?;
        let n = self.product(&shape)?;
        let raw = self.bytes(n * 4)?;
        let data = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(DatTensor { shape, data })
    }

    /// An alias tensor (a view into a layer's parameters): version 1 and its
    /// dimensions.
    pub fn alias_tensor(&mut self) -> Result<[usize; 4], DatError> {
        self.expect_int(1, "alias_tensor version")?;
        let shape = self.dims()?;
        self.product(&shape)?;
        Ok(shape)
    }

    fn dims(&mut self) -> Result<[usize; 4], DatError> {
        let mut shape = [0; 4];
        for d in &mut shape {
            *d = self.count(MAX_VALUES)?;
        }
        Ok(shape)
    }

    fn product(&self, dims: &[usize]) -> Result<usize, DatError> {
        dims.iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= MAX_VALUES)
            .ok_or_else(|| self.error(format!("tensor of {dims:?} is too large")))
    }

    /// A float matrix: `−rows`, `−cols` (or positive in dlib's old format),
    /// then each value as [`Reader::float`], row by row.
    pub fn matrix(&mut self) -> Result<DatMatrix, DatError> {
        let start = self.pos;
        let (r, c) = (self.int()?, self.int()?);
        let (rows, cols) = if r < 0 || c < 0 { (-r, -c) } else { (r, c) };
        let size = |v: i64| usize::try_from(v).ok();
        let (Some(rows), Some(cols)) = (size(rows), size(cols)) else {
            return Err(DatError {
                offset: start,
                msg: format!("matrix of {r} × {c}"),
            });
        };
        let n = self.product(&[rows, cols])?;
        let mut data = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            data.push(self.float()? as f32);
        }
        Ok(DatMatrix { rows, cols, data })
    }

    /// A `std::vector` of items read by `item`: its length, then each.
    pub fn vec<T>(
        &mut self,
        max: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, DatError>,
    ) -> Result<Vec<T>, DatError> {
        let start = self.pos;
        let n = usize::try_from(self.uint()?)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(DatError {
                offset: start,
                msg: format!("vector longer than {max}"),
            })?;
        let mut out = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_bools_strings_and_floats() {
        // 2, −300, true, "con_4", 0.5 (mantissa 1, exponent −1).
        let bytes = [
            0x01, 0x02, 0x82, 0x2c, 0x01, b'1', 0x01, 0x05, b'c', b'o', b'n', b'_', b'4', 0x01,
            0x01, 0x81, 0x01,
        ];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.int(), Ok(2));
        assert_eq!(r.int(), Ok(-300));
        assert_eq!(r.bool(), Ok(true));
        assert!(r.peek_string("con_4"));
        assert_eq!(r.version(&["con_4", "con_5"]).as_deref(), Ok("con_4"));
        assert_eq!(r.float(), Ok(0.5));
        assert!(r.at_end());
    }

    #[test]
    fn truncated_and_hostile_input_is_an_error() {
        // A tensor claiming 2^24 × 2^24 values.
        let huge = [
            0x01, 0x02, 0x04, 0, 0, 0, 1, 0x04, 0, 0, 0, 1, 0x01, 0x01, 0x01, 0x01,
        ];
        assert!(Reader::new(&huge).tensor().is_err());
        // A string longer than the file.
        assert!(Reader::new(&[0x01, 0x09, b'a']).string().is_err());
        // A zero control byte, a bad bool.
        assert!(Reader::new(&[0x00]).int().is_err());
        assert!(Reader::new(b"x").bool().is_err());
        assert!(Reader::new(&[]).int().is_err());
    }
}
