//! [`OpfsVfs`]: a [`Vfs`] over a pool of pre-opened OPFS `FileSystemSyncAccessHandle`s.
//!
//! # Layout
//! A database is one OPFS directory (a child of `navigator.storage.getDirectory()`) holding
//! - `lock`: an empty file whose sync access handle is held while mounted; and
//! - pool files `p-0000`, `p-0001`, ..., each starting with the header described in
//!   [`crate::header`]. A pool file with a zero header is free; the others hold one logical
//!   file each, whose bytes follow the header.
//!
//! Other entries in the directory are ignored.
//!
//! # Durability
//! - [`File::sync`] is `FileSystemSyncAccessHandle.flush()`.
//! - [`Vfs::create`] and [`Vfs::remove`] are durable when they return: each writes (or clears)
//!   one header and flushes it, so [`Vfs::sync_dir`] has nothing left to do.
//!
//! # Locking
//! - Across tabs and workers: a sync access handle is an exclusive lock on its file. `mount`
//!   opens a handle on `lock` and on every pool file, so a second mount anywhere (another tab,
//!   another worker, or this worker while the first mount is alive) fails with
//!   [`OpfsErrorKind::Locked`]. The handles are released when the [`OpfsVfs`] and every
//!   [`OpfsFile`] opened through it are dropped.
//! - Within one mount: [`Vfs::lock`] is a flag; a second `lock()` fails with
//!   [`ErrorKind::Locked`] until the first guard is dropped.
//!
//! # Removing open files
//! As on POSIX, a removed file stays readable and writable through handles opened before the
//! removal; its name is gone (durably) at once and its pool file returns to the free list when
//! the last such handle is dropped.
//!
//! # Growing the pool
//! `create` never awaits, so it can only take a pool file that already exists; with none free
//! it fails with [`ErrorKind::NoSpace`]. Call [`OpfsVfs::reserve`] (async) to add pool files
//! ahead of need, e.g. between requests whenever [`OpfsVfs::needs_reserve`] says the free count
//! fell below the low-water mark given to `mount`.

use crate::header::{self, Decoded, HeaderError, FIELDS_LEN, HEADER_LEN};
use alloc::borrow::ToOwned;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::sync::{Arc, Weak};
use alloc::vec;
use alloc::vec::Vec;
use cairn_vfs::{check_name, Error, ErrorKind, File, LockGuard, Result, Vfs};
use core::cell::{Cell, RefCell};
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DomException, FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemGetDirectoryOptions,
    FileSystemGetFileOptions, FileSystemReadWriteOptions, FileSystemRemoveOptions,
    FileSystemSyncAccessHandle, WorkerGlobalScope,
};

/// Name of the file whose sync access handle marks a directory as mounted.
const LOCK_FILE: &str = "lock";
/// Prefix of pool file names; a pool file is the prefix followed by decimal digits.
const POOL_PREFIX: &str = "p-";
/// The largest offset a JS number represents exactly.
const MAX_SAFE: u64 = (1 << 53) - 1;

/// What kind of failure an [`OpfsError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpfsErrorKind {
    /// OPFS or sync access handles are not available here (not a dedicated worker, or an
    /// old browser), or the directory name is invalid.
    Unavailable,
    /// Another tab, worker or mount holds the database's files.
    Locked,
    /// A pool file's header is damaged (bad magic, bad CRC, truncated or bad name).
    CorruptHeader,
    /// A pool file's header has a format version this build does not know.
    UnsupportedVersion,
    /// Two pool files name the same logical file.
    DuplicateName,
    /// The browser's quota is exhausted.
    NoSpace,
    /// Any other failure reported by the browser.
    Js,
}

/// A failure to mount, grow or destroy a pool directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpfsError {
    kind: OpfsErrorKind,
    file: Option<String>,
    message: String,
}

impl OpfsError {
    fn new(kind: OpfsErrorKind, file: Option<&str>, message: impl Into<String>) -> Self {
        OpfsError {
            kind,
            file: file.map(str::to_owned),
            message: message.into(),
        }
    }

