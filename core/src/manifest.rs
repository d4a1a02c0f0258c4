//! The manifest: a log of [`VersionEdit`]s from which the current version is rebuilt on open.
//!
//! ```text
//! file   = header record*
//! header = magic "CAIRNMAN" (8) | format version u32 LE (1) | reserved u32 (0)
//! record = framed record (see `record`) of type 2 whose payload is a postcard-encoded VersionEdit
//! ```
//!
//! The first record of a manifest is a snapshot of the whole version. Each flush or compaction
//! appends one edit and syncs the file before the engine acts on it (deleting obsolete files).
//! When the file grows past `Options::max_manifest_size` (and at every open) the engine writes
//! a new manifest holding one snapshot edit, syncs it, and switches the current pointer
//! ([`cairn_vfs::current`]) to it; only then is the old manifest removed.
//!
//! On replay, a damaged record followed by nothing valid is a torn tail (an edit whose append
//! crashed before its sync, so nothing acted on it) and is dropped; a damaged record followed
//! by a valid one is [`Error::Corruption`]: a manifest is never replayed past a bad record.

use crate::error::{Error, Result};
use crate::record;
use crate::version::VersionEdit;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::{File, Vfs};

/// Magic bytes at the start of every manifest.
pub const MAGIC: &[u8; 8] = b"CAIRNMAN";
/// Manifest format version written by this build.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 16;
/// Record type of a version edit.
pub const RECORD_EDIT: u8 = 2;
/// Largest edit accepted on decode (a snapshot of a 1 TiB database is a few MiB).
const MAX_EDIT: usize = 256 << 20;

/// Appends edits to one manifest file.
#[derive(Debug)]
pub struct ManifestWriter<F: File> {
    file: Arc<F>,
    number: u64,
    offset: u64,
    buf: Vec<u8>,
}

impl<F: File> ManifestWriter<F> {
    /// Creates manifest `number` holding `snapshot` as its first record, and syncs it (and
    /// the directory). The caller then switches the current pointer to it.
    pub fn create<V: Vfs<File = F>>(vfs: &V, number: u64, snapshot: &VersionEdit) -> Result<Self> {
        let file = vfs.create(&crate::filename::manifest(number))?;
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        buf.extend_from_slice(&[0u8; 4]);
        encode_edit(&mut buf, snapshot)?;
        file.write_at(0, &buf)?;
        file.sync()?;
        vfs.sync_dir()?;
        Ok(ManifestWriter {
            file,
            number,
            offset: buf.len() as u64,
            buf: Vec::new(),
        })
    }

    /// Appends `edit` and syncs: when this returns `Ok` the edit is durable.
    pub fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        self.buf.clear();
        encode_edit(&mut self.buf, edit)?;
        self.file.write_at(self.offset, &self.buf)?;
        self.file.sync()?;
        self.offset += self.buf.len() as u64;
        Ok(())
    }

    /// This manifest's file number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Bytes written.
    pub fn size(&self) -> u64 {
        self.offset
    }
}

fn encode_edit(out: &mut Vec<u8>, edit: &VersionEdit) -> Result<()> {
    let payload = postcard::to_allocvec(edit)
        .map_err(|e| Error::InvalidArgument(format!("cannot encode version edit: {e}")))?;
    record::frame(out, RECORD_EDIT, &payload)
}

/// Result of replaying a manifest.
#[derive(Debug)]
pub struct Replayed {
    /// The edits, in order (the first is the snapshot).
    pub edits: Vec<VersionEdit>,
    /// Length of the valid part of the file.
    pub valid_len: u64,
    /// Offset of a dropped torn tail, if any.
    pub torn_tail: Option<u64>,
}

