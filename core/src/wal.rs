//! The write-ahead log: every committed batch is appended here before it enters the memtable.
//!
//! File layout (see docs/FORMAT.md):
//!
//! ```text
//! file   = header record*
//! header = magic "CAIRNWAL" (8) | format version u32 LE (1) | reserved u32 (0)
//! record = crc u32 LE | len u32 LE | type u8 | payload (len bytes)
//! crc    = CRC32 (IEEE) over len bytes ++ type ++ payload
//! type   = 1: the payload is one write batch (see `batch`)
//! ```
//!
//! A commit appends one record (a group commit merges the group's batches into one record),
//! so a batch is never split across records and is recovered whole or not at all.
//!
//! Recovery reads the whole file into one buffer and hands out each payload as a slice of it.
//! The first record that fails to decode ends the valid part of the file. It is a **torn
//! tail** (a crash during the last append) when no valid record can be found anywhere after
//! it: then, in [`RecoveryMode::TolerateTornTail`] and only for the newest WAL, the file is
//! truncated there. Otherwise (a valid record follows the damage, the WAL is not the newest,
//! or the mode is [`RecoveryMode::AbsoluteConsistency`]) recovery fails with
//! [`Error::Corruption`] naming the file and offset.

use crate::batch::BatchRef;
use crate::error::{Error, Result};
use crate::options::RecoveryMode;
use crate::record;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::File;

/// Magic bytes at the start of every WAL file.
pub const MAGIC: &[u8; 8] = b"CAIRNWAL";
/// WAL format version written by this build.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the file header.
pub const FILE_HEADER_LEN: usize = 16;
/// Record type of a write batch.
pub const RECORD_BATCH: u8 = 1;

/// Appends records to one WAL file.
#[derive(Debug)]
pub struct WalWriter<F: File> {
    file: Arc<F>,
    number: u64,
    offset: u64,
    synced: u64,
    buf: Vec<u8>,
}

impl<F: File> WalWriter<F> {
    /// Starts a new WAL in an empty `file`, writing its header (not synced).
    pub fn create(file: Arc<F>, number: u64) -> Result<Self> {
        let mut header = [0u8; FILE_HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        file.write_at(0, &header)?;
        Ok(WalWriter {
            file,
            number,
            offset: FILE_HEADER_LEN as u64,
            synced: 0,
            buf: Vec::new(),
        })
    }

    /// Continues appending to a recovered WAL whose valid part ends at `offset`.
    pub fn reopen(file: Arc<F>, number: u64, offset: u64) -> Self {
        WalWriter {
            file,
            number,
            offset,
            synced: 0,
            buf: Vec::new(),
        }
    }

    /// Appends one record holding `payload`; one `write_at` call, not synced.
    pub fn append(&mut self, payload: &[u8]) -> Result<()> {
        self.buf.clear();
        record::frame(&mut self.buf, RECORD_BATCH, payload)?;
        self.file.write_at(self.offset, &self.buf)?;
        self.offset += self.buf.len() as u64;
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
}

/// True if a complete, checksummed batch record starts anywhere in `buf[from..]` whose
/// sequence number is above `after_seq`: proof that damage before it is not a torn tail.
fn valid_record_after(buf: &[u8], from: usize, after_seq: u64) -> bool {
    record::valid_record_after(buf, from, RECORD_BATCH, |payload| {
        let seq = crate::coding::get_u64(payload, 0).unwrap_or(0);
        payload.len() >= crate::batch::HEADER_LEN && seq > after_seq && seq - after_seq < (1 << 40)
    })
}

/// Replays WAL `name` from `file`: calls `apply` with every batch record as a slice of one read
/// buffer. `is_newest` says whether this is the newest WAL (the only one that may have a torn
/// tail). `last_seq` is the highest sequence recovered so far (to validate record order).
/// In `TolerateTornTail` mode a torn tail of the newest WAL is truncated from the file.
pub fn replay<F: File>(
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
    let header_ok = buf.len() >= FILE_HEADER_LEN
        && &buf[..8] == MAGIC
        && buf[12..16] == [0u8; 4]
        && buf[8..12] != [0u8; 4];
    if buf.len() <= FILE_HEADER_LEN && !header_ok && mode == RecoveryMode::TolerateTornTail {
        // No room for a record and no valid header: a crash between creating the file and
        // syncing its header (rotate and open sync the header before the first append), the
        // torn header possibly cut short or padded with zeros or garbage. It holds no record.
        // It need not be the newest WAL: a recovery that replayed it may have created a newer
        // one before crashing in turn.
        if is_newest && !buf.is_empty() {
            file.truncate(0)?;
        }
        return Ok(Replayed {
            records: 0,
            valid_len: 0,
            torn_tail: (is_newest && !buf.is_empty())
                .then(|| (0, String::from("incomplete file header"))),
        });
    }
    if buf.len() < FILE_HEADER_LEN || &buf[..8] != MAGIC || buf[12..16] != [0u8; 4] {
        return Err(corrupt(0, "bad WAL file header"));
    }
    let version = crate::coding::get_u32(&buf, 8).unwrap_or(0);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedFormat(format!(
            "{name}: WAL format version {version}, this build reads {FORMAT_VERSION}"
        )));
    }

    let mut pos = FILE_HEADER_LEN;
    let mut records = 0u64;
    while pos < buf.len() {
        match record::decode_at(&buf, pos, RECORD_BATCH) {
            Ok((payload, next)) => {
                let batch = BatchRef::parse(payload)
                    .filter(|b| b.validate())
                    .ok_or_else(|| corrupt(pos, "checksummed record holds a malformed batch"))?;
                if batch.sequence <= last_seq && batch.count > 0 {
                    return Err(corrupt(
                        pos,
                        &format!("sequence {} after {last_seq}", batch.sequence),
                    ));
                }
                if batch.count > 0 {
                    last_seq = batch.sequence + u64::from(batch.count) - 1;
                }
                apply(batch)?;
                records += 1;
                pos = next;
            }
            Err(reason) => {
                if !torn_allowed || valid_record_after(&buf, pos + 1, last_seq) {
                    return Err(corrupt(pos, reason));
                }
                file.truncate(pos as u64)?;
                return Ok(Replayed {
                    records,
                    valid_len: pos as u64,
                    torn_tail: Some((pos as u64, String::from(reason))),
                });
            }
        }
    }
    Ok(Replayed {
        records,
        valid_len: pos as u64,
        torn_tail: None,
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
            b.put(format!("key{seq}-{i}").as_bytes(), &[seq as u8; 40]);
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
}