    /// Converts a rejection or exception from the browser, naming the `file` involved.
    fn from_js(what: &str, file: Option<&str>, err: &JsValue) -> Self {
        let (name, message) = js_error_parts(err);
        let kind = match name.as_str() {
            "NoModificationAllowedError" => OpfsErrorKind::Locked,
            // WebKit rejects a second createSyncAccessHandle with InvalidStateError.
            "InvalidStateError" if what == "createSyncAccessHandle" => OpfsErrorKind::Locked,
            "QuotaExceededError" => OpfsErrorKind::NoSpace,
            _ => OpfsErrorKind::Js,
        };
        let message = if kind == OpfsErrorKind::Locked {
            format!(
                "{what}: the database is open in another tab, worker or mount ({name}: {message})"
            )
        } else {
            format!("{what}: {name}: {message}")
        };
        OpfsError::new(kind, file, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> OpfsErrorKind {
        self.kind
    }

    /// The OPFS entry involved, when there is one (`p-0003`, `lock`, the directory).
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// A human-readable description.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for OpfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{:?} ({file}): {}", self.kind, self.message),
            None => write!(f, "{:?}: {}", self.kind, self.message),
        }
    }
}

impl core::error::Error for OpfsError {}

impl From<OpfsError> for JsValue {
    /// A JS `Error` whose `name` is `Cairn` + the kind (`CairnLocked`, `CairnCorruptHeader`, ...).
    fn from(e: OpfsError) -> JsValue {
        let err = js_sys::Error::new(&e.to_string());
        err.set_name(&format!("Cairn{:?}", e.kind));
        err.into()
    }
}

impl From<OpfsError> for Error {
    fn from(e: OpfsError) -> Error {
        let kind = match e.kind {
            OpfsErrorKind::Locked => ErrorKind::Locked,
            OpfsErrorKind::NoSpace => ErrorKind::NoSpace,
            OpfsErrorKind::Unavailable => ErrorKind::Unsupported,
            _ => ErrorKind::Io,
        };
        Error::new(kind, e.to_string())
    }
}

/// The `name` and `message` of a JS exception (a `DOMException`, an `Error`, or anything).
fn js_error_parts(err: &JsValue) -> (String, String) {
    if let Some(dom) = err.dyn_ref::<DomException>() {
        return (dom.name(), dom.message());
    }
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        return (String::from(e.name()), String::from(e.message()));
    }
    (String::from("Error"), format!("{err:?}"))
}

/// The message prefix of a Vfs error caused by the browser's storage quota; the bindings turn
/// such an error into the JS code `QUOTA`.
pub const QUOTA_PREFIX: &str = "OPFS quota exceeded: ";

/// The message prefix of a Vfs error caused by a file that vanished under an open handle (the
/// browser cleared the origin's storage); the bindings turn it into the JS code `EVICTED`.
pub const EVICTED_PREFIX: &str = "OPFS storage evicted by the browser: ";

/// A Vfs error from a failed sync-handle call. `stale` is the mount's flag, set when the
/// browser closed the handle under us (`InvalidStateError`): the mount must be redone.
fn vfs_error(what: &str, name: &str, err: &JsValue, stale: &Cell<bool>) -> Error {
    let (js_name, message) = js_error_parts(err);
    match js_name.as_str() {
        "QuotaExceededError" => Error::new(
            ErrorKind::NoSpace,
            format!("{QUOTA_PREFIX}{what} {name}: {js_name}: {message}"),
        ),
        "NotFoundError" => Error::new(
            ErrorKind::NotFound,
            format!("{EVICTED_PREFIX}{what} {name}: {js_name}: {message}"),
        ),
        "InvalidStateError" => {
            stale.set(true);
            Error::new(
                ErrorKind::Io,
                format!("{what} {name}: stale OPFS handle (closed by the browser): {message}"),
            )
        }
        _ => Error::new(
            ErrorKind::Io,
            format!("{what} {name}: {js_name}: {message}"),
        ),
    }
}

/// Sync access handles open in this worker (all mounts), and the most ever open at once.
/// Safari allows about 252 per origin; see [`DEFAULT_MAX_HANDLES`]. (Statics rather than a
/// thread-local: the crate is `no_std` in the browser build, and a worker is one thread.)
static HANDLES_OPEN: AtomicUsize = AtomicUsize::new(0);
static HANDLES_PEAK: AtomicUsize = AtomicUsize::new(0);

/// Sync access handles open in this worker now, over all mounts.
pub fn open_handles() -> usize {
    HANDLES_OPEN.load(Ordering::Relaxed)
}

/// The most sync access handles open at once in this worker since it started.
pub fn peak_handles() -> usize {
    HANDLES_PEAK.load(Ordering::Relaxed)
}

