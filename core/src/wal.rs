//! The write-ahead log: every committed batch is appended here before it enters the memtable.
//!
//! File layout (see docs/FORMAT.md):
//!
//! ```text
//! file    = header record*
//! header  = magic "CAIRNWAL" (8) | format version u32 LE | check u32 LE
//!           version 1: check = 0; versions 2 and 3: check = CRC32 (IEEE) of bytes 0..12
//! record  = crc u32 LE | len u32 LE | type u8 | payload (len bytes)
//! crc     = CRC32 (IEEE) over len bytes ++ type ++ payload
//! type 1  = a write batch. Version 1: payload = batch (see `batch`).
//!           Versions 2 and 3: payload = synced u64 LE | batch
//! type 2  = (versions 2 and 3) clean-close marker: payload = synced u64 LE | last sequence u64 LE
//! ```
//!
//! Version 3 has the layout of version 2; its batches may also hold range deletes (batch
//! record kind 2, see `batch`). A range delete in a version 1 or 2 WAL is corruption: no
//! build that wrote those versions could write one. Builds that read only versions 1 and 2
//! refuse a version 3 WAL with their typed "unsupported format" error instead of misreading
//! its range deletes.
//!
//! A commit appends one record (a group commit merges the group's batches into one record),
//! so a batch is never split across records and is recovered whole or not at all.
//!
//! **Synced offsets (version 2).** Every record carries `synced`: the length of the prefix of
//! this file that was known durable (a `File::sync` covering it had returned) when the record
//! was appended. The clean-close marker is appended by [`WalWriter::close`] after a sync of
//! everything before it, so its `synced` is its own offset, and it is synced itself. The last
//! record of a WAL that was closed cleanly is therefore a close marker, and any valid record
//! proves that every byte below its `synced` was durable before it was written.
//!
//! Recovery reads the whole file into one buffer and hands out each payload as a slice of it.
//! The first record that fails to decode ends the valid part of the file. It is a **torn
//! tail** (a crash during the last append) only when all of these hold:
//! - the WAL is the newest and the mode is [`RecoveryMode::TolerateTornTail`];
//! - it starts at or after the highest `synced` offset of every valid record before it
//!   (version 2): bytes below that offset were durable, so damage there is not a torn write;
//! - no valid record follows it that carries a higher sequence number, or (version 2) a
//!   `synced` offset above the damage;
//! - (version 2) it is not a clean-close marker with one flipped bit: a torn write leaves a
//!   record cut short or zeroed, never one at its full length that differs in one bit from
//!   the marker recovery expects at that offset (the marker's contents are known: its own
//!   offset and the last sequence before it).
//!
//! Otherwise recovery fails with [`Error::Corruption`] naming the file and offset. The window
//! that remains (see docs/DURABILITY.md): after a crash, damage in the records appended after
//! the newest synced offset any surviving record reports — at least the last write group, and
//! every group whose sync completed but after which nothing was appended — is taken for a torn
//! tail and dropped (and reported). Version 1 WALs (written before synced offsets existed)
//! replay with the rules above minus the version 2 ones.

use crate::batch::BatchRef;
use crate::error::{Error, Result};
use crate::options::RecoveryMode;
use crate::record::{self, RECORD_HEADER_LEN};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::File;

/// Magic bytes at the start of every WAL file.
pub const MAGIC: &[u8; 8] = b"CAIRNWAL";
/// WAL format version written by this build (version 2 plus range deletes in batches).
pub const FORMAT_VERSION: u32 = 3;
/// WAL format version 2: synced offsets and the clean-close marker, no range deletes.
pub const FORMAT_VERSION_2: u32 = 2;
/// The first WAL format version: no synced offsets, no close marker, no header checksum.
pub const FORMAT_VERSION_1: u32 = 1;
/// Size of the file header.
pub const FILE_HEADER_LEN: usize = 16;
/// Record type of a write batch.
pub const RECORD_BATCH: u8 = 1;
/// Record type of the clean-close marker (version 2).
pub const RECORD_CLOSE: u8 = 2;
/// Size of the `synced` prefix of a version 2 record payload.
pub const SYNCED_LEN: usize = 8;
/// Size of a whole clean-close record, header included.
pub const CLOSE_RECORD_LEN: usize = RECORD_HEADER_LEN + 16;

