//! `std::fs` VFS for POSIX systems and WASI.
//!
//! - `sync` is `File::sync_data` (`fdatasync` on Linux, `fd_datasync` on WASI).
//! - `sync_dir` opens the directory and fsyncs it, so creates and removes are durable; WASI
//!   runtimes may refuse to sync a directory (Wasmtime returns `EBADF`), and there it is
//!   best-effort (see docs/DURABILITY.md).
//! - `lock` takes an exclusive `flock` on the file `LOCK` (another process gets `Locked`) and
//!   also records the directory in a process-wide table, which is what guards a second open in
//!   the same process on WASI, where there is no `flock`.

use crate::{check_name, Error, ErrorKind, File, LockGuard, Result, Vfs};
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn map_err(e: io::Error, what: &str, path: &Path) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        io::ErrorKind::UnexpectedEof => ErrorKind::UnexpectedEof,
        io::ErrorKind::StorageFull => ErrorKind::NoSpace,
        io::ErrorKind::WouldBlock => ErrorKind::Locked,
        io::ErrorKind::Unsupported => ErrorKind::Unsupported,
        _ => ErrorKind::Io,
    };
    Error::new(kind, alloc::format!("{what} {}: {e}", path.display()))
}

/// A file of a [`StdVfs`].
#[derive(Debug)]
pub struct StdFile {
    path: PathBuf,
    #[cfg(unix)]
    file: fs::File,
    #[cfg(not(unix))]
    file: Mutex<fs::File>,
}

impl File for StdFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            self.file
                .read_exact_at(buf, offset)
                .map_err(|e| map_err(e, "read", &self.path))
        }
        #[cfg(not(unix))]
        {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = self.file.lock().map_err(|_| poisoned(&self.path))?;
            f.seek(SeekFrom::Start(offset))
                .and_then(|_| f.read_exact(buf))
                .map_err(|e| map_err(e, "read", &self.path))
        }
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            self.file
                .write_all_at(data, offset)
                .map_err(|e| map_err(e, "write", &self.path))
        }
        #[cfg(not(unix))]
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = self.file.lock().map_err(|_| poisoned(&self.path))?;
            f.seek(SeekFrom::Start(offset))
                .and_then(|_| f.write_all(data))
                .map_err(|e| map_err(e, "write", &self.path))
        }
    }

    fn sync(&self) -> Result<()> {
        self.with(|f| f.sync_data())
            .map_err(|e| map_err(e, "sync", &self.path))
    }

    fn truncate(&self, len: u64) -> Result<()> {
        self.with(|f| f.set_len(len))
            .map_err(|e| map_err(e, "truncate", &self.path))
    }

    fn len(&self) -> Result<u64> {
        self.with(|f| f.metadata().map(|m| m.len()))
            .map_err(|e| map_err(e, "stat", &self.path))
    }
}

impl StdFile {
    #[cfg(unix)]
    fn with<T>(&self, op: impl FnOnce(&fs::File) -> io::Result<T>) -> io::Result<T> {
        op(&self.file)
    }
    #[cfg(not(unix))]
    fn with<T>(&self, op: impl FnOnce(&fs::File) -> io::Result<T>) -> io::Result<T> {
        let f = self
            .file
            .lock()
            .map_err(|_| io::Error::other("file mutex poisoned"))?;
        op(&f)
    }
}

#[cfg(not(unix))]
fn poisoned(path: &Path) -> Error {
    Error::new(
        ErrorKind::Io,
        alloc::format!("file mutex poisoned: {}", path.display()),
    )
}

/// Directories locked by this process.
static LOCKED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// A directory on the local file system (POSIX or WASI).
#[derive(Debug, Clone)]
pub struct StdVfs {
    dir: PathBuf,
}