fn count_handle(opened: bool) {
    let n = open_handles();
    let n = if opened { n + 1 } else { n.saturating_sub(1) };
    HANDLES_OPEN.store(n, Ordering::Relaxed);
    HANDLES_PEAK.store(peak_handles().max(n), Ordering::Relaxed);
}

/// Default cap on the sync access handles one mount keeps open (the lock file, every used
/// and every free pool file): well under Safari's ~252 per origin, leaving room for a second
/// database or another library in the same origin.
pub const DEFAULT_MAX_HANDLES: usize = 128;

/// Awaits a promise, converting a rejection.
async fn settle(
    promise: js_sys::Promise,
    what: &str,
    file: Option<&str>,
) -> Result<JsValue, OpfsError> {
    JsFuture::from(promise)
        .await
        .map_err(|e| OpfsError::from_js(what, file, &e))
}

fn cast<T: JsCast>(v: JsValue, what: &str, file: Option<&str>) -> Result<T, OpfsError> {
    v.dyn_into::<T>().map_err(|_| {
        OpfsError::new(
            OpfsErrorKind::Unavailable,
            file,
            format!("{what} returned an unexpected type"),
        )
    })
}

/// `navigator.storage.getDirectory()` from the worker's global scope.
async fn opfs_root() -> Result<FileSystemDirectoryHandle, OpfsError> {
    let scope = js_sys::global()
        .dyn_into::<WorkerGlobalScope>()
        .map_err(|_| {
            OpfsError::new(
                OpfsErrorKind::Unavailable,
                None,
                "OpfsVfs must run in a dedicated Web Worker (no WorkerGlobalScope here)",
            )
        })?;
    let storage = scope.navigator().storage();
    let root = settle(
        storage.get_directory(),
        "navigator.storage.getDirectory",
        None,
    )
    .await?;
    cast(root, "navigator.storage.getDirectory", None)
}

async fn open_dir(
    root: &FileSystemDirectoryHandle,
    dir_name: &str,
    create: bool,
) -> Result<FileSystemDirectoryHandle, OpfsError> {
    let opts = FileSystemGetDirectoryOptions::new();
    opts.set_create(create);
    let dir = settle(
        root.get_directory_handle_with_options(dir_name, &opts),
        "getDirectoryHandle",
        Some(dir_name),
    )
    .await?;
    cast(dir, "getDirectoryHandle", Some(dir_name))
}

/// Opens (creating when asked) `name` in `dir` and takes its sync access handle.
async fn open_sync_handle(
    dir: &FileSystemDirectoryHandle,
    name: &str,
    create: bool,
) -> Result<FileSystemSyncAccessHandle, OpfsError> {
    let opts = FileSystemGetFileOptions::new();
    opts.set_create(create);
    let file = settle(
        dir.get_file_handle_with_options(name, &opts),
        "getFileHandle",
        Some(name),
    )
    .await?;
    let file: FileSystemFileHandle = cast(file, "getFileHandle", Some(name))?;
    let handle = settle(
        file.create_sync_access_handle(),
        "createSyncAccessHandle",
        Some(name),
    )
    .await?;
    let handle: FileSystemSyncAccessHandle = match handle.dyn_into() {
        Ok(h) => h,
        Err(_) => {
            return Err(OpfsError::new(
                OpfsErrorKind::Unavailable,
                Some(name),
                "createSyncAccessHandle returned an unexpected type",
            ))
        }
    };
    count_handle(true);
    Ok(handle)
}

/// The names of the entries of `dir`.
async fn entry_names(dir: &FileSystemDirectoryHandle) -> Result<Vec<String>, OpfsError> {
    let iter = dir.keys();
    let mut names = Vec::new();
    loop {
        let next = iter
            .next()
            .map_err(|e| OpfsError::from_js("directory keys().next", None, &e))?;
        let step = settle(next, "directory keys().next", None).await?;
        let done = js_sys::Reflect::get(&step, &JsValue::from_str("done"))
            .map_err(|e| OpfsError::from_js("directory iterator", None, &e))?;
        if done.is_truthy() {
            return Ok(names);
        }
        let value = js_sys::Reflect::get(&step, &JsValue::from_str("value"))
            .map_err(|e| OpfsError::from_js("directory iterator", None, &e))?;
        if let Some(name) = value.as_string() {
            names.push(name);
        }
    }
}

