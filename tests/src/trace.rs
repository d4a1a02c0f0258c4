//! `TraceVfs`: a thin layer over a [`FaultVfs`] that remembers the last mutation attempted
//! while the simulated process was still alive, so that a crash test can say *where* the kill
//! point hit (a WAL append, a table write, a manifest append, a current-pointer switch, ...).

use cairn_vfs::fault::FaultVfs;
use cairn_vfs::{File, LockGuard, MemVfs, Result, Vfs};
use std::string::String;
use std::sync::{Arc, Mutex};

/// The file-system layer the crash tests run the engine on.
pub type Inner = FaultVfs<MemVfs>;

/// Wraps a `FaultVfs<MemVfs>`; clones share the same trace.
#[derive(Clone)]
pub struct TraceVfs {
    fault: Inner,
    last: Arc<Mutex<String>>,
}

impl std::fmt::Debug for TraceVfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceVfs").finish_non_exhaustive()
    }
}

fn note(fault: &Inner, last: &Mutex<String>, op: &str, name: &str) {
    if !fault.killed() {
        let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
        l.clear();
        l.push_str(op);
        l.push(' ');
        l.push_str(name);
    }
}

impl TraceVfs {
    /// A fresh in-memory directory behind a `FaultVfs`.
    pub fn new() -> Self {
        TraceVfs {
            fault: FaultVfs::new(MemVfs::new()),
            last: Arc::new(Mutex::new(String::new())),
        }
    }

    /// The fault layer (crash, kill points, error injection).
    pub fn fault(&self) -> &Inner {
        &self.fault
    }

    /// The last mutation attempted before the kill point (or the last one at all if no kill
    /// happened), as `"op file"`, e.g. `"write 000012.sst"`.
    pub fn last_mutation(&self) -> String {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Forgets the trace.
    pub fn clear_trace(&self) {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Default for TraceVfs {
    fn default() -> Self {
        Self::new()
    }
}

/// A file of a [`TraceVfs`].
pub struct TraceFile {
    inner: Arc<<Inner as Vfs>::File>,
    name: String,
    fault: Inner,
    last: Arc<Mutex<String>>,
}

impl File for TraceFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.inner.read_exact_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        note(&self.fault, &self.last, "write", &self.name);
        self.inner.write_at(offset, data)
    }
    fn sync(&self) -> Result<()> {
        note(&self.fault, &self.last, "sync", &self.name);
        self.inner.sync()
    }
    fn truncate(&self, len: u64) -> Result<()> {
        note(&self.fault, &self.last, "truncate", &self.name);
        self.inner.truncate(len)
    }
    fn len(&self) -> Result<u64> {
        self.inner.len()
    }
}

impl Vfs for TraceVfs {
    type File = TraceFile;

    fn create(&self, name: &str) -> Result<Arc<TraceFile>> {
        note(&self.fault, &self.last, "create", name);
        let inner = self.fault.create(name)?;
        Ok(self.wrap(inner, name))
    }
    fn open(&self, name: &str) -> Result<Arc<TraceFile>> {
        let inner = self.fault.open(name)?;
        Ok(self.wrap(inner, name))
    }
    fn remove(&self, name: &str) -> Result<()> {
        note(&self.fault, &self.last, "remove", name);
        self.fault.remove(name)
    }
    fn list(&self) -> Result<Vec<String>> {
        self.fault.list()
    }
    fn exists(&self, name: &str) -> Result<bool> {
        self.fault.exists(name)
    }
    fn sync_dir(&self) -> Result<()> {
        note(&self.fault, &self.last, "sync_dir", "");
        self.fault.sync_dir()
    }
    fn lock(&self) -> Result<LockGuard> {
        self.fault.lock()
    }
}

impl TraceVfs {
    fn wrap(&self, inner: Arc<<Inner as Vfs>::File>, name: &str) -> Arc<TraceFile> {
        Arc::new(TraceFile {
            inner,
            name: String::from(name),
            fault: self.fault.clone(),
            last: self.last.clone(),
        })
    }
}