/// Reads every edit of manifest `name`. Damage before the last valid record is corruption;
/// a torn tail is reported (the caller truncates it).
pub fn replay<F: File>(file: &F, name: &str) -> Result<Replayed> {
    let buf = file.read_all()?;
    if buf.len() < HEADER_LEN || &buf[..8] != MAGIC || buf[12..16] != [0u8; 4] {
        return Err(Error::corruption(name, Some(0), "bad manifest header"));
    }
    let version = crate::coding::get_u32(&buf, 8).unwrap_or(0);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedFormat(format!(
            "{name}: manifest format version {version}, this build reads {FORMAT_VERSION}"
        )));
    }
    let mut pos = HEADER_LEN;
    let mut edits = Vec::new();
    while pos < buf.len() {
        match record::decode_at(&buf, pos, RECORD_EDIT) {
            Ok((payload, next)) => {
                if payload.len() > MAX_EDIT {
                    return Err(Error::corruption(name, Some(pos as u64), "oversized edit"));
                }
                let edit: VersionEdit = postcard::from_bytes(payload).map_err(|e| {
                    Error::corruption(name, Some(pos as u64), format!("undecodable edit: {e}"))
                })?;
                edits.push(edit);
                pos = next;
            }
            Err(reason) => {
                if edits.is_empty()
                    || record::valid_record_after(&buf, pos + 1, RECORD_EDIT, |p| {
                        postcard::from_bytes::<VersionEdit>(p).is_ok()
                    })
                {
                    return Err(Error::corruption(name, Some(pos as u64), reason));
                }
                return Ok(Replayed {
                    edits,
                    valid_len: pos as u64,
                    torn_tail: Some(pos as u64),
                });
            }
        }
    }
    if edits.is_empty() {
        return Err(Error::corruption(
            name,
            Some(pos as u64),
            "manifest holds no snapshot",
        ));
    }
    Ok(Replayed {
        edits,
        valid_len: pos as u64,
        torn_tail: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::{AddedTable, TableMeta};
    use cairn_vfs::MemVfs;

    fn edit(n: u64) -> VersionEdit {
        VersionEdit {
            log_number: Some(n),
            next_file_number: Some(n + 1),
            last_sequence: Some(n * 10),
            removed: alloc::vec![],
            added: alloc::vec![AddedTable {
                level: 0,
                run: n,
                meta: TableMeta {
                    number: n,
                    size: 100,
                    smallest: crate::key::encode(b"a", 1, crate::key::Kind::Put),
                    largest: crate::key::encode(b"z", 1, crate::key::Kind::Put),
                    min_seq: 1,
                    max_seq: n,
                    entries: 3,
                    tombstones: 0,
                    raw_bytes: 10,
                },
            }],
        }
    }

    #[test]
    fn edits_round_trip_torn_tail_dropped_and_flips_detected() {
        let vfs = MemVfs::new();
        let mut w = ManifestWriter::create(&vfs, 1, &VersionEdit::default()).expect("create");
        for n in 2..6 {
            w.append(&edit(n)).expect("append");
        }
        let f = vfs.open(&crate::filename::manifest(1)).expect("open");
        let bytes = f.snapshot();
        let r = replay(&*f, "m").expect("replay");
        assert_eq!(r.edits.len(), 5);
        assert_eq!(r.edits[3], edit(4));
        // Every truncation replays a prefix (or fails before the snapshot is whole).
        for cut in HEADER_LEN + 1..bytes.len() {
            vfs.put_file("cut", bytes[..cut].to_vec());
            let g = vfs.open("cut").expect("open");
            if let Ok(r) = replay(&*g, "cut") {
                assert!(r.edits.len() <= 5);
            }
        }
        // Every bit flip outside the last record is corruption, never a silent skip.
        let last_len = {
            let mut b = Vec::new();
            encode_edit(&mut b, &edit(5)).expect("encode");
            b.len()
        };
        for bit in 0..(bytes.len() - last_len) * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            vfs.put_file("flip", b);
            let g = vfs.open("flip").expect("open");
            match replay(&*g, "flip") {
                Err(Error::Corruption { .. }) | Err(Error::UnsupportedFormat(_)) => {}
                other => panic!("bit {bit}: {:?}", other.map(|r| r.edits.len())),
            }
        }
    }
}