/// The index of a pool file name (`p-0012` → 12), or `None` for other entries.
fn pool_index(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(POOL_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn pool_name(index: u32) -> String {
    format!("{POOL_PREFIX}{index:04}")
}

fn at(offset: u64) -> FileSystemReadWriteOptions {
    let opts = FileSystemReadWriteOptions::new();
    // Callers keep offsets at most MAX_SAFE, so the conversion is exact.
    opts.set_at(offset as f64);
    opts
}

/// One pool file and its open sync access handle (closed on drop).
struct Slot {
    /// The OPFS name, `p-NNNN`.
    pool_name: String,
    handle: FileSystemSyncAccessHandle,
    /// The mount's counters and stale-handle flag.
    mount: Rc<MountInfo>,
}

/// Per-mount bookkeeping shared by every slot of the mount.
#[derive(Default)]
struct MountInfo {
    /// Set when a handle call failed with `InvalidStateError` (see [`OpfsVfs::is_stale`]).
    stale: Cell<bool>,
    /// Sync access handles of this mount that are open (lock file included).
    handles: Cell<usize>,
}

impl Slot {
    fn new(pool_name: String, handle: FileSystemSyncAccessHandle, mount: &Rc<MountInfo>) -> Slot {
        mount.handles.set(mount.handles.get() + 1);
        Slot {
            pool_name,
            handle,
            mount: mount.clone(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.handle.close();
        count_handle(false);
        self.mount
            .handles
            .set(self.mount.handles.get().saturating_sub(1));
    }
}

impl Slot {
    /// Reads the header fields (fewer bytes if the file is shorter).
    fn read_fields(&self) -> Result<Vec<u8>, OpfsError> {
        let size = self
            .handle
            .get_size()
            .map_err(|e| OpfsError::from_js("getSize", Some(&self.pool_name), &e))?;
        let n = if size < FIELDS_LEN as f64 {
            // Smaller than FIELDS_LEN, so the conversion is exact.
            size as usize
        } else {
            FIELDS_LEN
        };
        let mut buf = vec![0u8; n];
        let got = self
            .handle
            .read_with_u8_array_and_options(&mut buf, &at(0))
            .map_err(|e| OpfsError::from_js("read header", Some(&self.pool_name), &e))?;
        buf.truncate(got as usize);
        Ok(buf)
    }

    /// Writes the header naming `name`, drops any old data, and flushes.
    fn claim(&self, name: &str) -> Result<()> {
        let fields =
            header::encode(name).map_err(|e| Error::new(ErrorKind::InvalidName, e.to_string()))?;
        let mut block = vec![0u8; HEADER_LEN as usize];
        block[..FIELDS_LEN].copy_from_slice(&fields);
        // Drop stale data first so that the logical file starts empty.
        self.handle
            .truncate_with_f64(0.0)
            .map_err(|e| vfs_error("truncate pool file", &self.pool_name, &e, &self.mount.stale))?;
        self.write_all(0, &block)?;
        self.handle
            .flush()
            .map_err(|e| vfs_error("flush header of", &self.pool_name, &e, &self.mount.stale))
    }

    /// Zeroes the header fields and flushes: the pool file is free from now on (even after a
    /// crash). The data stays until [`Slot::discard`].
    fn clear_header(&self) -> Result<()> {
        self.write_all(0, &[0u8; FIELDS_LEN])?;
        self.handle
            .flush()
            .map_err(|e| vfs_error("flush header of", &self.pool_name, &e, &self.mount.stale))
    }

    /// Truncates a free pool file to nothing (best effort: a free file may hold stale data).
    fn discard(&self) {
        if self.handle.truncate_with_f64(0.0).is_ok() {
            let _ = self.handle.flush();
        }
    }

    /// Writes all of `data` at `offset`. The bytes are first copied into a JS-owned buffer of
    /// exactly their size: a view of wasm memory is never passed to `write()` (WebKit has
    /// written the view's whole backing buffer, i.e. the wasm heap, instead of the view).
    fn write_all(&self, offset: u64, data: &[u8]) -> Result<()> {
        let len = u32::try_from(data.len())
            .map_err(|_| Error::new(ErrorKind::NoSpace, "write larger than 4 GiB"))?;
        let copy = js_sys::Uint8Array::new_with_length(len);
        copy.copy_from(data);
        let written = self
            .handle
            .write_with_js_u8_array_and_options(&copy, &at(offset))
            .map_err(|e| vfs_error("write", &self.pool_name, &e, &self.mount.stale))?;
        if written as usize != data.len() {
            return Err(Error::new(
                ErrorKind::NoSpace,
                format!(
                    "short write to {}: {} of {} bytes",
                    self.pool_name,
                    written as u64,
                    data.len()
                ),
            ));
        }
        Ok(())
    }
}

/// A logical file: a name bound to a pool file.
struct Node {
    name: String,
    slot: Rc<Slot>,
    /// Set by `remove`: the pool file is freed when the last handle drops.
    removed: Cell<bool>,
    shared: Weak<Shared>,
}

impl Drop for Node {
    fn drop(&mut self) {
        // Reached when the last reference goes: after `remove` (the map's reference is gone)
        // or when the whole Vfs is dropped (then `shared` no longer upgrades).
        if !self.removed.get() {
            return;
        }
        self.slot.discard();
        if let Some(shared) = self.shared.upgrade() {
            if let Ok(mut state) = shared.state.try_borrow_mut() {
                state.free.push(self.slot.clone());
            }
        }
    }
}

struct State {
    files: BTreeMap<String, Arc<Node>>,
    free: Vec<Rc<Slot>>,
    /// Index for the next pool file `reserve` creates.
    next_index: u32,
    /// Set while a [`Vfs::lock`] guard is alive.
    locked: bool,
}

struct Shared {
    dir_name: String,
    dir: FileSystemDirectoryHandle,
    /// Held for the life of the mount: the cross-tab lock even when the pool is empty.
    _lock: Slot,
    info: Rc<MountInfo>,
    /// Cap on this mount's open handles (see [`OpfsVfs::set_max_handles`]).
    max_handles: Cell<usize>,
    low_water: Cell<usize>,
    state: RefCell<State>,
}

// SAFETY: `Shared` and `Node` hold JS objects (`JsValue`s), `Rc`s and `RefCell`s, none of
// which may cross threads. On wasm32 without the `atomics` target feature a program has
// exactly one thread (there is no shared memory for a second one to use), so no value can be
// sent to, or shared with, another thread, and these impls cannot be exercised unsoundly.
// Builds with `atomics` are rejected by the `compile_error!` in lib.rs. Re-entrancy on the
// single thread is handled by never holding a `RefCell` borrow across an `.await` or a call
// that may drop a `Node`.
#[cfg(not(target_feature = "atomics"))]
unsafe impl Send for Shared {}
// SAFETY: as for `Send` above: single-threaded target, so `&Shared` is never seen by
// another thread.
#[cfg(not(target_feature = "atomics"))]
unsafe impl Sync for Shared {}
// SAFETY: as for `Shared`: single-threaded target.
#[cfg(not(target_feature = "atomics"))]
unsafe impl Send for Node {}
// SAFETY: as for `Shared`: single-threaded target.
#[cfg(not(target_feature = "atomics"))]
unsafe impl Sync for Node {}

/// A [`Vfs`] over a pool of pre-opened OPFS files. See the [module docs](self).
///
/// Cloning gives another handle to the same mount. The mount ends (and its OPFS handles are
/// closed) when every clone and every [`OpfsFile`] are dropped.
#[derive(Clone)]
pub struct OpfsVfs {
    shared: Arc<Shared>,
}

impl fmt::Debug for OpfsVfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpfsVfs")
            .field("dir", &self.shared.dir_name)
            .field("files", &self.file_count())
            .field("free", &self.free_count())
            .finish()
    }
}

impl OpfsVfs {
    /// Mounts the database directory `dir_name` (created if missing) in the origin's OPFS
    /// root: takes the directory's lock file, opens a sync access handle on every pool file,
    /// reads their headers, and adds pool files until at least `min_free` are free.
    /// `min_free` also becomes the low-water mark of [`OpfsVfs::needs_reserve`].
    ///
    /// Must run in a dedicated worker. Fails with [`OpfsErrorKind::Locked`] when the database
    /// is mounted elsewhere, [`OpfsErrorKind::CorruptHeader`] / [`UnsupportedVersion`] /
    /// [`DuplicateName`] when a pool file's header is damaged or unknown (the pool is never
    /// repaired silently), [`OpfsErrorKind::Unavailable`] outside a worker or for a
    /// `dir_name` that fails [`check_name`].
    ///
    /// [`UnsupportedVersion`]: OpfsErrorKind::UnsupportedVersion
    /// [`DuplicateName`]: OpfsErrorKind::DuplicateName
    pub async fn mount(dir_name: &str, min_free: usize) -> Result<OpfsVfs, OpfsError> {
        check_name(dir_name).map_err(|e| {
            OpfsError::new(
                OpfsErrorKind::Unavailable,
                Some(dir_name),
                format!("bad directory name: {e}"),
            )
        })?;
        let root = opfs_root().await?;
        let dir = open_dir(&root, dir_name, true).await?;
        // The lock file first: a concurrent mount is reported before any pool file is read.
        let info = Rc::new(MountInfo::default());
        let lock = Slot::new(
            String::from(LOCK_FILE),
            open_sync_handle(&dir, LOCK_FILE, true).await?,
            &info,
        );
        let mut indexes: Vec<u32> = entry_names(&dir)
            .await?
            .iter()
            .filter_map(|n| pool_index(n))
            .collect();
        indexes.sort_unstable();
        let next_index = indexes.last().map_or(0, |i| i.saturating_add(1));

        let mut used: Vec<(String, Rc<Slot>)> = Vec::new();
        let mut free = Vec::new();
        for index in indexes {
            let pool_name = pool_name(index);
            let handle = open_sync_handle(&dir, &pool_name, false).await?;
            let slot = Rc::new(Slot::new(pool_name, handle, &info));
            let fields = slot.read_fields()?;
            match header::decode(&fields) {
                Ok(Decoded::Free) => free.push(slot),
                Ok(Decoded::Used(name)) => used.push((name, slot)),
                Err(e) => {
                    let kind = match e {
                        HeaderError::Corrupt(_) => OpfsErrorKind::CorruptHeader,
                        HeaderError::UnsupportedVersion(_) => OpfsErrorKind::UnsupportedVersion,
                    };
                    return Err(OpfsError::new(
                        kind,
                        Some(&slot.pool_name),
                        format!("{e} (in database directory {dir_name})"),
                    ));
                }
            }
        }

        let vfs = OpfsVfs {
            shared: Arc::new(Shared {
                dir_name: String::from(dir_name),
                dir,
                _lock: lock,
                info,
                max_handles: Cell::new(DEFAULT_MAX_HANDLES),
                low_water: Cell::new(min_free),
                state: RefCell::new(State {
                    files: BTreeMap::new(),
                    free,
                    next_index,
                    locked: false,
                }),
            }),
        };
        {
            let weak = Arc::downgrade(&vfs.shared);
            let mut state = vfs.shared.state.borrow_mut();
            for (name, slot) in used {
                if let Some(other) = state.files.get(&name) {
                    return Err(OpfsError::new(
                        OpfsErrorKind::DuplicateName,
                        Some(&slot.pool_name),
                        format!(
                            "pool files {} and {} both hold logical file {name}",
                            other.slot.pool_name, slot.pool_name
                        ),
                    ));
                }
                let node = Node {
                    name: name.clone(),
                    slot,
                    removed: Cell::new(false),
                    shared: weak.clone(),
                };
                state.files.insert(name, Arc::new(node));
            }
        }
        vfs.reserve(min_free).await?;
        Ok(vfs)
    }

    /// Makes sure at least `n` pool files are free, creating new ones as needed, but never
    /// beyond the handle cap ([`OpfsVfs::max_handles`]): with the cap reached it stops early
    /// and `create` fails with `NoSpace` once the free files are used up. Returns how many
    /// were created. Call it between requests (it is the only way the pool grows).
    pub async fn reserve(&self, n: usize) -> Result<usize, OpfsError> {
        let mut created = 0;
        loop {
            let index = {
                let mut state = self.shared.state.borrow_mut();
                if state.free.len() >= n || self.open_handles() >= self.max_handles() {
                    return Ok(created);
                }
                let index = state.next_index;
                state.next_index = index.checked_add(1).ok_or_else(|| {
                    OpfsError::new(OpfsErrorKind::NoSpace, None, "pool file numbers exhausted")
                })?;
                index
            };
            let pool_name = pool_name(index);
            let handle = open_sync_handle(&self.shared.dir, &pool_name, true).await?;
            let slot = Rc::new(Slot::new(pool_name, handle, &self.shared.info));
            // A new file is empty, which reads as a free header; make sure of it.
            let fields = slot.read_fields()?;
            if header::decode(&fields) != Ok(Decoded::Free) {
                return Err(OpfsError::new(
                    OpfsErrorKind::Js,
                    Some(&slot.pool_name),
                    "a newly created pool file is not empty",
                ));
            }
            self.shared.state.borrow_mut().free.push(slot);
            created += 1;
        }
    }

    /// Tops the pool up to the low-water mark: `reserve(low_water())`.
    pub async fn replenish(&self) -> Result<usize, OpfsError> {
        self.reserve(self.low_water()).await
    }

    /// True when fewer than [`OpfsVfs::low_water`] pool files are free and the handle cap
    /// leaves room for more: time to call [`OpfsVfs::replenish`].
    pub fn needs_reserve(&self) -> bool {
        self.free_count() < self.low_water() && self.open_handles() < self.max_handles()
    }

    /// Sync access handles this mount holds open now: the lock file, every used and free pool
    /// file, and removed files still open. Never more than [`OpfsVfs::max_handles`] (plus
    /// what was already on disk at mount time).
    pub fn open_handles(&self) -> usize {
        self.shared.info.handles.get()
    }

    /// The cap on [`OpfsVfs::open_handles`] that [`OpfsVfs::reserve`] respects; default
    /// [`DEFAULT_MAX_HANDLES`].
    pub fn max_handles(&self) -> usize {
        self.shared.max_handles.get()
    }

    /// Sets the handle cap (at least 2: the lock file and one pool file).
    pub fn set_max_handles(&self, n: usize) {
        self.shared.max_handles.set(n.max(2));
    }

    /// True once a handle call failed with `InvalidStateError`: the browser closed a sync
    /// access handle of this mount (Safari does so on some lifecycle events), and every
    /// operation may fail from now on. Drop this mount and mount again.
    pub fn is_stale(&self) -> bool {
        self.shared.info.stale.get()
    }

    /// The low-water mark (initially `min_free` from [`OpfsVfs::mount`]).
    pub fn low_water(&self) -> usize {
        self.shared.low_water.get()
    }

    /// Sets the low-water mark.
    pub fn set_low_water(&self, n: usize) {
        self.shared.low_water.set(n);
    }

    /// Number of free pool files.
    pub fn free_count(&self) -> usize {
        self.shared.state.borrow().free.len()
    }

    /// Number of logical files.
    pub fn file_count(&self) -> usize {
        self.shared.state.borrow().files.len()
    }

    /// The OPFS directory name this Vfs mounted.
    pub fn dir_name(&self) -> &str {
        &self.shared.dir_name
    }

    /// Deletes the database directory `dir_name` and everything in it (for tests, and for
    /// users who drop a database). Fails with [`OpfsErrorKind::Locked`] while it is mounted
    /// anywhere; succeeds when it does not exist.
    pub async fn destroy(dir_name: &str) -> Result<(), OpfsError> {
        check_name(dir_name).map_err(|e| {
            OpfsError::new(
                OpfsErrorKind::Unavailable,
                Some(dir_name),
                format!("bad directory name: {e}"),
            )
        })?;
        let root = opfs_root().await?;
        let opts = FileSystemRemoveOptions::new();
        opts.set_recursive(true);
        match JsFuture::from(root.remove_entry_with_options(dir_name, &opts)).await {
            Ok(_) => Ok(()),
            Err(e) if js_error_parts(&e).0 == "NotFoundError" => Ok(()),
            Err(e) => Err(OpfsError::from_js("removeEntry", Some(dir_name), &e)),
        }
    }

    fn node(&self, name: &str) -> Result<Arc<Node>> {
        check_name(name)?;
        self.shared
            .state
            .borrow()
            .files
            .get(name)
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::NotFound, name))
    }
}