/// The header this build writes.
pub fn header() -> [u8; FILE_HEADER_LEN] {
    let mut header = [0u8; FILE_HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let crc = cairn_vfs::crc32::hash(&header[..12]);
    header[12..16].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Why a header does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Too short, wrong magic or failed check: damage.
    Damaged,
    /// A well-formed header of a version this build does not read.
    Unsupported(u32),
}

/// Decodes the file header at the start of `buf`: its format version.
pub fn decode_header(buf: &[u8]) -> core::result::Result<u32, HeaderError> {
    if buf.len() < FILE_HEADER_LEN || &buf[..8] != MAGIC {
        return Err(HeaderError::Damaged);
    }
    let version = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
    let check = u32::from_le_bytes([buf[12], buf[13], buf[14], buf[15]]);
    if version == FORMAT_VERSION_1 {
        return if check == 0 {
            Ok(version)
        } else {
            Err(HeaderError::Damaged)
        };
    }
    if check != cairn_vfs::crc32::hash(&buf[..12]) {
        return Err(HeaderError::Damaged);
    }
    if version == FORMAT_VERSION_2 || version == FORMAT_VERSION {
        Ok(version)
    } else {
        Err(HeaderError::Unsupported(version))
    }
}

fn close_payload(synced: u64, last_seq: u64) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..8].copy_from_slice(&synced.to_le_bytes());
    p[8..].copy_from_slice(&last_seq.to_le_bytes());
    p
}

/// The clean-close record a version 2 WAL ends with when its last batch ends at `offset`
/// and holds sequence `last_seq`.
pub fn close_record(offset: u64, last_seq: u64) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(CLOSE_RECORD_LEN);
    record::frame(&mut out, RECORD_CLOSE, &close_payload(offset, last_seq))?;
    Ok(out)
}

/// One decoded WAL record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalRecord<'a> {
    /// A write batch; `synced` is 0 in version 1 WALs.
    Batch {
        /// The durable prefix of the file when the record was appended.
        synced: u64,
        /// The encoded batch.
        batch: &'a [u8],
    },
    /// The clean-close marker.
    Close {
        /// The durable prefix when it was appended (its own offset).
        synced: u64,
        /// The last sequence number written before the close.
        last_sequence: u64,
    },
}

/// Sequence number of the last write of `batch` (None for an empty batch).
fn last_of(batch: &BatchRef<'_>) -> Option<u64> {
    (batch.count > 0).then(|| batch.sequence + u64::from(batch.count) - 1)
}

/// Why a checksummed record still does not decode.
const MALFORMED: &str = "checksummed record of an unknown type or malformed";

