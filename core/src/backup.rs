//! Backups: a database as one checksummed stream that restores on every target.
//!
//! A backup is a [checkpoint](crate::db::CheckpointPlan) written into one stream instead of a
//! directory: the same files (live tables, the WALs the manifest needs, the manifest), each cut
//! at its length when the backup began, so the stream is consistent at one sequence number
//! while writes go on. The native crate and the CLI write it to a file or a pipe and restore it
//! into a directory, natively and under WASI (the browser package has no backup export or
//! import yet).
//!
//! ## Format, version 1 (all integers little endian)
//! ```text
//! stream  = header entry* trailer
//! header  = magic "CAIRNBAK" (8) | version u32 (1) | files u32 | sequence u64
//!           | manifest number u64 | crc32 of the 32 bytes before it (4)
//! entry   = name length u16 | name (UTF-8, a file name of the engine: table, WAL or
//!           manifest) | content length u64 | crc32 of the entry header before it (4)
//!           | content | crc32 of the content (4)
//! trailer = magic "CAIRNEND" (8) | files u32 | crc32 of the 12 bytes before it (4)
//! ```
//! Every byte is under a checksum, so a flipped bit anywhere is refused, and a stream cut
//! short anywhere (including a missing trailer) is refused as truncated: both are
//! [`Error::Corruption`] naming the stream offset. A restore writes into an empty directory
//! only ([`Error::AlreadyExists`] otherwise), checks each file's checksum before it goes on,
//! and writes the current pointer only after the trailer checked out; when it fails, it
//! removes every file it wrote, so the directory is as empty as it found it.

use crate::db::{CheckpointPlan, Db};
use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use cairn_vfs::{current, File, Vfs};

/// Magic bytes at the start of a backup.
pub const MAGIC: &[u8; 8] = b"CAIRNBAK";
/// Magic bytes of the trailer.
pub const TRAILER_MAGIC: &[u8; 8] = b"CAIRNEND";
/// Backup format version written by this build.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 36;
const CHUNK: usize = 1 << 20;
/// The name the errors give the stream.
const STREAM: &str = "backup stream";

/// Where a backup is written (a `Vec<u8>`, a file, a socket).
pub trait BackupSink {
    /// Writes all of `data`.
    fn write_all(&mut self, data: &[u8]) -> Result<()>;
}

impl BackupSink for Vec<u8> {
    fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }
}

/// Where a backup is read from.
pub trait BackupSource {
    /// Reads up to `buf.len()` bytes into `buf`; `Ok(0)` at the end of the stream.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize>;
}

impl BackupSource for &[u8] {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = buf.len().min(self.len());
        buf[..n].copy_from_slice(&self[..n]);
        *self = &self[n..];
        Ok(n)
    }
}

/// What a backup or a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupReport {
    /// The sequence number the backup is consistent at.
    pub sequence: u64,
    /// Files in the backup.
    pub files: u64,
    /// Bytes of the stream.
    pub stream_bytes: u64,
}

struct Writer<'a> {
    sink: &'a mut dyn BackupSink,
    written: u64,
}

impl Writer<'_> {
    fn put(&mut self, data: &[u8]) -> Result<()> {
        self.sink.write_all(data)?;
        self.written += data.len() as u64;
        Ok(())
    }
}

