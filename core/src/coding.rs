//! Little helpers for the on-disk encodings: LEB128 varints and fixed-width little-endian
//! integers. Decoders return `None` on truncated or overlong input, never panic.

use alloc::vec::Vec;

/// Appends `v` as a LEB128 varint (1..=10 bytes).
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decodes a varint at the start of `buf`: (value, bytes used).
#[inline]
pub fn get_varint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7F);
        if i == 9 && b > 1 {
            return None; // would overflow 64 bits
        }
        v |= part << (7 * i);
        if b < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Decodes a varint that must fit a `u32`.
#[inline]
pub fn get_varint32(buf: &[u8]) -> Option<(u32, usize)> {
    let (v, n) = get_varint(buf)?;
    Some((u32::try_from(v).ok()?, n))
}

/// Number of bytes `put_varint(v)` writes.
#[inline]
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Reads a little-endian u32 at `pos`.
#[inline]
pub fn get_u32(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian u64 at `pos`.
#[inline]
pub fn get_u64(buf: &[u8], pos: usize) -> Option<u64> {
    let b = buf.get(pos..pos.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_garbage() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
            assert_eq!(get_varint(&b), Some((v, b.len())));
            assert_eq!(get_varint(&b[..b.len() - 1]), None);
        }
        assert_eq!(get_varint(&[0xFF; 11]), None);
        assert_eq!(get_varint32(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), None);
    }
}