/// Decodes the record at `pos` of a WAL of format `version`: `Ok(Ok((record, next)))`,
/// `Ok(Err(detail))` for a record whose checksum holds but whose contents are not a valid
/// record (damage, never a torn write), or `Err(reason)` when it is incomplete or fails its
/// checksum.
#[allow(clippy::type_complexity)]
pub fn decode_record(
    buf: &[u8],
    pos: usize,
    version: u32,
) -> core::result::Result<core::result::Result<(WalRecord<'_>, usize), &'static str>, &'static str>
{
    let (ty, payload, next) = record::decode_any_at(buf, pos)?;
    let u64_at = |at: usize| crate::coding::get_u64(payload, at).unwrap_or(u64::MAX);
    Ok(match (version, ty) {
        (FORMAT_VERSION_1, RECORD_BATCH) => Ok((
            WalRecord::Batch {
                synced: 0,
                batch: payload,
            },
            next,
        )),
        (FORMAT_VERSION_2 | FORMAT_VERSION, RECORD_BATCH) if payload.len() >= SYNCED_LEN => Ok((
            WalRecord::Batch {
                synced: u64_at(0),
                batch: &payload[SYNCED_LEN..],
            },
            next,
        )),
        (FORMAT_VERSION_2 | FORMAT_VERSION, RECORD_CLOSE) if payload.len() == 16 => Ok((
            WalRecord::Close {
                synced: u64_at(0),
                last_sequence: u64_at(8),
            },
            next,
        )),
        _ => Err(MALFORMED),
    })
}

/// Appends records to one WAL file.
#[derive(Debug)]
pub struct WalWriter<F: File> {
    file: Arc<F>,
    number: u64,
    offset: u64,
    synced: u64,
    last_seq: u64,
    buf: Vec<u8>,
}

impl<F: File> WalWriter<F> {
    /// Starts a new WAL in an empty `file`, writing its header (not synced).
    pub fn create(file: Arc<F>, number: u64) -> Result<Self> {
        file.write_at(0, &header())?;
        Ok(WalWriter {
            file,
            number,
            offset: FILE_HEADER_LEN as u64,
            synced: 0,
            last_seq: 0,
            buf: Vec::new(),
        })
    }

    /// Appends one record holding `payload`; one `write_at` call, not synced.
    pub fn append(&mut self, payload: &[u8]) -> Result<()> {
        self.buf.clear();
        let synced = self.synced.min(self.offset).to_le_bytes();
        record::frame_parts(&mut self.buf, RECORD_BATCH, &synced, payload)?;
        self.file.write_at(self.offset, &self.buf)?;
        self.offset += self.buf.len() as u64;
        if let Some(b) = BatchRef::parse(payload).filter(|b| b.count > 0) {
            self.last_seq = b.sequence + u64::from(b.count) - 1;
        }
        if self.buf.capacity() > (1 << 20) {
            self.buf = Vec::new(); // don't keep a huge buffer after a huge record
        }
        Ok(())
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync()?;
        self.synced = self.offset;
        Ok(())
    }

    /// Ends the WAL after a clean close: syncs everything appended, then appends and syncs
    /// the clean-close marker. Nothing may be appended afterwards.
    pub fn close(&mut self) -> Result<()> {
        self.sync()?;
        let rec = close_record(self.offset, self.last_seq)?;
        self.file.write_at(self.offset, &rec)?;
        self.offset += rec.len() as u64;
        self.sync()
    }

    /// Cuts the file back to the last offset known durable (a sync covering it returned `Ok`)
    /// and syncs it: drops a partial append and the records whose sync failed or never ran,
    /// so that nothing of unknown durability sits below later records. The caller makes the
    /// writes of the records it dropped durable otherwise (`Db::resume` flushes them).
    pub fn truncate_to_synced(&mut self) -> Result<()> {
        let keep = self
            .synced
            .max(FILE_HEADER_LEN as u64)
            .min(self.offset.max(FILE_HEADER_LEN as u64));
        self.file.truncate(keep)?;
        self.file.sync()?;
        self.offset = keep;
        self.synced = keep;
        Ok(())
    }

    /// Records that a sync made by someone holding [`WalWriter::file`] covered the first
    /// `offset` bytes.
    pub fn mark_synced(&mut self, offset: u64) {
        self.synced = self.synced.max(offset.min(self.offset));
    }

    /// Bytes appended since the last known sync.
    pub fn unsynced_bytes(&self) -> u64 {
        self.offset - self.synced.min(self.offset)
    }

    /// The file, for syncing outside the engine's lock.
    pub fn file(&self) -> &Arc<F> {
        &self.file
    }

    /// This WAL's file number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Bytes written so far, header included.
    pub fn size(&self) -> u64 {
        self.offset
    }
}

/// What recovery found at the end of a WAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Records replayed.
    pub records: u64,
    /// Length of the valid part of the file.
    pub valid_len: u64,
    /// Set when a torn tail was dropped: (offset, what was wrong).
    pub torn_tail: Option<(u64, String)>,
    /// The WAL's format version (0 for a WAL without a complete header).
    pub format_version: u32,
    /// The highest synced offset a valid record reported (0 for version 1).
    pub synced_len: u64,
    /// True when the WAL ends with a valid clean-close marker.
    pub clean_close: bool,
}