impl StdVfs {
    /// Uses `dir` as the database directory, creating it (and its parents) if needed.
    pub fn new(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| map_err(e, "create directory", &dir))?;
        Ok(StdVfs { dir })
    }

    /// Uses an existing directory; `NotFound` if it does not exist.
    pub fn existing(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let meta = fs::metadata(&dir).map_err(|e| map_err(e, "open directory", &dir))?;
        if !meta.is_dir() {
            return Err(Error::new(
                ErrorKind::NotFound,
                alloc::format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(StdVfs { dir })
    }

    /// The directory this VFS serves.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.dir.join(name))
    }

    fn open_with(&self, name: &str, create: bool, write: bool) -> Result<Arc<StdFile>> {
        let path = self.path(name)?;
        let mut opts = fs::OpenOptions::new();
        opts.read(true).write(write);
        if create {
            opts.create_new(true);
        }
        let file = opts
            .open(&path)
            .map_err(|e| map_err(e, if create { "create" } else { "open" }, &path))?;
        Ok(Arc::new(StdFile {
            path,
            #[cfg(unix)]
            file,
            #[cfg(not(unix))]
            file: Mutex::new(file),
        }))
    }
}

impl Vfs for StdVfs {
    type File = StdFile;

    fn create(&self, name: &str) -> Result<Arc<StdFile>> {
        self.open_with(name, true, true)
    }

    fn open(&self, name: &str) -> Result<Arc<StdFile>> {
        self.open_with(name, false, true)
    }

    fn open_read(&self, name: &str) -> Result<Arc<StdFile>> {
        self.open_with(name, false, false)
    }

    fn remove(&self, name: &str) -> Result<()> {
        let path = self.path(name)?;
        fs::remove_file(&path).map_err(|e| map_err(e, "remove", &path))
    }

    fn list(&self) -> Result<Vec<String>> {
        let rd = fs::read_dir(&self.dir).map_err(|e| map_err(e, "list", &self.dir))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| map_err(e, "list", &self.dir))?;
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                if let Some(name) = entry.file_name().to_str() {
                    out.push(name.to_string());
                }
            }
        }
        Ok(out)
    }

    fn exists(&self, name: &str) -> Result<bool> {
        let path = self.path(name)?;
        match fs::metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(map_err(e, "stat", &path)),
        }
    }

    fn sync_dir(&self) -> Result<()> {
        let dir = match fs::File::open(&self.dir) {
            Ok(d) => d,
            Err(e) if cfg!(target_os = "wasi") => {
                let _ = e; // best-effort on WASI: see the module docs
                return Ok(());
            }
            Err(e) => return Err(map_err(e, "open directory", &self.dir)),
        };
        match dir.sync_all() {
            Ok(()) => Ok(()),
            Err(_) if cfg!(target_os = "wasi") => Ok(()),
            Err(e) => Err(map_err(e, "sync directory", &self.dir)),
        }
    }

    fn lock(&self) -> Result<LockGuard> {
        let key = fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        {
            let mut locked = LOCKED
                .lock()
                .map_err(|_| Error::new(ErrorKind::Io, "lock table poisoned"))?;
            let set = locked.get_or_insert_with(HashSet::new);
            if !set.insert(key.clone()) {
                return Err(Error::new(
                    ErrorKind::Locked,
                    alloc::format!("{} is open in this process", self.dir.display()),
                ));
            }
        }
        let unregister = {
            let key = key.clone();
            move || {
                if let Ok(mut locked) = LOCKED.lock() {
                    if let Some(set) = locked.as_mut() {
                        set.remove(&key);
                    }
                }
            }
        };
        let path = self.dir.join("LOCK");
        let file = match fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) => {
                unregister();
                return Err(map_err(e, "open lock file", &path));
            }
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                unregister();
                return Err(Error::new(
                    ErrorKind::Locked,
                    alloc::format!("{} is locked by another process", self.dir.display()),
                ));
            }
            // No file locks on this platform (WASI): the process-wide table is the lock.
            Err(fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {}
            Err(fs::TryLockError::Error(e)) => {
                unregister();
                return Err(map_err(e, "lock", &path));
            }
        }
        Ok(LockGuard::new(move || {
            let _ = file.unlock();
            drop(file);
            unregister();
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_vfs_conforms() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vfs = StdVfs::new(dir.path()).expect("vfs");
        assert_eq!(crate::conformance::run(&vfs), Ok(6));
    }

    #[cfg(unix)]
    #[test]
    fn read_only_view_of_a_directory_without_write_permission() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let vfs = StdVfs::new(dir.path()).expect("vfs");
        let f = vfs.create("000001.sst").expect("create");
        f.write_at(0, b"table bytes").expect("write");
        drop(f);
        let path = dir.path().join("000001.sst");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).expect("chmod");
        let ro = crate::ReadOnlyVfs::new(StdVfs::existing(dir.path()).expect("existing"));
        let f = ro
            .open("000001.sst")
            .expect("open a file without write permission");
        assert_eq!(f.read_all().expect("read"), b"table bytes");
        assert_eq!(
            f.write_at(0, b"x").map_err(|e| e.kind()),
            Err(ErrorKind::ReadOnly)
        );
        assert_eq!(
            ro.lock().map(|_| ()).map_err(|e| e.kind()),
            Err(ErrorKind::ReadOnly)
        );
        assert!(
            !dir.path().join("LOCK").exists(),
            "a reader creates no LOCK file"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod back");
    }

    #[test]
    fn lock_excludes_a_second_vfs_on_the_same_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = StdVfs::new(dir.path()).expect("vfs");
        let b = StdVfs::new(dir.path().join(".").as_path()).expect("vfs");
        let g = a.lock().expect("lock");
        assert_eq!(
            b.lock().map(|_| ()).map_err(|e| e.kind()),
            Err(ErrorKind::Locked)
        );
        drop(g);
        b.lock().expect("lock after release");
    }
}
