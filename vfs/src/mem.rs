//! An in-memory VFS: every file is a byte vector, every operation is durable at once.
//!
//! Cloning a `MemVfs` gives another handle to the same directory, which is how tests
//! "reopen" an in-memory database.

use crate::{check_name, Error, ErrorKind, File, LockGuard, Result, Vfs};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use hashbrown_free::Map;
use spin::Mutex;

mod hashbrown_free {
    //! The VFS crate does not depend on hashbrown; a BTreeMap is plenty for a directory.
    pub type Map<K, V> = alloc::collections::BTreeMap<K, V>;
}

/// One in-memory file.
#[derive(Debug, Default)]
pub struct MemFile {
    data: Mutex<Vec<u8>>,
}

impl MemFile {
    /// A copy of the file's bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        self.data.lock().clone()
    }
}

impl File for MemFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let data = self.data.lock();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.checked_add(buf.len());
        match end {
            Some(end) if end <= data.len() => {
                buf.copy_from_slice(&data[start..end]);
                Ok(())
            }
            _ => Err(Error::new(
                ErrorKind::UnexpectedEof,
                alloc::format!(
                    "read of {} bytes at {offset} past end {}",
                    buf.len(),
                    data.len()
                ),
            )),
        }
    }

    fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        let mut data = self.data.lock();
        let start = usize::try_from(offset)
            .map_err(|_| Error::new(ErrorKind::NoSpace, "offset beyond address space"))?;
        let end = start
            .checked_add(bytes.len())
            .ok_or_else(|| Error::new(ErrorKind::NoSpace, "offset beyond address space"))?;
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(bytes);
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn truncate(&self, len: u64) -> Result<()> {
        let len = usize::try_from(len)
            .map_err(|_| Error::new(ErrorKind::NoSpace, "length beyond address space"))?;
        self.data.lock().resize(len, 0);
        Ok(())
    }

    fn len(&self) -> Result<u64> {
        Ok(self.data.lock().len() as u64)
    }
}

#[derive(Debug, Default)]
struct Inner {
    files: Mutex<Map<String, Arc<MemFile>>>,
    locked: Arc<AtomicBool>,
}

/// An in-memory directory. Clones share the same files.
#[derive(Debug, Clone, Default)]
pub struct MemVfs {
    inner: Arc<Inner>,
}

impl MemVfs {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total bytes held by all files.
    pub fn total_bytes(&self) -> u64 {
        let files = self.inner.files.lock();
        files.values().map(|f| f.data.lock().len() as u64).sum()
    }

    /// Replaces (or creates) a file with the given bytes; for tests that corrupt files.
    pub fn put_file(&self, name: &str, bytes: Vec<u8>) {
        let file = Arc::new(MemFile {
            data: Mutex::new(bytes),
        });
        self.inner.files.lock().insert(String::from(name), file);
    }
}

impl Vfs for MemVfs {
    type File = MemFile;

    fn create(&self, name: &str) -> Result<Arc<MemFile>> {
        check_name(name)?;
        let mut files = self.inner.files.lock();
        if files.contains_key(name) {
            return Err(Error::new(ErrorKind::AlreadyExists, name));
        }
        let file = Arc::new(MemFile::default());
        files.insert(String::from(name), file.clone());
        Ok(file)
    }

    fn open(&self, name: &str) -> Result<Arc<MemFile>> {
        check_name(name)?;
        self.inner
            .files
            .lock()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::NotFound, name))
    }

    fn remove(&self, name: &str) -> Result<()> {
        check_name(name)?;
        self.inner
            .files
            .lock()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| Error::new(ErrorKind::NotFound, name))
    }

    fn list(&self) -> Result<Vec<String>> {
        Ok(self.inner.files.lock().keys().cloned().collect())
    }

    fn exists(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        Ok(self.inner.files.lock().contains_key(name))
    }

    fn sync_dir(&self) -> Result<()> {
        Ok(())
    }

    fn lock(&self) -> Result<LockGuard> {
        let flag = self.inner.locked.clone();
        if flag
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::new(ErrorKind::Locked, "in-memory database is open"));
        }
        Ok(LockGuard::new(move || flag.store(false, Ordering::Release)))
    }
}
