//! The header at the start of every pool file.
//!
//! Each pool file (`p-0000`, `p-0001`, ... in the database's OPFS directory) begins with a
//! fixed [`HEADER_LEN`]-byte header; the logical file's byte `i` is stored at pool-file offset
//! `HEADER_LEN + i`. Byte layout (integers little endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic [`MAGIC`] = `b"CAIRNSAH"` |
//! | 8 | 2 | format version, [`VERSION`] = 1 |
//! | 10 | 2 | length `n` of the logical file name, 1..=[`MAX_NAME_LEN`] |
//! | 12 | 4 | flags, zero (reserved) |
//! | 16 | 64 | logical file name: `n` ASCII bytes, then zeros |
//! | 80 | 4 | CRC32 (IEEE, `cairn_vfs::crc32`) of bytes 0..80 |
//! | 84 | 4012 | zeros (reserved) |
//! | 4096 | … | logical file data |
//!
//! A pool file is **free** when it is shorter than [`FIELDS_LEN`] bytes and every byte it has
//! is zero, or when its first [`FIELDS_LEN`] bytes are all zero. Anything else must decode as a
//! valid header or the mount fails: a damaged header is reported, never silently reused.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use cairn_vfs::check_name;
use core::fmt;

/// Size of the header; logical data starts at this offset in the pool file.
pub const HEADER_LEN: u64 = 4096;
/// The magic at offset 0.
pub const MAGIC: &[u8; 8] = b"CAIRNSAH";
/// The header format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Longest logical file name (the same limit as [`cairn_vfs::check_name`]).
pub const MAX_NAME_LEN: usize = 64;
/// Bytes of the header that carry fields (magic through CRC); the rest is zero.
pub const FIELDS_LEN: usize = 84;
const CRC_AT: usize = 80;
const NAME_AT: usize = 16;

/// What a pool file's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// All zeros: the pool file holds no logical file.
    Free,
    /// The pool file holds the logical file with this name.
    Used(String),
}

/// Why a header does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Not all zeros, and not a valid header of any version (bad magic, bad CRC, truncated,
    /// bad name).
    Corrupt(String),
    /// A header with the right magic but a format version this build does not know.
    UnsupportedVersion(u16),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Corrupt(why) => write!(f, "damaged pool file header: {why}"),
            HeaderError::UnsupportedVersion(v) => write!(
                f,
                "pool file header has format version {v}; this build reads version {VERSION}"
            ),
        }
    }
}

/// Encodes the header naming `name`. The caller has checked `name` with `check_name`.
pub fn encode(name: &str) -> Result<[u8; FIELDS_LEN], HeaderError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME_LEN {
        return Err(HeaderError::Corrupt(format!(
            "name of {} bytes does not fit",
            bytes.len()
        )));
    }
    let mut h = [0u8; FIELDS_LEN];
    h[0..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    // The length fits in u16: at most MAX_NAME_LEN, checked above.
    h[10..12].copy_from_slice(&(bytes.len() as u16).to_le_bytes());
    h[NAME_AT..NAME_AT + bytes.len()].copy_from_slice(bytes);
    let crc = cairn_vfs::crc32::hash(&h[0..CRC_AT]);
    h[CRC_AT..FIELDS_LEN].copy_from_slice(&crc.to_le_bytes());
    Ok(h)
}

/// Decodes the first bytes of a pool file (`bytes` holds `min(file size, FIELDS_LEN)` bytes).
pub fn decode(bytes: &[u8]) -> Result<Decoded, HeaderError> {
    if bytes.iter().all(|&b| b == 0) {
        return Ok(Decoded::Free);
    }
    if bytes.len() < FIELDS_LEN {
        return Err(HeaderError::Corrupt(format!(
            "truncated header: {} of {FIELDS_LEN} bytes",
            bytes.len()
        )));
    }
    let h = &bytes[..FIELDS_LEN];
    if &h[0..8] != MAGIC {
        return Err(HeaderError::Corrupt("bad magic".into()));
    }
    // The version is checked before the CRC: a later format may checksum differently.
    let version = u16::from_le_bytes([h[8], h[9]]);
    if version != VERSION {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    let stored = u32::from_le_bytes([h[CRC_AT], h[CRC_AT + 1], h[CRC_AT + 2], h[CRC_AT + 3]]);
    let actual = cairn_vfs::crc32::hash(&h[0..CRC_AT]);
    if stored != actual {
        return Err(HeaderError::Corrupt(format!(
            "CRC mismatch: stored {stored:#010x}, computed {actual:#010x}"
        )));
    }
    let len = usize::from(u16::from_le_bytes([h[10], h[11]]));
    if len == 0 || len > MAX_NAME_LEN {
        return Err(HeaderError::Corrupt(format!("name length {len}")));
    }
    let name = &h[NAME_AT..NAME_AT + len];
    let name =
        core::str::from_utf8(name).map_err(|_| HeaderError::Corrupt("name is not ASCII".into()))?;
    check_name(name).map_err(|e| HeaderError::Corrupt(format!("{e}")))?;
    Ok(Decoded::Used(name.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_zeros() {
        let h = encode("000012.sst").unwrap();
        assert_eq!(decode(&h), Ok(Decoded::Used("000012.sst".into())));
        assert_eq!(decode(&[]), Ok(Decoded::Free));
        assert_eq!(decode(&[0u8; 10]), Ok(Decoded::Free));
        assert_eq!(decode(&[0u8; FIELDS_LEN]), Ok(Decoded::Free));
        let long = "a".repeat(64);
        assert_eq!(decode(&encode(&long).unwrap()), Ok(Decoded::Used(long)));
        assert!(encode(&"a".repeat(65)).is_err());
    }

    #[test]
    fn every_bit_flip_is_an_error() {
        let good = encode("MANIFEST-000005").unwrap();
        for bit in 0..FIELDS_LEN * 8 {
            let mut bad = good;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&bad).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn unknown_version_and_truncation() {
        let mut h = encode("x").unwrap();
        h[8] = 2;
        assert_eq!(decode(&h), Err(HeaderError::UnsupportedVersion(2)));
        let h = encode("x").unwrap();
        assert!(matches!(decode(&h[..40]), Err(HeaderError::Corrupt(_))));
    }
}