/// True if a complete, checksummed record starts anywhere in `buf[from..]` that proves damage
/// at `damage` is not a torn tail: a batch whose sequence number is above `after_seq`, or
/// (version 2) any record whose synced offset lies beyond the damage.
fn valid_record_after(
    buf: &[u8],
    from: usize,
    damage: usize,
    after_seq: u64,
    version: u32,
) -> bool {
    let get = |p: &[u8], at| crate::coding::get_u64(p, at).unwrap_or(0);
    record::valid_record_of_any_type_after(buf, from, |ty, payload| match (version, ty) {
        (FORMAT_VERSION_1, RECORD_BATCH) => {
            let seq = get(payload, 0);
            payload.len() >= crate::batch::HEADER_LEN
                && seq > after_seq
                && seq - after_seq < (1 << 40)
        }
        (FORMAT_VERSION_2 | FORMAT_VERSION, RECORD_BATCH) => {
            let synced = get(payload, 0);
            let seq = get(payload, SYNCED_LEN);
            payload.len() >= SYNCED_LEN + crate::batch::HEADER_LEN
                && ((synced > damage as u64 && synced < buf.len() as u64)
                    || (seq > after_seq && seq - after_seq < (1 << 40)))
        }
        (FORMAT_VERSION_2 | FORMAT_VERSION, RECORD_CLOSE) => {
            payload.len() == 16 && get(payload, 0) > damage as u64
        }
        _ => false,
    })
}

/// True when the damaged bytes at `pos` are the clean-close marker expected there with
/// exactly one bit flipped: a complete, synced record. A torn write of the marker (a crash
/// inside [`WalWriter::close`]) leaves it short, or with whole sectors missing (zeros), which
/// differs from the expected bytes in one bit only if the lost part held exactly one set bit.
fn is_flipped_close_marker(buf: &[u8], pos: usize, last_seq: u64) -> bool {
    let Some(tail) = buf.get(pos..) else {
        return false;
    };
    if tail.len() != CLOSE_RECORD_LEN {
        return false;
    }
    let Ok(expected) = close_record(pos as u64, last_seq) else {
        return false;
    };
    let flipped: u32 = tail
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a ^ b).count_ones())
        .sum();
    flipped == 1
}