impl Vfs for OpfsVfs {
    type File = OpfsFile;

    /// Takes a free pool file and writes its header. Durable when it returns. Fails with
    /// `NoSpace` when no pool file is free (see [`OpfsVfs::reserve`]).
    fn create(&self, name: &str) -> Result<Arc<OpfsFile>> {
        check_name(name)?;
        let slot = {
            let mut state = self.shared.state.borrow_mut();
            if state.files.contains_key(name) {
                return Err(Error::new(ErrorKind::AlreadyExists, name));
            }
            state.free.pop().ok_or_else(|| {
                Error::new(
                    ErrorKind::NoSpace,
                    format!(
                        "no free OPFS pool file for {name} in {}: call OpfsVfs::reserve \
                         between requests to grow the pool",
                        self.shared.dir_name
                    ),
                )
            })?
        };
        if let Err(e) = slot.claim(name) {
            // Best effort: leave the pool file free again (its header may be half written,
            // in which case the next mount reports it).
            let _ = slot.clear_header();
            self.shared.state.borrow_mut().free.push(slot);
            return Err(e);
        }
        let node = Arc::new(Node {
            name: String::from(name),
            slot,
            removed: Cell::new(false),
            shared: Arc::downgrade(&self.shared),
        });
        self.shared
            .state
            .borrow_mut()
            .files
            .insert(String::from(name), node.clone());
        Ok(Arc::new(OpfsFile { node }))
    }

