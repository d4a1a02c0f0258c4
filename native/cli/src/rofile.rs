//! A read-only [`cairn_vfs::File`] over any path, for the inspection commands.
//!
//! Writes fail; `truncate` (which WAL recovery calls to drop a torn tail) only records the
//! offset (recovery reports the torn tail itself), so inspecting a database never changes it. Works on POSIX and WASI.

use cairn_vfs::{Error, ErrorKind, File, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A file opened read-only.
#[derive(Debug)]
pub struct RoFile {
    path: PathBuf,
    #[cfg(unix)]
    file: fs::File,
    #[cfg(not(unix))]
    file: Mutex<fs::File>,
    len: u64,
    truncated_at: Mutex<Option<u64>>,
}

impl RoFile {
    /// Opens `path` for reading.
    pub fn open(path: &Path) -> std::io::Result<RoFile> {
        let file = fs::File::open(path)?;
        let len = file.metadata()?.len();
        Ok(RoFile {
            path: path.to_path_buf(),
            #[cfg(unix)]
            file,
            #[cfg(not(unix))]
            file: Mutex::new(file),
            len,
            truncated_at: Mutex::new(None),
        })
    }

    fn io_err(&self, what: &str, e: std::io::Error) -> Error {
        let kind = match e.kind() {
            std::io::ErrorKind::UnexpectedEof => ErrorKind::UnexpectedEof,
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Io,
        };
        Error::new(kind, format!("{what} {}: {e}", self.path.display()))
    }
}

impl File for RoFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.len) {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at {offset} past the end of {} ({} bytes)",
                    buf.len(),
                    self.path.display(),
                    self.len
                ),
            ));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            self.file
                .read_exact_at(buf, offset)
                .map_err(|e| self.io_err("read", e))
        }
        #[cfg(not(unix))]
        {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
            f.seek(SeekFrom::Start(offset))
                .and_then(|_| f.read_exact(buf))
                .map_err(|e| self.io_err("read", e))
        }
    }

    fn write_at(&self, _offset: u64, _data: &[u8]) -> Result<()> {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("{} is opened read-only", self.path.display()),
        ))
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn truncate(&self, len: u64) -> Result<()> {
        *self.truncated_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(len);
        Ok(())
    }

    fn len(&self) -> Result<u64> {
        Ok(self.len)
    }
}
