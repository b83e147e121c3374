//! The binary envelope of every serialized state: small, versioned, checksummed.
//!
//! Layout (little endian): `b"UNDERTOW"`, format version (u16), kind (u8), body length (u64),
//! body, CRC-32 (IEEE) of everything before it. Readers check each part and every length before
//! reading it, so truncated, corrupted or foreign bytes give an error, never a panic or a huge
//! allocation. Nothing here is pickle: bytes from anywhere are safe to load.

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"UNDERTOW";
pub const FORMAT_VERSION: u16 = 1;
const HEADER: usize = 8 + 2 + 1 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    PsiReference = 1,
    PsiAccumulator = 2,
    Covariance = 3,
    Pca = 4,
    Rff = 5,
    EmbeddingReference = 6,
    EmbeddingAccumulator = 7,
    Histogram = 8,
    CoverageAccumulator = 9,
    SortedSample = 10,
    /// A PSI reference with its two-sample tests: a facade body holding kind 1 and kind 10 states.
    TestedReference = 11,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::PsiReference => "a PSI reference",
            Kind::PsiAccumulator => "a PSI accumulator",
            Kind::Covariance => "a covariance accumulator",
            Kind::Pca => "a PCA",
            Kind::Rff => "an RFF MMD accumulator",
            Kind::EmbeddingReference => "an embedding drift reference",
            Kind::EmbeddingAccumulator => "an embedding drift accumulator",
            Kind::Histogram => "a histogram accumulator",
            Kind::CoverageAccumulator => "an eval coverage accumulator",
            Kind::SortedSample => "a sorted sample (KS / Wasserstein state)",
            Kind::TestedReference => "a PSI reference with two-sample tests",
        }
    }
    fn from_u8(value: u8) -> Option<Kind> {
        match value {
            1 => Some(Kind::PsiReference),
            2 => Some(Kind::PsiAccumulator),
            3 => Some(Kind::Covariance),
            4 => Some(Kind::Pca),
            5 => Some(Kind::Rff),
            6 => Some(Kind::EmbeddingReference),
            7 => Some(Kind::EmbeddingAccumulator),
            8 => Some(Kind::Histogram),
            9 => Some(Kind::CoverageAccumulator),
            10 => Some(Kind::SortedSample),
            11 => Some(Kind::TestedReference),
            _ => None,
        }
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u32; 256];
        for (i, entry) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *entry = c;
        }
        table
    });
    let mut crc = !0u32;
    for &b in bytes {
        crc = table[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

#[derive(Default)]
pub struct Writer {
    body: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.body.push(v);
    }
    pub fn u64(&mut self, v: u64) {
        self.body.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.body.extend_from_slice(&v.to_le_bytes());
    }
    pub fn str(&mut self, v: &str) {
        self.u64(v.len() as u64);
        self.body.extend_from_slice(v.as_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.body.extend_from_slice(v);
    }
    pub fn u64s(&mut self, v: &[u64]) {
        self.u64(v.len() as u64);
        v.iter().for_each(|&x| self.u64(x));
    }
    pub fn f64s(&mut self, v: &[f64]) {
        self.u64(v.len() as u64);
        v.iter().for_each(|&x| self.f64(x));
    }
    pub fn finish(self, kind: Kind) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.body.len() + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.push(kind as u8);
        out.extend_from_slice(&(self.body.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.body);
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

pub struct Reader<'a> {
    body: &'a [u8],
    pos: usize,
}

fn bad(message: impl Into<String>) -> Error {
    Error::InvalidState(message.into())
}

impl<'a> Reader<'a> {
    /// Checks the envelope and returns a reader over the body.
    pub fn open(bytes: &'a [u8], kind: Kind) -> Result<Reader<'a>> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(bad("not undertow state (missing the UNDERTOW header)"));
        }
        if bytes.len() < HEADER + 4 {
            return Err(bad(format!(
                "truncated: {} bytes, the header alone needs {}",
                bytes.len(),
                HEADER + 4
            )));
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        let mut length = [0u8; 8];
        length.copy_from_slice(&bytes[11..19]);
        let length = u64::from_le_bytes(length);
        let expected_len = (HEADER as u64).saturating_add(length).saturating_add(4);
        if (bytes.len() as u64) < expected_len {
            return Err(bad(format!(
                "truncated: {} bytes, expected {expected_len}",
                bytes.len()
            )));
        }
        if (bytes.len() as u64) > expected_len {
            return Err(bad(format!(
                "{} trailing bytes after the state",
                bytes.len() as u64 - expected_len
            )));
        }
        let end = bytes.len() - 4;
        let stored =
            u32::from_le_bytes([bytes[end], bytes[end + 1], bytes[end + 2], bytes[end + 3]]);
        if crc32(&bytes[..end]) != stored {
            return Err(bad("checksum mismatch: the bytes are corrupted"));
        }
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {version} is not supported by this undertow (reads version {FORMAT_VERSION})"
            )));
        }
        match Kind::from_u8(bytes[10]) {
            Some(k) if k == kind => Ok(Reader {
                body: &bytes[HEADER..end],
                pos: 0,
            }),
            Some(other) => Err(bad(format!(
                "these bytes hold {}, not {}",
                other.name(),
                kind.name()
            ))),
            None => Err(bad(format!("unknown state kind {}", bytes[10]))),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.body.len() - self.pos < n {
            return Err(bad(format!(
                "body ends early at byte {} (needs {n} more)",
                self.pos
            )));
        }
        let out = &self.body[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    /// A length prefix, checked against what is left (each item at least `item_size` bytes).
    fn length(&mut self, item_size: usize) -> Result<usize> {
        let n = self.u64()?;
        let left = (self.body.len() - self.pos) as u64;
        if n.saturating_mul(item_size.max(1) as u64) > left {
            return Err(bad(format!(
                "a length of {n} does not fit in the {left} bytes left"
            )));
        }
        Ok(n as usize)
    }
    pub fn str(&mut self) -> Result<String> {
        let n = self.length(1)?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| bad("a name is not valid UTF-8"))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.length(1)?;
        self.take(n)
    }
    pub fn u64s(&mut self) -> Result<Vec<u64>> {
        let n = self.length(8)?;
        (0..n).map(|_| self.u64()).collect()
    }
    pub fn f64s(&mut self) -> Result<Vec<f64>> {
        let n = self.length(8)?;
        (0..n).map(|_| self.f64()).collect()
    }
    /// Fails unless the whole body was read.
    pub fn finish(self) -> Result<()> {
        if self.pos != self.body.len() {
            return Err(bad(format!(
                "{} unread bytes in the body",
                self.body.len() - self.pos
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_known_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn round_trip_and_damage() {
        let mut w = Writer::default();
        w.str("column");
        w.f64s(&[1.5, -2.0]);
        w.u64s(&[3, 4, 5]);
        let bytes = w.finish(Kind::PsiReference);
        let mut r = Reader::open(&bytes, Kind::PsiReference).unwrap();
        assert_eq!(r.str().unwrap(), "column");
        assert_eq!(r.f64s().unwrap(), vec![1.5, -2.0]);
        assert_eq!(r.u64s().unwrap(), vec![3, 4, 5]);
        r.finish().unwrap();
        for cut in 0..bytes.len() {
            assert!(Reader::open(&bytes[..cut], Kind::PsiReference).is_err());
        }
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            assert!(
                Reader::open(&damaged, Kind::PsiReference).is_err(),
                "flip at {i}"
            );
        }
        assert!(Reader::open(&bytes, Kind::PsiAccumulator).is_err());
    }
}