    fn open(&self, name: &str) -> Result<Arc<OpfsFile>> {
        let node = self.node(name)?;
        Ok(Arc::new(OpfsFile { node }))
    }

    /// Clears the file's header. Durable when it returns. Handles opened before keep working
    /// until dropped; then the pool file becomes free.
    fn remove(&self, name: &str) -> Result<()> {
        let node = self.node(name)?;
        node.slot.clear_header()?;
        node.removed.set(true);
        let taken = self.shared.state.borrow_mut().files.remove(name);
        // Dropped outside the borrow: the last reference frees the slot into `state`.
        drop(taken);
        drop(node);
        Ok(())
    }

    fn list(&self) -> Result<Vec<String>> {
        Ok(self.shared.state.borrow().files.keys().cloned().collect())
    }

    fn exists(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        Ok(self.shared.state.borrow().files.contains_key(name))
    }

    /// Nothing to do: `create` and `remove` flush their header before returning.
    fn sync_dir(&self) -> Result<()> {
        Ok(())
    }

    fn lock(&self) -> Result<LockGuard> {
        {
            let mut state = self.shared.state.borrow_mut();
            if state.locked {
                return Err(Error::new(
                    ErrorKind::Locked,
                    format!("{} is already locked by this mount", self.shared.dir_name),
                ));
            }
            state.locked = true;
        }
        let shared = self.shared.clone();
        Ok(LockGuard::new(move || {
            if let Ok(mut state) = shared.state.try_borrow_mut() {
                state.locked = false;
            }
        }))
    }
}

