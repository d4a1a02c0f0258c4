//! The current-manifest pointer, switched without an atomic rename.
//!
//! Two slot files, `CURRENT-A` and `CURRENT-B`, each hold one 32-byte record:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"CRNT"` |
//! | 4 | 2 | format version (1), little endian |
//! | 6 | 2 | reserved, zero |
//! | 8 | 8 | generation, little endian, increases by one per switch |
//! | 16 | 8 | manifest file number, little endian |
//! | 24 | 4 | reserved, zero |
//! | 28 | 4 | CRC32 (IEEE) of bytes 0..28, little endian |
//!
//! A switch writes the record with generation `g + 1` over the slot that does *not* hold the
//! current generation `g`, then syncs that file. The slot holding `g` is never touched, so a
//! crash during the switch leaves either the old pointer (the new slot torn, its CRC fails) or
//! the new one. Reading takes the valid slot with the highest generation. A slot whose CRC
//! fails is reported in [`Current::damaged_slots`]; if no slot is valid the pointer is
//! [`ReadError::Corrupt`].
//!
//! The slot files are created once, when the database is created, and both are synced
//! together with the directory before the database is used.

use crate::{Error, ErrorKind, File, Result, Vfs};

/// Name of the first slot.
pub const SLOT_A: &str = "CURRENT-A";
/// Name of the second slot.
pub const SLOT_B: &str = "CURRENT-B";
const MAGIC: &[u8; 4] = b"CRNT";
/// Version of the slot record format.
pub const FORMAT_VERSION: u16 = 1;
/// Size of a slot record.
pub const RECORD_LEN: usize = 32;

/// The decoded current pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    /// Number of switches so far.
    pub generation: u64,
    /// File number of the current manifest.
    pub manifest: u64,
    /// How many of the two slots failed their checksum (0 in normal operation; 1 after a crash
    /// during a switch or a damaged slot).
    pub damaged_slots: u8,
}

/// Why the pointer could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Neither slot exists: this directory holds no database.
    Missing,
    /// The slots exist but none holds a valid record.
    Corrupt(alloc::string::String),
    /// A slot holds a record of a format version this build does not know.
    UnsupportedVersion(u16),
    /// The VFS failed.
    Io(Error),
}

impl From<Error> for ReadError {
    fn from(e: Error) -> Self {
        ReadError::Io(e)
    }
}

