//! Framed records: the log format shared by the WAL and the manifest.
//!
//! ```text
//! record = crc u32 LE | len u32 LE | type u8 | payload (len bytes)
//! crc    = CRC32 (IEEE) over the 4 len bytes ++ type ++ payload
//! ```
//!
//! The length is covered by the checksum, so a damaged length is caught like a damaged
//! payload. Decoding never reads past the buffer and never allocates.

use crate::error::{Error, Result};
use alloc::vec::Vec;

/// Size of a record header.
pub const RECORD_HEADER_LEN: usize = 9;

fn crc(len: [u8; 4], ty: u8, payload: &[u8]) -> u32 {
    let mut h = cairn_vfs::crc32::Hasher::new();
    h.update(&len);
    h.update(&[ty]);
    h.update(payload);
    h.finalize()
}

/// Appends one framed record to `out`.
pub fn frame(out: &mut Vec<u8>, ty: u8, payload: &[u8]) -> Result<()> {
    frame_parts(out, ty, &[], payload)
}

/// Appends one framed record whose payload is `prefix ++ payload` to `out`.
pub fn frame_parts(out: &mut Vec<u8>, ty: u8, prefix: &[u8], payload: &[u8]) -> Result<()> {
    let total = prefix.len() + payload.len();
    let len = u32::try_from(total)
        .map_err(|_| Error::InvalidArgument(alloc::format!("record of {total} bytes")))?;
    let len = len.to_le_bytes();
    out.reserve(RECORD_HEADER_LEN + total);
    let mut h = cairn_vfs::crc32::Hasher::new();
    h.update(&len);
    h.update(&[ty]);
    h.update(prefix);
    h.update(payload);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(&len);
    out.push(ty);
    out.extend_from_slice(prefix);
    out.extend_from_slice(payload);
    Ok(())
}

/// Decodes the record of type `ty` at `pos`: `Ok((payload, next_pos))` or `Err(reason)`.
pub fn decode_at(
    buf: &[u8],
    pos: usize,
    ty: u8,
) -> core::result::Result<(&[u8], usize), &'static str> {
    let (found, payload, next) = decode_any_at(buf, pos)?;
    if found != ty {
        return Err("unknown record type");
    }
    Ok((payload, next))
}

/// Decodes the record of any type at `pos`: `Ok((type, payload, next_pos))` or
/// `Err(reason)` when it is incomplete or fails its checksum.
pub fn decode_any_at(
    buf: &[u8],
    pos: usize,
) -> core::result::Result<(u8, &[u8], usize), &'static str> {
    let header = buf
        .get(pos..pos.saturating_add(RECORD_HEADER_LEN))
        .ok_or("truncated record header")?;
    let stored = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let len_bytes = [header[4], header[5], header[6], header[7]];
    let len = u32::from_le_bytes(len_bytes) as usize;
    let start = pos + RECORD_HEADER_LEN;
    let payload = buf
        .get(start..start.saturating_add(len))
        .ok_or("record extends past the end of the file")?;
    if crc(len_bytes, header[8], payload) != stored {
        return Err("record checksum mismatch");
    }
    Ok((header[8], payload, start + len))
}

/// True if a complete, checksummed record of type `ty` whose payload passes `plausible`
/// starts anywhere at or after `from`. Used to tell a torn tail (nothing valid follows the
/// damage) from damage in the middle of a log. `plausible` is a cheap filter run before the
/// checksum.
pub fn valid_record_after(
    buf: &[u8],
    from: usize,
    ty: u8,
    plausible: impl Fn(&[u8]) -> bool,
) -> bool {
    valid_record_of_any_type_after(buf, from, |t, payload| t == ty && plausible(payload))
}

/// Like [`valid_record_after`], with a filter that sees the record type too.
pub fn valid_record_of_any_type_after(
    buf: &[u8],
    from: usize,
    plausible: impl Fn(u8, &[u8]) -> bool,
) -> bool {
    let mut p = from;
    while p + RECORD_HEADER_LEN <= buf.len() {
        let len = u32::from_le_bytes([buf[p + 4], buf[p + 5], buf[p + 6], buf[p + 7]]) as usize;
        let start = p + RECORD_HEADER_LEN;
        if len <= buf.len() - start
            && plausible(buf[p + 8], &buf[start..start + len])
            && decode_any_at(buf, p).is_ok()
        {
            return true;
        }
        p += 1;
    }
    false
}