/// An open logical file of an [`OpfsVfs`]: positional I/O on its pool file, shifted by the
/// header.
pub struct OpfsFile {
    node: Arc<Node>,
}

impl fmt::Debug for OpfsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpfsFile")
            .field("name", &self.node.name)
            .field("pool_file", &self.node.slot.pool_name)
            .field("removed", &self.node.removed.get())
            .finish()
    }
}

impl OpfsFile {
    fn handle(&self) -> &FileSystemSyncAccessHandle {
        &self.node.slot.handle
    }

    /// The pool-file offset of logical `offset` for an access of `len` bytes.
    fn physical(&self, offset: u64, len: usize) -> Result<u64> {
        offset
            .checked_add(HEADER_LEN)
            .filter(|p| p.saturating_add(len as u64) <= MAX_SAFE)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NoSpace,
                    format!("offset {offset} beyond the largest OPFS file"),
                )
            })
    }

    fn err(&self, what: &str, e: &JsValue) -> Error {
        vfs_error(what, &self.node.name, e, &self.node.slot.mount.stale)
    }
}

impl File for OpfsFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let pos = self.physical(offset, buf.len())?;
        let got = self
            .handle()
            .read_with_u8_array_and_options(buf, &at(pos))
            .map_err(|e| self.err("read", &e))?;
        if got as usize != buf.len() {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at {offset} in {}: only {} available",
                    buf.len(),
                    self.node.name,
                    got as u64
                ),
            ));
        }
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        let pos = self.physical(offset, data.len())?;
        self.node.slot.write_all(pos, data)
    }

    fn sync(&self) -> Result<()> {
        self.handle().flush().map_err(|e| self.err("flush", &e))
    }

    fn truncate(&self, len: u64) -> Result<()> {
        let pos = self.physical(len, 0)?;
        // At most MAX_SAFE, so the conversion is exact.
        self.handle()
            .truncate_with_f64(pos as f64)
            .map_err(|e| self.err("truncate", &e))
    }

    fn len(&self) -> Result<u64> {
        let size = self
            .handle()
            .get_size()
            .map_err(|e| self.err("getSize", &e))?;
        // Sizes are integers below 2^53; a used pool file is never shorter than its header.
        Ok((size as u64).saturating_sub(HEADER_LEN))
    }
}