/// Encodes one slot record.
pub fn encode(generation: u64, manifest: u64) -> [u8; RECORD_LEN] {
    let mut rec = [0u8; RECORD_LEN];
    rec[0..4].copy_from_slice(MAGIC);
    rec[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    rec[8..16].copy_from_slice(&generation.to_le_bytes());
    rec[16..24].copy_from_slice(&manifest.to_le_bytes());
    let crc = crate::crc32::hash(&rec[0..28]);
    rec[28..32].copy_from_slice(&crc.to_le_bytes());
    rec
}

enum Slot {
    Valid { generation: u64, manifest: u64 },
    Damaged,
    Version(u16),
}

fn decode(bytes: &[u8]) -> Slot {
    if bytes.len() != RECORD_LEN {
        return Slot::Damaged;
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[28..32]);
    if crate::crc32::hash(&bytes[0..28]) != u32::from_le_bytes(crc) || &bytes[0..4] != MAGIC {
        return Slot::Damaged;
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != FORMAT_VERSION {
        return Slot::Version(version);
    }
    let mut g = [0u8; 8];
    g.copy_from_slice(&bytes[8..16]);
    let mut m = [0u8; 8];
    m.copy_from_slice(&bytes[16..24]);
    Slot::Valid {
        generation: u64::from_le_bytes(g),
        manifest: u64::from_le_bytes(m),
    }
}

fn read_slot<V: Vfs>(vfs: &V, name: &str) -> Result<Option<Slot>> {
    let file = match vfs.open(name) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bytes = file.read_all()?;
    Ok(Some(decode(&bytes)))
}

/// Reads the current pointer.
pub fn read<V: Vfs>(vfs: &V) -> core::result::Result<Current, ReadError> {
    let a = read_slot(vfs, SLOT_A)?;
    let b = read_slot(vfs, SLOT_B)?;
    if a.is_none() && b.is_none() {
        return Err(ReadError::Missing);
    }
    let mut best: Option<(u64, u64)> = None;
    let mut damaged = 0u8;
    for slot in [a, b] {
        match slot {
            None | Some(Slot::Damaged) => damaged += 1,
            Some(Slot::Version(v)) => return Err(ReadError::UnsupportedVersion(v)),
            Some(Slot::Valid {
                generation,
                manifest,
            }) => {
                if best.is_none_or(|(g, _)| generation > g) {
                    best = Some((generation, manifest));
                }
            }
        }
    }
    match best {
        Some((generation, manifest)) => Ok(Current {
            generation,
            manifest,
            damaged_slots: damaged,
        }),
        None => Err(ReadError::Corrupt(alloc::string::String::from(
            "both CURRENT slots fail their checksum",
        ))),
    }
}

/// Creates both slots for a new database, pointing at `manifest` with generation 0 in slot A
/// (slot B holds the same record so that both are valid), and syncs them and the directory.
pub fn create<V: Vfs>(vfs: &V, manifest: u64) -> Result<Current> {
    let rec = encode(0, manifest);
    for name in [SLOT_A, SLOT_B] {
        let file = match vfs.open(name) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => vfs.create(name)?,
            Err(e) => return Err(e),
        };
        file.truncate(0)?;
        file.write_at(0, &rec)?;
        file.sync()?;
    }
    vfs.sync_dir()?;
    Ok(Current {
        generation: 0,
        manifest,
        damaged_slots: 0,
    })
}

/// Switches the pointer from `now` to `manifest`. Durable when it returns `Ok`.
pub fn switch<V: Vfs>(vfs: &V, now: &Current, manifest: u64) -> Result<Current> {
    let generation = now.generation + 1;
    // Generation g lives in slot g % 2 (A for even); write the other one.
    let name = if generation.is_multiple_of(2) {
        SLOT_A
    } else {
        SLOT_B
    };
    // The slot may be missing if the creating process died before its directory sync.
    let file = match vfs.open(name) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let f = vfs.create(name)?;
            vfs.sync_dir()?;
            f
        }
        Err(e) => return Err(e),
    };
    file.write_at(0, &encode(generation, manifest))?;
    file.truncate(RECORD_LEN as u64)?;
    file.sync()?;
    Ok(Current {
        generation,
        manifest,
        damaged_slots: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemVfs;

    #[test]
    fn switch_and_read_back() {
        let vfs = MemVfs::new();
        assert_eq!(read(&vfs), Err(ReadError::Missing));
        let mut cur = create(&vfs, 3).expect("create");
        for m in 4..10 {
            cur = switch(&vfs, &cur, m).expect("switch");
            let back = read(&vfs).expect("read");
            assert_eq!(back.manifest, m);
            assert_eq!(back.damaged_slots, 0);
        }
    }

    #[test]
    fn torn_switch_keeps_old_pointer_and_every_bit_flip_is_seen() {
        let vfs = MemVfs::new();
        let cur = create(&vfs, 1).expect("create");
        let cur = switch(&vfs, &cur, 2).expect("switch");
        // The next switch writes slot A (generation 2); tear it.
        let mut rec = encode(cur.generation + 1, 3).to_vec();
        rec.truncate(17);
        vfs.put_file(SLOT_A, rec);
        let back = read(&vfs).expect("read");
        assert_eq!((back.manifest, back.damaged_slots), (2, 1));
        // Flip every bit of the live slot: never read as another valid pointer.
        let good = encode(5, 9);
        for bit in 0..RECORD_LEN * 8 {
            let mut bad = good;
            bad[bit / 8] ^= 1 << (bit % 8);
            vfs.put_file(SLOT_A, bad.to_vec());
            vfs.put_file(SLOT_B, bad.to_vec());
            assert!(
                matches!(
                    read(&vfs),
                    Err(ReadError::Corrupt(_)) | Err(ReadError::UnsupportedVersion(_))
                ),
                "bit {bit}"
            );
        }
    }
}
