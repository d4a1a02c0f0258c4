//! [`HostVfs`]: a [`Vfs`] over a directory of real files that the JS host gives the engine,
//! one file per logical file, under the same names as natively (so a database written here
//! opens with the native `cairn` crate and the reverse).
//!
//! The host is a JS object with four methods (`wasm/js/node.js` implements them over
//! `node:fs`, for Node, Deno, Bun and Electron):
//! - `read(fd, buf, pos)`: reads into `buf` at `pos` until it is full or the file ends;
//!   returns the bytes read;
//! - `write(fd, data, pos)`: writes all of `data` at `pos`;
//! - `op(code, fd, arg)`: [`SYNC`] (fdatasync `fd`), [`TRUNCATE`] (`fd` to `arg` bytes),
//!   [`SIZE`] (returns the length of `fd`), [`CLOSE`], [`SYNC_DIR`] (fsync the directory),
//!   [`LOCK`] / [`UNLOCK`] (the directory's exclusive lock);
//! - `path(code, name)`: [`CREATE`] (exclusively; returns an fd), [`OPEN`] (read-write;
//!   returns an fd), [`REMOVE`], [`EXISTS`] (returns a boolean), [`LIST`] (returns the names
//!   of the regular files).
//!
//! A method fails by throwing; the `code` property of what it throws picks the error kind
//! (`ENOENT` → `NotFound`, `EEXIST` → `AlreadyExists`, `ENOSPC`/`EDQUOT` → `NoSpace`,
//! `LOCKED` → `Locked`, anything else → `Io`), as Node's `fs` errors carry them.
//!
//! Durability is the host's: `sync` must reach stable storage (fdatasync) and `sync_dir` must
//! make creates and removes durable, as [`cairn_vfs::StdVfs`] does natively.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::{check_name, Error, ErrorKind, File, LockGuard, Result, Vfs};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// `op` code: fdatasync the file.
pub const SYNC: u32 = 0;
/// `op` code: truncate (or extend) the file to `arg` bytes.
pub const TRUNCATE: u32 = 1;
/// `op` code: the length of the file.
pub const SIZE: u32 = 2;
/// `op` code: close the file.
pub const CLOSE: u32 = 3;
/// `op` code: fsync the directory.
pub const SYNC_DIR: u32 = 4;
/// `op` code: take the directory's exclusive lock.
pub const LOCK: u32 = 5;
/// `op` code: release the directory's lock.
pub const UNLOCK: u32 = 6;
/// `path` code: create a new file (fails when it exists).
pub const CREATE: u32 = 0;
/// `path` code: open an existing file for reading and writing.
pub const OPEN: u32 = 1;
/// `path` code: remove a file.
pub const REMOVE: u32 = 2;
/// `path` code: whether a file exists.
pub const EXISTS: u32 = 3;
/// `path` code: the names of the files.
pub const LIST: u32 = 4;

#[wasm_bindgen]
extern "C" {
    /// The JS object a [`HostVfs`] calls (see the module docs).
    #[derive(Clone, Debug)]
    pub type Host;
    #[wasm_bindgen(method, catch)]
    fn read(this: &Host, fd: f64, buf: &mut [u8], pos: f64) -> core::result::Result<f64, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn write(this: &Host, fd: f64, data: &[u8], pos: f64) -> core::result::Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn op(this: &Host, code: u32, fd: f64, arg: f64) -> core::result::Result<f64, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn path(this: &Host, code: u32, name: &str) -> core::result::Result<JsValue, JsValue>;
}

/// A Vfs error from what the host threw: the kind from its `code`, the context its message
/// (Node's name the call and the path: `ENOENT: no such file or directory, open '/db/000007.sst'`).
fn error(e: JsValue) -> Error {
    let code = js_sys::Reflect::get(&e, &JsValue::from_str("code"))
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_default();
    let kind = match code.as_str() {
        "ENOENT" => ErrorKind::NotFound,
        "EEXIST" => ErrorKind::AlreadyExists,
        "ENOSPC" | "EDQUOT" => ErrorKind::NoSpace,
        "LOCKED" => ErrorKind::Locked,
        _ => ErrorKind::Io,
    };
    let message = match e.dyn_ref::<js_sys::Error>() {
        Some(e) => String::from(e.message()),
        None => String::from("host file system error"),
    };
    Error::new(kind, message)
}

