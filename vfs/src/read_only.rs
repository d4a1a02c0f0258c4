//! A read-only view of any [`Vfs`]: reads pass through, every mutation is refused.
//!
//! [`ReadOnlyVfs`] is what a read-only open of a database runs on, and what inspection tools
//! use, so that looking at a database can never change it — not even by accident in a code
//! path that was meant for the writer. Every operation that could change the directory or a
//! file fails with [`ErrorKind::ReadOnly`] before reaching the wrapped VFS:
//!
//! - on the directory: [`Vfs::create`], [`Vfs::remove`], [`Vfs::sync_dir`] and [`Vfs::lock`]
//!   (a reader takes no exclusive lock, so it can look at a database another process holds
//!   open for writing); the current-pointer switch ([`crate::current::switch`]) and creation
//!   fail through them;
//! - on a file: [`File::write_at`], [`File::truncate`] and [`File::sync`] (nothing written
//!   through this VFS, so a sync is always a bug in the caller).
//!
//! Files are opened through [`Vfs::open_read`], so [`crate::StdVfs`] opens them without
//! write access and a database on a read-only mount or owned by another user can be read.
//!
//! A reader can [`ReadOnlyVfs::pin`] the files it depends on: a pinned file is served from
//! the handle opened first, even after a writer in another process removed it (POSIX and WASI
//! keep an open file readable after it is unlinked; [`crate::MemVfs`] keeps its bytes while
//! a handle lives). That is how a read-only open keeps the state as of its open while the
//! writer compacts and removes tables.

use crate::{Error, ErrorKind, File, LockGuard, Result, Vfs};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

type Pinned<F> = Arc<spin::Mutex<BTreeMap<String, Arc<ReadOnlyFile<F>>>>>;

/// Wraps a VFS so that reads pass through and every mutation fails with
/// [`ErrorKind::ReadOnly`]. Clones share their pinned files.
pub struct ReadOnlyVfs<V: Vfs> {
    inner: V,
    pinned: Pinned<V::File>,
}

impl<V: Vfs + Clone> Clone for ReadOnlyVfs<V> {
    fn clone(&self) -> Self {
        ReadOnlyVfs {
            inner: self.inner.clone(),
            pinned: self.pinned.clone(),
        }
    }
}

impl<V: Vfs + fmt::Debug> fmt::Debug for ReadOnlyVfs<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadOnlyVfs")
            .field("inner", &self.inner)
            .field("pinned", &self.pinned.lock().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<V: Vfs> ReadOnlyVfs<V> {
    /// A read-only view of `inner`.
    pub fn new(inner: V) -> Self {
        ReadOnlyVfs {
            inner,
            pinned: Arc::new(spin::Mutex::new(BTreeMap::new())),
        }
    }

    /// Keeps serving `file` (opened through this view) for `name` from now on, even after the
    /// wrapped VFS no longer has it.
    pub fn pin(&self, name: &str, file: Arc<ReadOnlyFile<V::File>>) {
        self.pinned.lock().insert(String::from(name), file);
    }

    /// Forgets every pinned file.
    pub fn unpin_all(&self) {
        self.pinned.lock().clear();
    }

    /// The wrapped VFS.
    pub fn inner(&self) -> &V {
        &self.inner
    }

    /// Unwraps the view.
    pub fn into_inner(self) -> V {
        self.inner
    }
}

fn refused(what: &str, name: &str) -> Error {
    Error::new(
        ErrorKind::ReadOnly,
        format!("{what} {name}: the database is open read-only"),
    )
}

/// A file opened through a [`ReadOnlyVfs`].
#[derive(Debug)]
pub struct ReadOnlyFile<F> {
    inner: Arc<F>,
    name: String,
}

impl<F: File> ReadOnlyFile<F> {
    /// The name the file was opened under.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<F: File> File for ReadOnlyFile<F> {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.inner.read_exact_at(offset, buf)
    }

    fn write_at(&self, _offset: u64, _data: &[u8]) -> Result<()> {
        Err(refused("write to", &self.name))
    }

    fn sync(&self) -> Result<()> {
        Err(refused("sync of", &self.name))
    }

    fn truncate(&self, _len: u64) -> Result<()> {
        Err(refused("truncate of", &self.name))
    }

    fn len(&self) -> Result<u64> {
        self.inner.len()
    }

    fn read_all(&self) -> Result<Vec<u8>> {
        self.inner.read_all()
    }
}

impl<V: Vfs> Vfs for ReadOnlyVfs<V> {
    type File = ReadOnlyFile<V::File>;

    fn create(&self, name: &str) -> Result<Arc<Self::File>> {
        Err(refused("create", name))
    }

    fn open(&self, name: &str) -> Result<Arc<Self::File>> {
        self.open_read(name)
    }

    fn open_read(&self, name: &str) -> Result<Arc<Self::File>> {
        if let Some(f) = self.pinned.lock().get(name) {
            return Ok(f.clone());
        }
        let inner = self.inner.open_read(name)?;
        Ok(Arc::new(ReadOnlyFile {
            inner,
            name: String::from(name),
        }))
    }