/// Writes the files of `plan` (see [`Db::begin_checkpoint`]) from `src` into `sink` as one
/// backup stream. The files must stay pinned until this returns.
pub fn write_backup<S: Vfs>(
    src: &S,
    plan: &CheckpointPlan,
    sink: &mut dyn BackupSink,
) -> Result<BackupReport> {
    let files = u32::try_from(plan.files.len())
        .map_err(|_| Error::InvalidArgument(String::from("too many files for one backup")))?;
    let mut w = Writer { sink, written: 0 };
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&files.to_le_bytes());
    header.extend_from_slice(&plan.sequence.to_le_bytes());
    header.extend_from_slice(&plan.manifest.to_le_bytes());
    let crc = cairn_vfs::crc32::hash(&header);
    header.extend_from_slice(&crc.to_le_bytes());
    w.put(&header)?;
    let mut buf = Vec::new();
    for f in &plan.files {
        let name_len = u16::try_from(f.name.len())
            .map_err(|_| Error::InvalidArgument(format!("file name {} too long", f.name)))?;
        let mut eh = Vec::with_capacity(16 + f.name.len());
        eh.extend_from_slice(&name_len.to_le_bytes());
        eh.extend_from_slice(f.name.as_bytes());
        eh.extend_from_slice(&f.len.to_le_bytes());
        let crc = cairn_vfs::crc32::hash(&eh);
        eh.extend_from_slice(&crc.to_le_bytes());
        w.put(&eh)?;
        let file = src.open_read(&f.name)?;
        let mut h = cairn_vfs::crc32::Hasher::new();
        let mut off = 0u64;
        while off < f.len {
            let n = (f.len - off).min(CHUNK as u64) as usize;
            buf.resize(n, 0);
            file.read_exact_at(off, &mut buf)?;
            h.update(&buf);
            w.put(&buf)?;
            off += n as u64;
        }
        w.put(&h.finalize().to_le_bytes())?;
    }
    let mut trailer = Vec::with_capacity(16);
    trailer.extend_from_slice(TRAILER_MAGIC);
    trailer.extend_from_slice(&files.to_le_bytes());
    let crc = cairn_vfs::crc32::hash(&trailer);
    trailer.extend_from_slice(&crc.to_le_bytes());
    w.put(&trailer)?;
    Ok(BackupReport {
        sequence: plan.sequence,
        files: u64::from(files),
        stream_bytes: w.written,
    })
}

impl<V: Vfs + Clone> Db<V> {
    /// Writes a backup of the database into `sink` in one call (single-threaded callers: the
    /// browser, WASI, tests; the native crate writes it outside its lock instead).
    pub fn backup_to(&mut self, sink: &mut dyn BackupSink) -> Result<BackupReport> {
        self.with_pinned_files(|src, plan| write_backup(src, plan, sink))
    }
}

struct Reader<'a> {
    src: &'a mut dyn BackupSource,
    offset: u64,
}