/// Replays WAL `name` from `file`: calls `apply` with every batch record as a slice of one read
/// buffer. `is_newest` says whether this is the newest WAL (the only one that may have a torn
/// tail). `last_seq` is the highest sequence recovered so far (to validate record order).
/// In `TolerateTornTail` mode a torn tail of the newest WAL is truncated from the file; use
/// [`scan`] to replay without changing the file.
pub fn replay<F: File>(
    file: &F,
    name: &str,
    mode: RecoveryMode,
    is_newest: bool,
    last_seq: u64,
    apply: impl FnMut(BatchRef<'_>) -> Result<()>,
) -> Result<Replayed> {
    let replayed = scan(file, name, mode, is_newest, last_seq, apply)?;
    if let Some((off, _)) = &replayed.torn_tail {
        if file.len()? > *off {
            file.truncate(*off)?;
        }
    }
    Ok(replayed)
}

/// Like [`replay`] but never writes: a torn tail is reported in [`Replayed::torn_tail`] and
/// left in the file. This is what read-only opens and inspection tools use; it decides torn
/// tails and damage exactly like [`replay`].
pub fn scan<F: File>(
    file: &F,
    name: &str,
    mode: RecoveryMode,
    is_newest: bool,
    mut last_seq: u64,
    mut apply: impl FnMut(BatchRef<'_>) -> Result<()>,
) -> Result<Replayed> {
    let buf = file.read_all()?;
    let torn_allowed = is_newest && mode == RecoveryMode::TolerateTornTail;
    let corrupt =
        |offset: usize, detail: &str| Error::corruption(name, Some(offset as u64), detail);

    // File header.
    let header = decode_header(&buf);
    if buf.len() <= FILE_HEADER_LEN && header.is_err() && mode == RecoveryMode::TolerateTornTail {
        // No room for a record and no valid header: a crash between creating the file and
        // syncing its header (rotate and open sync the header before the first append), the
        // torn header possibly cut short or padded with zeros or garbage. It holds no record.
        // It need not be the newest WAL: a recovery that replayed it may have created a newer
        // one before crashing in turn.
        return Ok(Replayed {
            records: 0,
            valid_len: 0,
            torn_tail: (is_newest && !buf.is_empty())
                .then(|| (0, String::from("incomplete file header"))),
            format_version: 0,
            synced_len: 0,
            clean_close: false,
        });
    }
    let version = match header {
        Ok(v) => v,
        Err(HeaderError::Damaged) => return Err(corrupt(0, "bad WAL file header")),
        Err(HeaderError::Unsupported(v)) => {
            return Err(Error::UnsupportedFormat(format!(
                "{name}: WAL format version {v}, this build reads versions {FORMAT_VERSION_1} \
                 to {FORMAT_VERSION}"
            )))
        }
    };

    let mut pos = FILE_HEADER_LEN;
    let mut records = 0u64;
    let mut synced_len = 0u64;
    let mut clean_close = false;
    // The last sequence of this WAL's own batches, which its close marker repeats.
    let mut wal_last_seq = 0u64;
    while pos < buf.len() {
        if clean_close {
            return Err(corrupt(pos, "bytes after the clean-close marker"));
        }
        match decode_record(&buf, pos, version) {
            Ok(Err(detail)) => return Err(corrupt(pos, detail)),
            Ok(Ok((
                WalRecord::Close {
                    synced,
                    last_sequence,
                },
                next,
            ))) => {
                if synced != pos as u64 || last_sequence != wal_last_seq {
                    return Err(corrupt(
                        pos,
                        &format!(
                            "clean-close marker for offset {synced}, sequence {last_sequence} \
                             at offset {pos} after sequence {wal_last_seq}"
                        ),
                    ));
                }
                synced_len = synced;
                clean_close = true;
                pos = next;
            }
            Ok(Ok((WalRecord::Batch { synced, batch }, next))) => {
                if synced > pos as u64 {
                    return Err(corrupt(
                        pos,
                        &format!("record claims {synced} bytes were synced before it"),
                    ));
                }
                let batch = BatchRef::parse(batch)
                    .filter(|b| b.validate())
                    .ok_or_else(|| corrupt(pos, "checksummed record holds a malformed batch"))?;
                if version < FORMAT_VERSION && batch.has_range_delete() {
                    return Err(corrupt(
                        pos,
                        "range delete in a WAL of a format version without range deletes",
                    ));
                }
                if batch.sequence <= last_seq && batch.count > 0 {
                    return Err(corrupt(
                        pos,
                        &format!("sequence {} after {last_seq}", batch.sequence),
                    ));
                }
                if let Some(last) = last_of(&batch) {
                    last_seq = last;
                    wal_last_seq = last;
                }
                apply(batch)?;
                synced_len = synced_len.max(synced);
                records += 1;
                pos = next;
            }
            Err(reason) => {
                if version >= FORMAT_VERSION_2 && is_flipped_close_marker(&buf, pos, wal_last_seq) {
                    return Err(corrupt(pos, "damaged clean-close marker"));
                }
                if !torn_allowed {
                    return Err(corrupt(pos, reason));
                }
                if valid_record_after(&buf, pos + 1, pos, last_seq, version) {
                    // A later record reports the damaged bytes as synced, or continues the
                    // sequence: the damage is not the end of the log.
                    return Err(corrupt(
                        pos,
                        &format!("{reason}, followed by a valid record"),
                    ));
                }
                return Ok(Replayed {
                    records,
                    valid_len: pos as u64,
                    torn_tail: Some((pos as u64, String::from(reason))),
                    format_version: version,
                    synced_len,
                    clean_close: false,
                });
            }
        }
    }
    Ok(Replayed {
        records,
        valid_len: pos as u64,
        torn_tail: None,
        format_version: version,
        synced_len,
        clean_close,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::WriteBatch;
    use alloc::vec;
    use cairn_vfs::{MemVfs, Vfs};

    fn batch(seq: u64, n: usize) -> WriteBatch {
        let mut b = WriteBatch::new();
        for i in 0..n {
            b.put(format!("key{seq}-{i}").as_bytes(), [seq as u8; 40]);
        }
        b.set_sequence(seq);
        b
    }

    fn write_wal(vfs: &MemVfs, batches: usize) -> Vec<u8> {
        let f = vfs.create("000001.wal").expect("create");
        let mut w = WalWriter::create(f.clone(), 1).expect("writer");
        let mut seq = 1;
        for i in 0..batches {
            let b = batch(seq, 1 + i % 3);
            seq += u64::from(b.len());
            w.append(b.as_bytes()).expect("append");
        }
        f.snapshot()
    }

    fn replay_bytes(bytes: Vec<u8>, mode: RecoveryMode, newest: bool) -> Result<Replayed> {
        let vfs = MemVfs::new();
        vfs.put_file("000001.wal", bytes);
        let f = vfs.open("000001.wal").expect("open");
        replay(&*f, "000001.wal", mode, newest, 0, |_| Ok(()))
    }

    #[test]
    fn clean_log_replays_every_record() {
        let vfs = MemVfs::new();
        let bytes = write_wal(&vfs, 20);
        let r =
            replay_bytes(bytes.clone(), RecoveryMode::AbsoluteConsistency, true).expect("replay");
        assert_eq!(r.records, 20);
        assert_eq!(r.valid_len, bytes.len() as u64);
        assert_eq!(r.torn_tail, None);
    }

    #[test]
    fn torn_tails_recover_the_prefix() {
        let vfs = MemVfs::new();
        let bytes = write_wal(&vfs, 10);
        // Every truncation point recovers a prefix of records.
        let mut last = 0;
        for cut in 0..bytes.len() {
            let r = replay_bytes(bytes[..cut].to_vec(), RecoveryMode::TolerateTornTail, true)
                .expect("torn tail tolerated");
            assert!(r.records >= last, "records never go backwards");
            last = r.records;
            assert!(
                replay_bytes(bytes[..cut].to_vec(), RecoveryMode::TolerateTornTail, false).is_err()
                    || r.torn_tail.is_none()
                    // A WAL shorter than its header holds nothing, wherever it is.
                    || cut < FILE_HEADER_LEN,
                "an older WAL may not have a torn tail"
            );
        }
        // Garbage and zeros appended after the last record.
        for tail in [vec![0u8; 5000], vec![0xAB; 37], vec![1, 2, 3]] {
            let mut b = bytes.clone();
            b.extend_from_slice(&tail);
            let r = replay_bytes(b.clone(), RecoveryMode::TolerateTornTail, true).expect("tail");
            assert_eq!(r.records, 10);
            assert!(replay_bytes(b, RecoveryMode::AbsoluteConsistency, true).is_err());
        }
    }

    #[test]
    fn damage_in_the_middle_is_corruption_in_every_mode() {
        let vfs = MemVfs::new();
        let bytes = write_wal(&vfs, 10);
        let mut detected = 0;
        for bit in (FILE_HEADER_LEN * 8..(bytes.len() - 200) * 8).step_by(7) {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            match replay_bytes(b, RecoveryMode::TolerateTornTail, true) {
                Err(Error::Corruption { .. }) => detected += 1,
                other => panic!("bit {bit}: {other:?}"),
            }
        }
        assert!(detected > 100);
    }

    /// A WAL whose records were each synced before the next was appended, as synced writes
    /// do; closed cleanly when `close`.
    fn synced_wal(batches: usize, close: bool) -> Vec<u8> {
        let vfs = MemVfs::new();
        let f = vfs.create("000001.wal").expect("create");
        let mut w = WalWriter::create(f.clone(), 1).expect("writer");
        w.sync().expect("sync header");
        let mut seq = 1;
        for i in 0..batches {
            let b = batch(seq, 1 + i % 3);
            seq += u64::from(b.len());
            w.append(b.as_bytes()).expect("append");
            w.sync().expect("sync");
        }
        if close {
            w.close().expect("close");
        }
        f.snapshot()
    }

    /// Offsets at which the records of `bytes` start, and the end.
    fn record_starts(bytes: &[u8]) -> Vec<usize> {
        let mut starts = vec![FILE_HEADER_LEN];
        let mut pos = FILE_HEADER_LEN;
        while pos < bytes.len() {
            let (_, _, next) = record::decode_any_at(bytes, pos).expect("valid record");
            starts.push(next);
            pos = next;
        }
        starts
    }

    #[test]
    fn a_clean_close_is_reported_and_every_flip_after_it_is_corruption() {
        let bytes = synced_wal(12, true);
        let r = replay_bytes(bytes.clone(), RecoveryMode::TolerateTornTail, true).expect("replay");
        assert_eq!((r.records, r.clean_close, r.torn_tail), (12, true, None));
        assert_eq!(r.format_version, FORMAT_VERSION);
        let marker_at = bytes.len() - CLOSE_RECORD_LEN;
        assert_eq!(r.synced_len, marker_at as u64);
        // Every single-bit flip anywhere in the file, the last batch and the marker included.
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            match replay_bytes(b, RecoveryMode::TolerateTornTail, true) {
                Err(Error::Corruption { .. }) => {}
                other => panic!("bit {bit} (byte {}): {other:?}", bit / 8),
            }
        }
        // Anything appended after the marker is damage too.
        let mut b = bytes.clone();
        b.extend_from_slice(&[0u8; 7]);
        assert!(matches!(
            replay_bytes(b, RecoveryMode::TolerateTornTail, true),
            Err(Error::Corruption { .. })
        ));
    }

    #[test]
    fn after_a_crash_only_the_records_after_the_last_reported_sync_may_be_torn() {
        let bytes = synced_wal(12, false);
        let starts = record_starts(&bytes);
        let last = starts[starts.len() - 2];
        let r = replay_bytes(bytes.clone(), RecoveryMode::TolerateTornTail, true).expect("replay");
        assert_eq!((r.records, r.clean_close), (12, false));
        // The last record reports every record before it as synced.
        assert_eq!(r.synced_len, last as u64);
        let mut torn = 0;
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            match replay_bytes(b.clone(), RecoveryMode::TolerateTornTail, true) {
                Err(Error::Corruption { .. }) => assert!(bit / 8 < last || bit / 8 >= bytes.len()),
                Ok(r) if bit / 8 >= last => {
                    // The window: the last record, dropped and reported; strict mode refuses.
                    assert_eq!(r.records, 11);
                    assert_eq!(r.torn_tail.as_ref().map(|t| t.0), Some(last as u64));
                    assert!(replay_bytes(b, RecoveryMode::AbsoluteConsistency, true).is_err());
                    torn += 1;
                }
                other => panic!("bit {bit} (byte {}): {other:?}", bit / 8),
            }
        }
        assert_eq!(torn, (bytes.len() - last) * 8);
    }

    #[test]
    fn a_torn_close_marker_is_a_torn_tail() {
        let bytes = synced_wal(5, true);
        let marker_at = bytes.len() - CLOSE_RECORD_LEN;
        for cut in marker_at + 1..bytes.len() {
            // Cut short, or cut and the rest zeroed (a sector that never reached the disk).
            let mut zeroed = bytes.clone();
            zeroed[cut..].fill(0);
            for b in [bytes[..cut].to_vec(), zeroed] {
                if b == bytes {
                    continue; // the lost suffix was zeros anyway: nothing was torn
                }
                let r = replay_bytes(b, RecoveryMode::TolerateTornTail, true)
                    .map(|r| (r.records, r.torn_tail.map(|t| t.0), r.clean_close));
                // A zeroed suffix holding exactly one set bit looks like a flipped bit.
                if let Err(Error::Corruption { detail, .. }) = &r {
                    assert!(detail.contains("clean-close"), "cut {cut}: {detail}");
                    continue;
                }
                assert_eq!(r, Ok((5, Some(marker_at as u64), false)), "cut {cut}");
            }
        }
    }

    #[test]
    fn a_version_1_wal_still_replays() {
        // Version 1: a header with a zero check word, batch payloads without synced offsets.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION_1.to_le_bytes());
        bytes.extend_from_slice(&[0u8; 4]);
        let mut seq = 1;
        for i in 0..6 {
            let b = batch(seq, 1 + i % 3);
            seq += u64::from(b.len());
            record::frame(&mut bytes, RECORD_BATCH, b.as_bytes()).expect("frame");
        }
        let mut ops = 0;
        let vfs = MemVfs::new();
        vfs.put_file("000001.wal", bytes.clone());
        let f = vfs.open("000001.wal").expect("open");
        let r = scan(
            &*f,
            "000001.wal",
            RecoveryMode::AbsoluteConsistency,
            true,
            0,
            |b| {
                ops += b.count;
                Ok(())
            },
        )
        .expect("replay");
        assert_eq!((r.records, r.format_version, ops), (6, 1, 12));
        // Its last record can still be torn off (version 1 has no synced offsets).
        let cut = bytes.len() - 3;
        let r = replay_bytes(bytes[..cut].to_vec(), RecoveryMode::TolerateTornTail, true)
            .expect("torn v1 tail");
        assert_eq!(r.records, 5);
        // A version 1 header whose check word is not zero is damage.
        let mut b = bytes.clone();
        b[12] = 1;
        assert!(matches!(
            replay_bytes(b, RecoveryMode::TolerateTornTail, true),
            Err(Error::Corruption { .. })
        ));
    }

    #[test]
    fn header_versions() {
        let bytes = synced_wal(2, true);
        for version in [0u32, 4, u32::MAX] {
            let mut b = bytes.clone();
            b[8..12].copy_from_slice(&version.to_le_bytes());
            // Without a matching check word it is damage...
            assert!(matches!(
                replay_bytes(b.clone(), RecoveryMode::TolerateTornTail, true),
                Err(Error::Corruption { .. })
            ));
            // ...with one, a version this build does not read.
            let crc = cairn_vfs::crc32::hash(&b[..12]);
            b[12..16].copy_from_slice(&crc.to_le_bytes());
            assert!(matches!(
                replay_bytes(b, RecoveryMode::TolerateTornTail, true),
                Err(Error::UnsupportedFormat(_))
            ));
        }
    }

    /// A WAL holding one batch with a range delete, with its header set to `version`.
    fn range_delete_wal(version: u32) -> Vec<u8> {
        let vfs = MemVfs::new();
        let f = vfs.create("000001.wal").expect("create");
        let mut w = WalWriter::create(f.clone(), 1).expect("writer");
        let mut b = WriteBatch::new();
        b.put(b"a", b"1");
        b.delete_range(b"b", b"m");
        b.set_sequence(1);
        w.append(b.as_bytes()).expect("append");
        w.sync().expect("sync");
        w.close().expect("close");
        let mut bytes = f.snapshot();
        bytes[8..12].copy_from_slice(&version.to_le_bytes());
        let crc = cairn_vfs::crc32::hash(&bytes[..12]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn range_deletes_need_version_3() {
        // Written by this build: version 3, and the range delete replays.
        assert_eq!(decode_header(&header()), Ok(FORMAT_VERSION));
        assert_eq!(FORMAT_VERSION, 3);
        let r = replay_bytes(
            range_delete_wal(FORMAT_VERSION),
            RecoveryMode::TolerateTornTail,
            true,
        )
        .expect("replay v3");
        assert_eq!((r.records, r.format_version, r.clean_close), (1, 3, true));
        // Version 2 has the same layout, so a version 2 WAL without range deletes replays...
        let mut v2 = synced_wal(3, true);
        v2[8..12].copy_from_slice(&FORMAT_VERSION_2.to_le_bytes());
        let crc = cairn_vfs::crc32::hash(&v2[..12]);
        v2[12..16].copy_from_slice(&crc.to_le_bytes());
        let r = replay_bytes(v2, RecoveryMode::TolerateTornTail, true).expect("replay v2");
        assert_eq!((r.records, r.format_version, r.clean_close), (3, 2, true));
        // ...but a range delete in one is damage, in either recovery mode.
        for mode in [
            RecoveryMode::TolerateTornTail,
            RecoveryMode::AbsoluteConsistency,
        ] {
            assert!(matches!(
                replay_bytes(range_delete_wal(FORMAT_VERSION_2), mode, true),
                Err(Error::Corruption { .. })
            ));
        }
    }

    #[test]
    fn scan_never_writes_and_replay_truncates() {
        let bytes = synced_wal(4, false);
        let cut = bytes.len() - 5;
        let vfs = MemVfs::new();
        vfs.put_file("000001.wal", bytes[..cut].to_vec());
        let ro = cairn_vfs::ReadOnlyVfs::new(vfs.clone());
        let f = ro.open("000001.wal").expect("open");
        let r = scan(
            &*f,
            "000001.wal",
            RecoveryMode::TolerateTornTail,
            true,
            0,
            |_| Ok(()),
        )
        .expect("scan on a read-only file");
        assert_eq!(r.records, 3);
        assert_eq!(f.len().expect("len"), cut as u64);
        let f = vfs.open("000001.wal").expect("open");
        let r2 = replay(
            &*f,
            "000001.wal",
            RecoveryMode::TolerateTornTail,
            true,
            0,
            |_| Ok(()),
        )
        .expect("replay");
        assert_eq!(r2, r);
        assert_eq!(f.len().expect("len"), r.valid_len);
    }
}