    fn remove(&self, name: &str) -> Result<()> {
        Err(refused("remove", name))
    }

    fn list(&self) -> Result<Vec<String>> {
        self.inner.list()
    }

    fn exists(&self, name: &str) -> Result<bool> {
        if self.pinned.lock().contains_key(name) {
            return Ok(true);
        }
        self.inner.exists(name)
    }

    fn sync_dir(&self) -> Result<()> {
        Err(refused("sync of", "the directory"))
    }

    fn lock(&self) -> Result<LockGuard> {
        Err(refused("lock of", "the directory"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{current, MemVfs};
    use alloc::collections::BTreeMap;
    use alloc::vec;

    fn contents(vfs: &MemVfs) -> BTreeMap<String, Vec<u8>> {
        let mut m = BTreeMap::new();
        for name in vfs.list().expect("list") {
            let bytes = vfs.open(&name).expect("open").read_all().expect("read");
            m.insert(name, bytes);
        }
        m
    }

    #[test]
    fn reads_pass_through_and_every_mutation_is_refused() {
        let mem = MemVfs::new();
        mem.put_file("000001.wal", b"hello world".to_vec());
        let cur = current::create(&mem, 7).expect("current");
        let before = contents(&mem);
        let ro = ReadOnlyVfs::new(mem.clone());

        // Reads.
        let mut names = ro.list().expect("list");
        names.sort();
        assert_eq!(names, vec!["000001.wal", "CURRENT-A", "CURRENT-B"]);
        assert!(ro.exists("000001.wal").expect("exists"));
        assert!(!ro.exists("000002.wal").expect("exists"));
        let f = ro.open("000001.wal").expect("open");
        assert_eq!(f.len().expect("len"), 11);
        let mut buf = [0u8; 5];
        f.read_exact_at(6, &mut buf).expect("read");
        assert_eq!(&buf, b"world");
        assert_eq!(f.read_all().expect("read_all"), b"hello world");
        assert_eq!(
            f.read_exact_at(8, &mut buf).map_err(|e| e.kind()),
            Err(ErrorKind::UnexpectedEof)
        );
        assert_eq!(
            ro.open("000002.wal").map(|_| ()).map_err(|e| e.kind()),
            Err(ErrorKind::NotFound)
        );
        assert_eq!(current::read(&ro).expect("read current").manifest, 7);

        // Mutations: each one fails with ReadOnly.
        let kind = |r: Result<()>| r.map_err(|e| e.kind());
        let ro_err = Err(ErrorKind::ReadOnly);
        assert_eq!(kind(f.write_at(0, b"x")), ro_err);
        assert_eq!(kind(f.write_at(100, b"x")), ro_err);
        assert_eq!(kind(f.truncate(0)), ro_err);
        assert_eq!(kind(f.truncate(100)), ro_err);
        assert_eq!(kind(f.sync()), ro_err);
        assert_eq!(kind(ro.create("000003.sst").map(|_| ())), ro_err);
        assert_eq!(kind(ro.create("000001.wal").map(|_| ())), ro_err);
        assert_eq!(kind(ro.remove("000001.wal")), ro_err);
        assert_eq!(kind(ro.remove("missing")), ro_err);
        assert_eq!(kind(ro.sync_dir()), ro_err);
        assert_eq!(kind(ro.lock().map(|_| ())), ro_err);
        assert_eq!(kind(current::switch(&ro, &cur, 8).map(|_| ())), ro_err);
        assert_eq!(kind(current::create(&ro, 9).map(|_| ())), ro_err);

        // Not one byte changed, no file added or removed.
        assert_eq!(contents(&mem), before);
        // The wrapped VFS is still writable, and the view sees its changes.
        mem.put_file("000004.sst", vec![1, 2, 3]);
        assert!(ro.exists("000004.sst").expect("exists"));
        assert_eq!(ro.into_inner().list().expect("list").len(), 4);
    }

    #[test]
    fn pinned_files_outlive_their_removal() {
        let mem = MemVfs::new();
        mem.put_file("000005.sst", b"table".to_vec());
        let ro = ReadOnlyVfs::new(mem.clone());
        let f = ro.open("000005.sst").expect("open");
        ro.clone().pin("000005.sst", f);
        mem.remove("000005.sst").expect("writer removes it");
        assert!(ro.exists("000005.sst").expect("exists"));
        let again = ro.open("000005.sst").expect("served from the pin");
        assert_eq!(again.read_all().expect("read"), b"table");
        ro.unpin_all();
        assert_eq!(
            ro.open("000005.sst").map(|_| ()).map_err(|e| e.kind()),
            Err(ErrorKind::NotFound)
        );
    }

    #[test]
    fn readers_do_not_take_the_lock() {
        let mem = MemVfs::new();
        let _writer = mem.lock().expect("writer lock");
        let ro = ReadOnlyVfs::new(mem.clone());
        // Reading works while a writer holds the lock; the view itself never locks.
        assert!(ro.list().expect("list").is_empty());
        assert_eq!(
            ro.lock().map(|_| ()).map_err(|e| e.kind()),
            Err(ErrorKind::ReadOnly)
        );
    }
}