impl Reader<'_> {
    fn take(&mut self, buf: &mut [u8]) -> Result<()> {
        let mut got = 0;
        while got < buf.len() {
            let n = self.src.read(&mut buf[got..])?;
            if n == 0 {
                return Err(Error::corruption(
                    STREAM,
                    Some(self.offset + got as u64),
                    "truncated: the stream ends before the backup does",
                ));
            }
            got += n;
        }
        self.offset += got as u64;
        Ok(())
    }

    fn u32_at(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.take(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn check(&self, at: u64, data: &[u8], want: u32, what: &str) -> Result<()> {
        if cairn_vfs::crc32::hash(data) != want {
            return Err(Error::corruption(
                STREAM,
                Some(at),
                format!("{what}: checksum mismatch"),
            ));
        }
        Ok(())
    }
}

/// Restores the backup read from `src` into `dest`, which must hold no file. Checks every
/// checksum; on any error removes every file it wrote and returns the error. When it returns
/// `Ok` the database in `dest` is durable and opens with [`Db::open`].
pub fn restore<D: Vfs>(src: &mut dyn BackupSource, dest: &D) -> Result<BackupReport> {
    crate::db::require_empty(dest, "restore")?;
    let mut written: Vec<String> = Vec::new();
    let r = restore_files(src, dest, &mut written);
    if r.is_err() {
        for name in &written {
            let _ = dest.remove(name);
        }
        let _ = dest.sync_dir();
    }
    r
}

fn restore_files<D: Vfs>(
    src: &mut dyn BackupSource,
    dest: &D,
    written: &mut Vec<String>,
) -> Result<BackupReport> {
    let mut r = Reader { src, offset: 0 };
    let mut header = [0u8; HEADER_LEN];
    r.take(&mut header)?;
    if &header[..8] != MAGIC {
        return Err(Error::corruption(
            STREAM,
            Some(0),
            "not a Cairn backup (bad magic)",
        ));
    }
    let u32_at =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[i..i + 8]);
        u64::from_le_bytes(b)
    };
    r.check(0, &header[..32], u32_at(32), "backup header")?;
    let version = u32_at(8);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedFormat(format!(
            "backup format version {version}; this build reads version {FORMAT_VERSION}"
        )));
    }
    let files = u32_at(12);
    let sequence = u64_at(16);
    let manifest = u64_at(24);
    let mut saw_manifest = false;
    let mut buf = Vec::new();
    for _ in 0..files {
        let at = r.offset;
        let mut len2 = [0u8; 2];
        r.take(&mut len2)?;
        let name_len = usize::from(u16::from_le_bytes(len2));
        let mut eh = Vec::with_capacity(2 + name_len + 8);
        eh.extend_from_slice(&len2);
        eh.resize(2 + name_len + 8, 0);
        r.take(&mut eh[2..])?;
        let crc = r.u32_at()?;
        r.check(at, &eh, crc, "entry header")?;
        let name = core::str::from_utf8(&eh[2..2 + name_len])
            .map_err(|_| Error::corruption(STREAM, Some(at), "file name is not UTF-8"))?;
        let mut lb = [0u8; 8];
        lb.copy_from_slice(&eh[2 + name_len..]);
        let len = u64::from_le_bytes(lb);
        let kind = filename::parse(name);
        if !matches!(
            kind,
            FileKind::Table(_) | FileKind::Wal(_) | FileKind::Manifest(_)
        ) || cairn_vfs::check_name(name).is_err()
            || written.iter().any(|w| w == name)
        {
            return Err(Error::corruption(
                STREAM,
                Some(at),
                format!("entry {name:?} is not a file this engine writes, or comes twice"),
            ));
        }
        saw_manifest |= kind == FileKind::Manifest(manifest);
        let file = dest.create(name)?;
        written.push(String::from(name));
        let mut h = cairn_vfs::crc32::Hasher::new();
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(CHUNK as u64) as usize;
            buf.resize(n, 0);
            r.take(&mut buf)?;
            h.update(&buf);
            file.write_at(off, &buf)?;
            off += n as u64;
        }
        let at_crc = r.offset;
        if r.u32_at()? != h.finalize() {
            return Err(Error::corruption(
                STREAM,
                Some(at_crc),
                format!("content of {name}: checksum mismatch"),
            ));
        }
        file.sync()?;
    }
    let at = r.offset;
    let mut trailer = [0u8; 16];
    r.take(&mut trailer)?;
    let count = u32::from_le_bytes([trailer[8], trailer[9], trailer[10], trailer[11]]);
    let crc = u32::from_le_bytes([trailer[12], trailer[13], trailer[14], trailer[15]]);
    if &trailer[..8] != TRAILER_MAGIC || count != files {
        return Err(Error::corruption(STREAM, Some(at), "bad trailer"));
    }
    r.check(at, &trailer[..12], crc, "trailer")?;
    if !saw_manifest {
        return Err(Error::corruption(
            STREAM,
            Some(at),
            format!("the backup names manifest {manifest} but does not hold it"),
        ));
    }
    let mut rest = [0u8; 1];
    if r.src.read(&mut rest)? != 0 {
        return Err(Error::corruption(
            STREAM,
            Some(r.offset),
            "bytes after the trailer",
        ));
    }
    dest.sync_dir()?;
    // Last: the pointer that makes the directory a database (removed too if it fails).
    written.extend([String::from(current::SLOT_A), String::from(current::SLOT_B)]);
    current::create(dest, manifest)?;
    Ok(BackupReport {
        sequence,
        files: u64::from(files),
        stream_bytes: r.offset,
    })
}