/// A directory of files served by a JS [`Host`].
#[derive(Clone, Debug)]
pub struct HostVfs {
    host: Host,
}

// SAFETY: `Host` is a JS object, neither Send nor Sync; cairn-wasm only builds for
// single-threaded wasm32 (lib.rs refuses `+atomics`), so no second thread can exist to share it
// with, exactly as for the OPFS handles (opfs.rs).
unsafe impl Send for HostVfs {}
// SAFETY: as for Send above.
unsafe impl Sync for HostVfs {}

impl HostVfs {
    /// A Vfs over the directory `host` serves.
    pub fn new(host: Host) -> HostVfs {
        HostVfs { host }
    }

    fn path(&self, code: u32, name: &str) -> Result<JsValue> {
        check_name(name)?;
        self.host.path(code, name).map_err(error)
    }

    fn file(&self, code: u32, name: &str) -> Result<Arc<HostFile>> {
        let fd = self.path(code, name)?.as_f64().unwrap_or(-1.0);
        Ok(Arc::new(HostFile {
            vfs: self.clone(),
            fd,
        }))
    }

    fn op(&self, code: u32, fd: f64, arg: f64) -> Result<f64> {
        self.host.op(code, fd, arg).map_err(error)
    }
}

impl Vfs for HostVfs {
    type File = HostFile;

    fn create(&self, name: &str) -> Result<Arc<HostFile>> {
        self.file(CREATE, name)
    }

    fn open(&self, name: &str) -> Result<Arc<HostFile>> {
        self.file(OPEN, name)
    }

    fn remove(&self, name: &str) -> Result<()> {
        self.path(REMOVE, name).map(drop)
    }

    fn list(&self) -> Result<Vec<String>> {
        let names = self.host.path(LIST, "").map_err(error)?;
        Ok(js_sys::Array::from(&names)
            .iter()
            .filter_map(|n| n.as_string())
            .collect())
    }

    fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.path(EXISTS, name)?.is_truthy())
    }

    fn sync_dir(&self) -> Result<()> {
        self.op(SYNC_DIR, 0.0, 0.0).map(drop)
    }

    /// Takes the host's directory lock (`wasm/js/node.js`: the lock file `LOCK.node`); the
    /// guard releases it.
    fn lock(&self) -> Result<LockGuard> {
        self.op(LOCK, 0.0, 0.0)?;
        let vfs = self.clone();
        Ok(LockGuard::new(move || {
            let _ = vfs.op(UNLOCK, 0.0, 0.0);
        }))
    }
}

/// An open file of a [`HostVfs`] (closed on drop).
pub struct HostFile {
    vfs: HostVfs,
    fd: f64,
}

impl Drop for HostFile {
    fn drop(&mut self) {
        let _ = self.vfs.op(CLOSE, self.fd, 0.0);
    }
}

impl File for HostFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let got = self
            .vfs
            .host
            .read(self.fd, buf, offset as f64)
            .map_err(error)?;
        if got as usize != buf.len() {
            return Err(Error::new(ErrorKind::UnexpectedEof, "read past the end"));
        }
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.vfs
            .host
            .write(self.fd, data, offset as f64)
            .map_err(error)
    }

    fn sync(&self) -> Result<()> {
        self.vfs.op(SYNC, self.fd, 0.0).map(drop)
    }

    fn truncate(&self, len: u64) -> Result<()> {
        self.vfs.op(TRUNCATE, self.fd, len as f64).map(drop)
    }

    fn len(&self) -> Result<u64> {
        Ok(self.vfs.op(SIZE, self.fd, 0.0)? as u64)
    }
}
