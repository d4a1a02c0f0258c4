//! The wasm-bindgen bindings behind the npm package `cairn-db`: a [`CairnDb`] JS class over
//! [`Db`]`<`[`OpfsVfs`]`>` (in a dedicated worker) or `Db<MemVfs>` (in Node, or anywhere
//! with `{ memory: true }`).
//!
//! Everything is synchronous after the asynchronous [`CairnDb::open`], except growing the OPFS
//! pool ([`CairnDb::replenish`]). The JS worker (`wasm/js/engine.js`) drives it:
//! - writes that arrive in the same event-loop turn are committed together with
//!   [`CairnDb::commit_group`] (one WAL append, one `flush()` of the sync access handle);
//! - when no request is queued it calls [`CairnDb::step`] (one flush or compaction job) and
//!   tops the pool up with [`CairnDb::replenish`] whenever [`CairnDb::needs_reserve`] says so.
//!
//! Every error is a JS `Error` named `CairnError` with a string `code` property: the engine's
//! [`cairn_core::Error::code`] (`KEY_TOO_LARGE`, `CLOSED`, `LOCKED`, `CORRUPTION`, ...), an OPFS
//! mount failure's code (`LOCKED`, `NO_SPACE`, `UNAVAILABLE`, `CORRUPTION`,
//! `UNSUPPORTED_FORMAT`, `IO`), or `INVALID_ARGUMENT` for bad input from JS.

use crate::host::{Host, HostFile, HostVfs};
use crate::opfs::OpfsFile;
use crate::opfs::{OpfsError, OpfsErrorKind, OpfsVfs, EVICTED_PREFIX, QUOTA_PREFIX};
use cairn_core::batch::WriteBatch;
use cairn_core::txn::{ConflictSet, DEFAULT_KEYSPACE};
use cairn_core::{
    Db, Direction, Error as CoreError, Options, Snapshot, Transaction, WritePressure,
};
type MemFile = <MemVfs as Vfs>::File;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use cairn_vfs::{ErrorKind, File, LockGuard, MemVfs, Vfs};
use core::ops::Bound;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Default low-water mark of free OPFS pool files (raised automatically as the database grows).
const DEFAULT_MIN_FREE: usize = 8;
/// Default entries per scan page.
const DEFAULT_PAGE_LIMIT: usize = 1000;
/// Default bytes per scan page (approximate).
const DEFAULT_PAGE_BYTES: usize = 1 << 20;

/// In-memory databases by name, so that close + reopen in one Node process (or one worker)
/// finds the data again. `CairnDb.destroy(name, {memory: true})` drops one.
/// (A Vec rather than a map: few entries, and no extra map instantiation in the wasm. A
/// static rather than a thread-local: the crate is `no_std` in the browser build.)
static MEMORY: spin::Mutex<Vec<(String, MemVfs)>> = spin::Mutex::new(Vec::new());

/// A JS `Error` named `CairnError` with a `code` property.
fn cairn_error(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    err.set_name("CairnError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(code));
    err.into()
}

/// The JS code of an engine error: the engine's own code, except that a failure caused by
/// the browser's storage quota (directly, or the poisoned state it left) is `QUOTA`, and one
/// caused by files that vanished under an open database (the browser evicted the origin's
/// storage) is `EVICTED`.
fn core_error(e: &CoreError) -> JsValue {
    let message = e.to_string();
    let code = match e {
        CoreError::Io(_) | CoreError::Poisoned(_) if has(&message, QUOTA_PREFIX) => "QUOTA",
        CoreError::Io(_) | CoreError::Poisoned(_) if has(&message, EVICTED_PREFIX) => "EVICTED",
        _ => e.code(),
    };
    cairn_error(code, &message)
}

/// Whether `needle` occurs in `hay`. A plain window scan: `str::contains` pulls the two-way
/// string searcher into the wasm (about 6 KiB gzipped).
fn has(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn invalid(message: &str) -> JsValue {
    cairn_error("INVALID_ARGUMENT", message)
}

/// The `code` of an OPFS mount, reserve or destroy failure.
pub fn opfs_code(kind: OpfsErrorKind) -> &'static str {
    match kind {
        OpfsErrorKind::Locked => "LOCKED",
        OpfsErrorKind::NoSpace => "QUOTA",
        OpfsErrorKind::Unavailable => "UNAVAILABLE",
        OpfsErrorKind::CorruptHeader | OpfsErrorKind::DuplicateName => "CORRUPTION",
        OpfsErrorKind::UnsupportedVersion => "UNSUPPORTED_FORMAT",
        OpfsErrorKind::Js => "IO",
    }
}

fn opfs_error(e: &OpfsError) -> JsValue {
    cairn_error(opfs_code(e.kind()), &e.to_string())
}

/// The bytes of a key or value given from JS: a string (encoded as UTF-8), a `Uint8Array`
/// (copied), an `ArrayBuffer` or another typed-array view (its bytes).
fn bytes_of(v: &JsValue, what: &str) -> Result<Vec<u8>, JsValue> {
    if let Some(s) = v.as_string() {
        return Ok(s.into_bytes());
    }
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Ok(a.to_vec());
    }
    if let Some(b) = v.dyn_ref::<js_sys::ArrayBuffer>() {
        return Ok(Uint8Array::new(b).to_vec());
    }
    if js_sys::ArrayBuffer::is_view(v) {
        let buffer = Reflect::get(v, &JsValue::from_str("buffer"))?;
        let offset = Reflect::get(v, &JsValue::from_str("byteOffset"))?
            .as_f64()
            .unwrap_or(0.0);
        let len = Reflect::get(v, &JsValue::from_str("byteLength"))?
            .as_f64()
            .unwrap_or(0.0);
        if let Some(b) = buffer.dyn_ref::<js_sys::ArrayBuffer>() {
            // Offsets and lengths of views are integers below 2^53.
            return Ok(
                Uint8Array::new_with_byte_offset_and_length(b, offset as u32, len as u32).to_vec(),
            );
        }
    }
    Err(invalid(&format!(
        "{what} must be a Uint8Array or a string, not {}",
        type_name(v)
    )))
}

fn type_name(v: &JsValue) -> String {
    if v.is_undefined() {
        return String::from("undefined");
    }
    if v.is_null() {
        return String::from("null");
    }
    v.js_typeof()
        .as_string()
        .unwrap_or_else(|| String::from("?"))
}

fn prop(obj: &JsValue, name: &str) -> Result<JsValue, JsValue> {
    if obj.is_undefined() || obj.is_null() {
        return Ok(JsValue::UNDEFINED);
    }
    Reflect::get(obj, &JsValue::from_str(name))
}

fn opt_number(obj: &JsValue, name: &str) -> Result<Option<f64>, JsValue> {
    let v = prop(obj, name)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() && n >= 0.0 && n % 1.0 == 0.0 => Ok(Some(n)),
        _ => Err(invalid(&format!(
            "option {name} must be a non-negative integer"
        ))),
    }
}

fn opt_usize(obj: &JsValue, name: &str) -> Result<Option<usize>, JsValue> {
    // Non-negative integers; clamped to the address space (wasm32: 4 GiB).
    Ok(opt_number(obj, name)?.map(|n| {
        if n > usize::MAX as f64 {
            usize::MAX
        } else {
            n as usize
        }
    }))
}

fn opt_bool(obj: &JsValue, name: &str) -> Result<Option<bool>, JsValue> {
    let v = prop(obj, name)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_bool()
        .map(Some)
        .ok_or_else(|| invalid(&format!("option {name} must be a boolean")))
}

fn opt_bytes(obj: &JsValue, name: &str) -> Result<Option<Vec<u8>>, JsValue> {
    let v = prop(obj, name)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    bytes_of(&v, name).map(Some)
}

/// Engine options from a JS object (all optional): `writeBufferSize`, `blockCacheSize`,
/// `maxKeySize`, `maxValueSize`, `targetTableSize`, `bloomBitsPerKey`, `compression`,
/// `createIfMissing`, `errorIfExists`. Starts from [`Options::browser`].
fn parse_options(js: &JsValue) -> Result<Options, JsValue> {
    let mut o = Options::browser();
    o.background_threads = 0;
    if let Some(n) = opt_usize(js, "writeBufferSize")? {
        o.write_buffer_size = n;
    }
    if let Some(n) = opt_usize(js, "blockCacheSize")? {
        o.block_cache_size = n;
    }
    if let Some(n) = opt_usize(js, "maxKeySize")? {
        o.max_key_size = n;
    }
    if let Some(n) = opt_usize(js, "maxValueSize")? {
        o.max_value_size = n;
    }
    if let Some(n) = opt_number(js, "targetTableSize")? {
        o.target_table_size = n as u64;
    }
    if let Some(n) = opt_number(js, "bloomBitsPerKey")? {
        o.bloom_bits_per_key =
            u32::try_from(n as u64).map_err(|_| invalid("option bloomBitsPerKey is too large"))?;
    }
    if let Some(b) = opt_bool(js, "compression")? {
        o.compression = b;
    }
    if let Some(b) = opt_bool(js, "createIfMissing")? {
        o.create_if_missing = b;
    }
    if let Some(b) = opt_bool(js, "errorIfExists")? {
        o.error_if_exists = b;
    }
    o.validate().map_err(|e| core_error(&e))?;
    Ok(o)
}

/// The Vfs of a [`CairnDb`]: OPFS or memory. One enum rather than two `Db` types so that the
/// engine is compiled once (two monomorphizations of `Db` would double most of the wasm).
#[derive(Clone, Debug)]
pub enum AnyVfs {
    /// OPFS, in a dedicated worker.
    Opfs(OpfsVfs),
    /// In memory (Node, or `{memory: true}`).
    Mem(MemVfs),
    /// Real files through a JS host (Node: `wasm/js/node.js`).
    Host(HostVfs),
}

/// An open file of an [`AnyVfs`].
pub enum AnyFile {
    /// An OPFS file.
    Opfs(Arc<OpfsFile>),
    /// An in-memory file.
    Mem(Arc<MemFile>),
    /// A file of the host.
    Host(Arc<HostFile>),
}

macro_rules! either {
    ($e:expr, $f:ident => $body:expr) => {
        match $e {
            AnyFile::Opfs($f) => $body,
            AnyFile::Mem($f) => $body,
            AnyFile::Host($f) => $body,
        }
    };
}

impl File for AnyFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> cairn_vfs::Result<()> {
        either!(self, f => f.read_exact_at(offset, buf))
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> cairn_vfs::Result<()> {
        either!(self, f => f.write_at(offset, data))
    }
    fn sync(&self) -> cairn_vfs::Result<()> {
        either!(self, f => f.sync())
    }
    fn truncate(&self, len: u64) -> cairn_vfs::Result<()> {
        either!(self, f => f.truncate(len))
    }
    fn len(&self) -> cairn_vfs::Result<u64> {
        either!(self, f => f.len())
    }
}

macro_rules! any_vfs {
    ($e:expr, $v:ident => $body:expr) => {
        match $e {
            AnyVfs::Opfs($v) => $body,
            AnyVfs::Mem($v) => $body,
            AnyVfs::Host($v) => $body,
        }
    };
}

impl Vfs for AnyVfs {
    type File = AnyFile;
    fn create(&self, name: &str) -> cairn_vfs::Result<Arc<AnyFile>> {
        Ok(Arc::new(match self {
            AnyVfs::Opfs(v) => AnyFile::Opfs(v.create(name)?),
            AnyVfs::Mem(v) => AnyFile::Mem(v.create(name)?),
            AnyVfs::Host(v) => AnyFile::Host(v.create(name)?),
        }))
    }
    fn open(&self, name: &str) -> cairn_vfs::Result<Arc<AnyFile>> {
        Ok(Arc::new(match self {
            AnyVfs::Opfs(v) => AnyFile::Opfs(v.open(name)?),
            AnyVfs::Mem(v) => AnyFile::Mem(v.open(name)?),
            AnyVfs::Host(v) => AnyFile::Host(v.open(name)?),
        }))
    }
    fn remove(&self, name: &str) -> cairn_vfs::Result<()> {
        any_vfs!(self, v => v.remove(name))
    }
    fn list(&self) -> cairn_vfs::Result<Vec<String>> {
        any_vfs!(self, v => v.list())
    }
    fn exists(&self, name: &str) -> cairn_vfs::Result<bool> {
        any_vfs!(self, v => v.exists(name))
    }
    fn sync_dir(&self) -> cairn_vfs::Result<()> {
        any_vfs!(self, v => v.sync_dir())
    }
    fn lock(&self) -> cairn_vfs::Result<LockGuard> {
        any_vfs!(self, v => v.lock())
    }
}

type Inner = Db<AnyVfs>;

/// Runs `$body` with `$db` bound to the `Db` (kept as a macro from when there were two types).
macro_rules! with_db {
    ($inner:expr, $db:ident => $body:expr) => {{
        let $db = $inner;
        $body
    }};
}

/// Reads one length-prefixed field of the group-commit encoding.
fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], JsValue> {
    if data.len() < n {
        return Err(invalid("truncated write group encoding"));
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

fn take_u32(data: &mut &[u8]) -> Result<usize, JsValue> {
    let b = take(data, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Marks a transaction commit in the write-group encoding (see [`CairnDb::commit_group`]).
const TX_COMMIT: usize = u32::MAX as usize;

/// What a transaction read, as the JS wrapper sends it with the commit: keys read for
/// update, and scanned ranges as (start, end, prefix).
type Reads = (Vec<Vec<u8>>, Vec<[Option<Vec<u8>>; 3]>);

/// One member of a write group: a batch, and for a transaction commit its id and reads.
type Member = (WriteBatch, Option<(u32, Reads)>);

fn take_bytes(data: &mut &[u8]) -> Result<Vec<u8>, JsValue> {
    let n = take_u32(data)?;
    Ok(take(data, n)?.to_vec())
}

/// Decodes the members of a write group (see [`CairnDb::commit_group`]).
fn decode_group(mut data: &[u8], max_key_size: usize) -> Result<Vec<Member>, JsValue> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let mut ops = take_u32(&mut data)?;
        let mut tx = None;
        if ops == TX_COMMIT {
            let id = take_u32(&mut data)? as u32;
            let mut keys = Vec::new();
            for _ in 0..take_u32(&mut data)? {
                keys.push(take_bytes(&mut data)?);
            }
            let mut ranges = Vec::new();
            for _ in 0..take_u32(&mut data)? {
                let mask = take(&mut data, 1)?[0];
                let mut r: [Option<Vec<u8>>; 3] = [None, None, None];
                for (bit, slot) in r.iter_mut().enumerate() {
                    if mask & (1 << bit) != 0 {
                        *slot = Some(take_bytes(&mut data)?);
                    }
                }
                ranges.push(r);
            }
            tx = Some((id, (keys, ranges)));
            ops = take_u32(&mut data)?;
        }
        let mut batch = WriteBatch::new();
        for _ in 0..ops {
            let kind = take(&mut data, 1)?[0];
            let klen = take_u32(&mut data)?;
            let key = take(&mut data, klen)?;
            match kind {
                0 => batch.delete(key),
                1 => {
                    let vlen = take_u32(&mut data)?;
                    let value = take(&mut data, vlen)?;
                    batch.put(key, value);
                }
                2 => {
                    let elen = take_u32(&mut data)?;
                    let end = take(&mut data, elen)?;
                    batch.delete_range(key, end);
                }
                3 => batch.delete_prefix(key, max_key_size),
                _ => return Err(invalid("bad operation kind in write group encoding")),
            }
        }
        out.push((batch, tx));
    }
    Ok(out)
}

/// Commits the valid batches of `batches` as one WAL record with at most one sync;
/// `checks[i]` is the conflict set when batch `i` is a transaction's writes. Returns one
/// result per batch: `None` when it is committed, the error otherwise (`CONFLICT` for a
/// transaction that lost its conflict check).
fn commit_batches<V: cairn_vfs::Vfs + Clone>(
    db: &mut Db<V>,
    batches: &[WriteBatch],
    checks: &[Option<&ConflictSet>],
    sync: bool,
) -> Vec<Option<JsValue>> {
    let mut results: Vec<Option<JsValue>> = Vec::with_capacity(batches.len());
    let mut valid: Vec<&WriteBatch> = Vec::new();
    let mut valid_checks = Vec::new();
    let mut valid_idx = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        match db.validate_batch(b) {
            Ok(()) if b.is_empty() => results.push(None),
            Ok(()) => {
                results.push(None);
                valid.push(b);
                valid_checks.push(checks.get(i).copied().flatten());
                valid_idx.push(i);
            }
            Err(e) => results.push(Some(core_error(&e))),
        }
    }
    if valid.is_empty() {
        return results;
    }
    let outcome = (|| {
        // Cooperative backpressure: with no background thread, the writer does the work.
        let pressure = db.write_pressure();
        db.note_pressure(pressure);
        match pressure {
            WritePressure::None => {}
            WritePressure::Slowdown(_) => {
                db.step()?;
            }
            WritePressure::Stop => {
                while db.write_pressure() == WritePressure::Stop {
                    if !db.step()? {
                        break;
                    }
                }
            }
        }
        let (pending, accepted) = db.commit_begin_checked(&valid, &valid_checks)?;
        for (&i, _) in valid_idx.iter().zip(&accepted).filter(|(_, &a)| !a) {
            results[i] = Some(core_error(&CoreError::Conflict));
        }
        match pending {
            Some(pending) => {
                let synced = sync.then(|| pending.sync());
                db.commit_finish(pending, synced)
            }
            None => Ok(()),
        }
    })();
    if let Err(e) = outcome {
        let err = core_error(&e);
        for i in valid_idx {
            results[i] = Some(err.clone());
        }
    }
    results
}

/// A Cairn database, owned by one dedicated worker (OPFS) or one Node process (memory).
///
/// Keys and values are `Uint8Array`s or strings (UTF-8). Returned keys and values are fresh
/// `Uint8Array`s.
#[wasm_bindgen]
pub struct CairnDb {
    name: String,
    inner: Option<Inner>,
    /// Live snapshots with their ids (few at a time: a Vec is enough and keeps the wasm small).
    snapshots: Vec<(u32, Snapshot)>,
    /// Live transactions with their ids (from the same counter as the snapshots').
    txns: Vec<(u32, Transaction)>,
    next_snapshot: u32,
}

impl CairnDb {
    fn inner(&self) -> Result<&Inner, JsValue> {
        self.inner
            .as_ref()
            .ok_or_else(|| core_error(&CoreError::Closed))
    }

    fn inner_mut(&mut self) -> Result<&mut Inner, JsValue> {
        self.inner
            .as_mut()
            .ok_or_else(|| core_error(&CoreError::Closed))
    }

    fn seq_for(&self, snapshot: Option<u32>) -> Result<Option<u64>, JsValue> {
        match snapshot {
            None => Ok(None),
            Some(id) => self
                .snapshots
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, s)| s.sequence())
                .or_else(|| {
                    self.txns
                        .iter()
                        .find(|(i, _)| *i == id)
                        .map(|(_, t)| t.read_sequence())
                })
                .map(Some)
                .ok_or_else(|| {
                    cairn_error(
                        "SNAPSHOT_RELEASED",
                        &format!("snapshot {id} is released or belongs to another database"),
                    )
                }),
        }
    }

    fn commit(
        &mut self,
        members: Vec<Member>,
        sync: bool,
    ) -> Result<Vec<Option<JsValue>>, JsValue> {
        // Every transaction of the group is finished by this commit: take it out of the
        // table and give it the reads the wrapper recorded.
        let mut txs: Vec<Option<Transaction>> = Vec::with_capacity(members.len());
        let mut lost = Vec::with_capacity(members.len());
        let mut batches = Vec::with_capacity(members.len());
        for (b, t) in members {
            let mut tx = None;
            if let Some((id, (keys, ranges))) = t {
                if let Some(pos) = self.txns.iter().position(|(i, _)| *i == id) {
                    let mut t = self.txns.swap_remove(pos).1;
                    for k in &keys {
                        let _ = t.track_key(DEFAULT_KEYSPACE, k);
                    }
                    for [lo, hi, p] in &ranges {
                        let lo = lo.as_deref().map_or(Bound::Unbounded, Bound::Included);
                        let hi = hi.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                        let _ = t.track_range(DEFAULT_KEYSPACE, (lo, hi), p.as_deref());
                    }
                    tx = Some(t);
                } else {
                    lost.push(batches.len());
                }
            }
            txs.push(tx);
            batches.push(b);
        }
        let inner = self
            .inner
            .as_mut()
            .ok_or_else(|| core_error(&CoreError::Closed))?;
        let checks: Vec<Option<&ConflictSet>> = txs
            .iter()
            .map(|t| t.as_ref().map(|t| t.conflict_set()))
            .collect();
        let mut results = with_db!(&mut *inner, db => commit_batches(db, &batches, &checks, sync));
        drop(checks);
        for (tx, r) in txs.iter_mut().zip(results.iter()) {
            if let Some(tx) = tx {
                with_db!(&mut *inner, db => db.end_transaction(tx, r.is_none()));
            }
        }
        // The commit of an id that is not live (finished, or lost with an owner change).
        for i in lost {
            results[i] = Some(core_error(&CoreError::TransactionFinished));
        }
        Ok(results)
    }

    fn commit_one(&mut self, batch: WriteBatch, sync: Option<bool>) -> Result<(), JsValue> {
        let results = self.commit(vec![(batch, None)], sync.unwrap_or(true))?;
        match results.into_iter().next().flatten() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

#[wasm_bindgen]
impl CairnDb {
    /// Opens (creating if missing) the database `name`. In a dedicated worker it mounts the
    /// OPFS directory `name`; with `options.memory` (or where OPFS does not exist, e.g. Node)
    /// it uses an in-memory Vfs kept for the life of the wasm instance. Other options: see
    /// `wasm/js/index.d.ts` (`OpenOptions`); `minFreeFiles` sets the pool's low-water mark.
    pub async fn open(name: String, options: JsValue) -> Result<CairnDb, JsValue> {
        cairn_vfs::check_name(&name).map_err(|_| {
            invalid(&format!(
                "bad database name \"{name}\": use 1 to 64 ASCII letters, digits, '.', '-' or '_', \
                 not starting with '.'"
            ))
        })?;
        let opts = parse_options(&options)?;
        let memory = opt_bool(&options, "memory")?.unwrap_or(false);
        let host = prop(&options, "host")?;
        let inner = if host.is_object() {
            let vfs = AnyVfs::Host(HostVfs::new(host.unchecked_into::<Host>()));
            Db::open(vfs, opts).map_err(|e| core_error(&e))?
        } else if memory {
            let vfs = {
                let mut m = MEMORY.lock();
                match m.iter().find(|(n, _)| *n == name) {
                    Some((_, v)) => v.clone(),
                    None => {
                        let v = MemVfs::new();
                        m.push((name.clone(), v.clone()));
                        v
                    }
                }
            };
            Db::open(AnyVfs::Mem(vfs), opts).map_err(|e| core_error(&e))?
        } else {
            let min_free = opt_usize(&options, "minFreeFiles")?.unwrap_or(DEFAULT_MIN_FREE);
            let max_handles = opt_usize(&options, "maxOpenFiles")?;
            if matches!(max_handles, Some(n) if n < 16) {
                return Err(invalid("option maxOpenFiles must be at least 16"));
            }
            let vfs = OpfsVfs::mount(&name, min_free)
                .await
                .map_err(|e| opfs_error(&e))?;
            if let Some(n) = max_handles {
                vfs.set_max_handles(n);
            }
            open_opfs(vfs, opts).await?
        };
        Ok(CairnDb {
            name,
            inner: Some(inner),
            snapshots: Vec::new(),
            txns: Vec::new(),
            // Ids of snapshots and transactions start at random, so that a stale id sent to
            // the next owner tab after a handover names nothing there.
            next_snapshot: 1 + (js_sys::Math::random() * f64::from(1u32 << 30)) as u32,
        })
    }

    /// Deletes the database `name` and all its files. Fails with `LOCKED` while it is open
    /// (OPFS). With `memory` it forgets the in-memory database of that name.
    pub async fn destroy(name: String, memory: Option<bool>) -> Result<(), JsValue> {
        if memory.unwrap_or(false) {
            MEMORY.lock().retain(|(n, _)| *n != name);
            return Ok(());
        }
        OpfsVfs::destroy(&name).await.map_err(|e| opfs_error(&e))
    }

    /// The database name given to `open`.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// True after `close`.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// True once the browser closed one of the OPFS handles under the open database
    /// (`InvalidStateError`): the worker must close and reopen it (`engine.js` does, then
    /// retries the request).
    #[wasm_bindgen(getter)]
    pub fn stale(&self) -> bool {
        match &self.inner {
            Some(db) => matches!(db.vfs(), AnyVfs::Opfs(v) if v.is_stale()),
            None => false,
        }
    }

    /// The value of `key` (at snapshot `snapshot` if given), or `undefined`.
    pub fn get(&self, key: JsValue, snapshot: Option<u32>) -> Result<JsValue, JsValue> {
        let key = bytes_of(&key, "key")?;
        let seq = self.seq_for(snapshot)?;
        let inner = self.inner()?;
        let found = with_db!(inner, db => match seq {
            Some(s) => db.get_at(&key, s),
            None => db.get(&key),
        })
        .map_err(|e| core_error(&e))?;
        Ok(match found {
            Some(v) => Uint8Array::from(v.as_slice()).into(),
            None => JsValue::UNDEFINED,
        })
    }

    /// Sets `key` to `value`; durable when it returns unless `sync` is `false`.
    pub fn put(&mut self, key: JsValue, value: JsValue, sync: Option<bool>) -> Result<(), JsValue> {
        let key = bytes_of(&key, "key")?;
        let value = bytes_of(&value, "value")?;
        let mut b = WriteBatch::new();
        b.put(&key, &value);
        self.commit_one(b, sync)
    }

    /// Deletes `key`; durable when it returns unless `sync` is `false`.
    pub fn delete(&mut self, key: JsValue, sync: Option<bool>) -> Result<(), JsValue> {
        let key = bytes_of(&key, "key")?;
        let mut b = WriteBatch::new();
        b.delete(&key);
        self.commit_one(b, sync)
    }

    /// Deletes every key in `[start, end)` (one range tombstone); durable when it returns
    /// unless `sync` is `false`.
    #[wasm_bindgen(js_name = deleteRange)]
    pub fn delete_range(
        &mut self,
        start: JsValue,
        end: JsValue,
        sync: Option<bool>,
    ) -> Result<(), JsValue> {
        let start = bytes_of(&start, "start")?;
        let end = bytes_of(&end, "end")?;
        let mut b = WriteBatch::new();
        b.delete_range(&start, &end);
        self.commit_one(b, sync)
    }

    /// Deletes every key starting with `prefix` (one range tombstone).
    #[wasm_bindgen(js_name = deletePrefix)]
    pub fn delete_prefix(&mut self, prefix: JsValue, sync: Option<bool>) -> Result<(), JsValue> {
        let prefix = bytes_of(&prefix, "prefix")?;
        let max_key_size = {
            let inner = self.inner_mut()?;
            with_db!(inner, db => db.options().max_key_size)
        };
        let mut b = WriteBatch::new();
        b.delete_prefix(&prefix, max_key_size);
        self.commit_one(b, sync)
    }

    /// Applies `ops` atomically: an array of `{type: "put", key, value}`,
    /// `{type: "del" | "delete", key}` and `{type: "deleteRange", key, end}`.
    pub fn batch(&mut self, ops: JsValue, sync: Option<bool>) -> Result<(), JsValue> {
        let b = batch_from_js(&ops)?;
        self.commit_one(b, sync)
    }

    /// Group commit: `data` holds several batches, each encoded as `u32 count` then per
    /// operation `u8 kind` (1 put, 0 delete, 2 range delete, 3 prefix delete), `u32 keyLen`,
    /// key, and for a put `u32 valueLen`, value, for a range delete `u32 endLen`, end
    /// (little-endian). A transaction commit is `u32 0xFFFFFFFF`, `u32 id`, `u32 n`
    /// keys read for update (each `u32 len`, bytes), `u32 n` scanned ranges (each `u8 mask`,
    /// then `start`, `end`, `prefix` as `u32 len`, bytes where bits 0, 1, 2 of the mask are
    /// set), then its writes as a batch; it is checked for conflicts in group order and
    /// committed with the rest.
    /// The valid batches are committed as one WAL record, synced once when `sync`. Returns one
    /// entry per member: `null` when committed, else its `CairnError` (a batch with an
    /// oversized key fails alone, a transaction that lost its conflict check with `CONFLICT`;
    /// an I/O failure fails them all).
    #[wasm_bindgen(js_name = commitGroup)]
    pub fn commit_group(&mut self, data: &[u8], sync: bool) -> Result<Array, JsValue> {
        let max_key_size = {
            let inner = self.inner_mut()?;
            with_db!(inner, db => db.options().max_key_size)
        };
        let members = decode_group(data, max_key_size)?;
        let results = self.commit(members, sync)?;
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or(JsValue::NULL))
            .collect())
    }

    /// One page of a scan, as a flat array `[key0, value0, key1, value1, ...]`. `opts`
    /// (all optional): `start` (inclusive), `end` (exclusive), `prefix`, `reverse`, `after`
    /// (continue strictly after this key, in scan order), `limit` (entries, default 1000),
    /// `maxBytes` (default 1 MiB), `snapshot` (an id from `snapshot()`).
    pub fn scan(&self, opts: JsValue) -> Result<Array, JsValue> {
        let start = opt_bytes(&opts, "start")?;
        let end = opt_bytes(&opts, "end")?;
        let prefix = opt_bytes(&opts, "prefix")?;
        let after = opt_bytes(&opts, "after")?;
        let reverse = opt_bool(&opts, "reverse")?.unwrap_or(false);
        let limit = opt_usize(&opts, "limit")?.unwrap_or(DEFAULT_PAGE_LIMIT);
        let max_bytes = opt_usize(&opts, "maxBytes")?.unwrap_or(DEFAULT_PAGE_BYTES);
        let snapshot = match prop(&opts, "snapshot")? {
            v if v.is_undefined() || v.is_null() => None,
            v => Some(
                v.as_f64()
                    .filter(|n| *n >= 0.0 && *n <= f64::from(u32::MAX) && n % 1.0 == 0.0)
                    .map(|n| n as u32)
                    .ok_or_else(|| invalid("option snapshot must be a snapshot id"))?,
            ),
        };
        let seq = self.seq_for(snapshot)?;
        let lo = start.as_deref().map_or(Bound::Unbounded, Bound::Included);
        let hi = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let direction = if reverse {
            Direction::Reverse
        } else {
            Direction::Forward
        };
        let inner = self.inner()?;
        let page = with_db!(inner, db => {
            let seq = seq.unwrap_or_else(|| db.visible_sequence());
            db.scan_page((lo, hi), prefix.as_deref(), seq, direction, after.as_deref(), limit.max(1), max_bytes)
        })
        .map_err(|e| core_error(&e))?;
        let out = Array::new_with_length(0);
        for (k, v) in page.0 {
            out.push(&Uint8Array::from(k.as_slice()));
            out.push(&Uint8Array::from(v.as_slice()));
        }
        Ok(out)
    }

    /// Begins an optimistic transaction at the current state; returns its id. The id also
    /// works as a snapshot id for `get` and `scan` (the transaction's snapshot; the JS
    /// wrapper merges its buffered writes into those reads). `commitGroup` commits it with
    /// its writes and conflict set (a `CONFLICT` error when a write committed after it began
    /// touched what it read for update or scanned); `txEnd` rolls it back.
    #[wasm_bindgen(js_name = txBegin)]
    pub fn tx_begin(&mut self) -> Result<u32, JsValue> {
        let inner = self.inner_mut()?;
        let tx = with_db!(inner, db => db.begin_transaction()).map_err(|e| core_error(&e))?;
        let id = self.next_snapshot;
        self.next_snapshot = self.next_snapshot.wrapping_add(1).max(1);
        self.txns.push((id, tx));
        Ok(id)
    }

    /// Rolls transaction `id` back; returns whether it was live.
    #[wasm_bindgen(js_name = txEnd)]
    pub fn tx_end(&mut self, id: u32) -> bool {
        let Some(pos) = self.txns.iter().position(|(i, _)| *i == id) else {
            return false;
        };
        let (_, mut tx) = self.txns.swap_remove(pos);
        if let Some(inner) = self.inner.as_mut() {
            with_db!(inner, db => db.end_transaction(&mut tx, false));
        }
        true
    }

    /// Pins the current state; returns an id for `get`/`scan` and `releaseSnapshot`.
    pub fn snapshot(&mut self) -> Result<u32, JsValue> {
        let inner = self
            .inner
            .as_mut()
            .ok_or_else(|| core_error(&CoreError::Closed))?;
        let snap = with_db!(inner, db => db.snapshot());
        let id = self.next_snapshot;
        self.next_snapshot = self.next_snapshot.wrapping_add(1).max(1);
        self.snapshots.push((id, snap));
        Ok(id)
    }

    /// Releases a snapshot; returns whether the id was live.
    #[wasm_bindgen(js_name = releaseSnapshot)]
    pub fn release_snapshot(&mut self, id: u32) -> bool {
        let Some(pos) = self.snapshots.iter().position(|(i, _)| *i == id) else {
            return false;
        };
        let (_, snap) = self.snapshots.swap_remove(pos);
        if let Some(inner) = self.inner.as_mut() {
            with_db!(inner, db => db.release_snapshot(snap));
        }
        true
    }

    /// Writes the memtable to an SSTable now (and syncs everything).
    pub fn flush(&mut self) -> Result<(), JsValue> {
        let inner = self.inner_mut()?;
        with_db!(inner, db => db.flush()).map_err(|e| core_error(&e))
    }

    /// Runs one background job (a flush or a compaction) inline; returns whether there was
    /// one. Call it when idle, after `replenish` when `needsReserve`.
    pub fn step(&mut self) -> Result<bool, JsValue> {
        let inner = self.inner_mut()?;
        with_db!(inner, db => db.step()).map_err(|e| core_error(&e))
    }

    /// True when a flush or compaction is waiting.
    #[wasm_bindgen(js_name = hasPendingWork)]
    pub fn has_pending_work(&self) -> bool {
        match &self.inner {
            Some(inner) => with_db!(inner, db => db.has_pending_work() && !db.is_poisoned()),
            None => false,
        }
    }

    /// True when the OPFS pool has fewer free files than the next job or memtable switch may
    /// need: call `replenish()` (async) before the next write or `step()`. The need is
    /// estimated from the database size (a compaction writes at most about its input size in
    /// tables of `targetTableSize`), because creating a file inside the engine cannot wait.
    #[wasm_bindgen(js_name = needsReserve)]
    pub fn needs_reserve(&self) -> bool {
        match &self.inner {
            Some(db) => {
                let AnyVfs::Opfs(vfs) = db.vfs() else {
                    return false;
                };
                let need = pool_need(db);
                if need > vfs.low_water() {
                    vfs.set_low_water(need);
                }
                vfs.needs_reserve()
            }
            None => false,
        }
    }

    /// Grows the OPFS pool to its low-water mark; resolves to the number of files created.
    pub fn replenish(&self) -> js_sys::Promise {
        let vfs = match &self.inner {
            Some(db) => match db.vfs() {
                AnyVfs::Opfs(vfs) => {
                    let need = pool_need(db);
                    if need > vfs.low_water() {
                        vfs.set_low_water(need);
                    }
                    Some(vfs.clone())
                }
                _ => None,
            },
            None => None,
        };
        wasm_bindgen_futures::future_to_promise(async move {
            match vfs {
                Some(vfs) => {
                    let n = vfs.replenish().await.map_err(|e| opfs_error(&e))?;
                    Ok(JsValue::from_f64(n as f64))
                }
                None => Ok(JsValue::from_f64(0.0)),
            }
        })
    }

    /// Counters and sizes as a plain object (see `Stats` in `index.d.ts`).
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        let inner = self.inner()?;
        let s = with_db!(inner, db => db.stats());
        let o = Object::new();
        let set = |k: &str, v: JsValue| Reflect::set(&o, &JsValue::from_str(k), &v).map(|_| ());
        let num = |n: u64| JsValue::from_f64(n as f64);
        // A table and one loop rather than one inlined call per field: smaller wasm.
        let fields: [(&str, u64); 21] = [
            ("memtableBytes", s.memtable_bytes),
            ("immutableMemtables", s.immutable_memtables),
            ("l0Runs", s.l0_runs),
            ("lastSequence", s.last_sequence),
            ("walBytes", s.wal_bytes),
            ("walSyncs", s.wal_syncs),
            ("commits", s.commits),
            ("batches", s.batches),
            ("flushes", s.flushes),
            ("flushBytes", s.flush_bytes),
            ("compactions", s.compactions),
            ("writeSlowdowns", s.write_slowdowns),
            ("writeStops", s.write_stops),
            ("cacheHits", s.cache_hits),
            ("cacheMisses", s.cache_misses),
            ("cacheBytes", s.cache_bytes),
            ("snapshots", s.snapshots),
            ("tableBytes", s.table_bytes),
            ("tableRawBytes", s.table_raw_bytes),
            ("txnConflicts", s.txn_conflicts),
            ("txnLive", s.txn_live),
        ];
        for (k, v) in fields {
            set(k, num(v))?;
        }
        let levels = Array::new();
        for l in &s.levels {
            let lo = Object::new();
            for (k, v) in [
                ("level", l.level as u64),
                ("tables", l.tables),
                ("bytes", l.bytes),
                ("compactionRead", l.compaction_read),
                ("compactionWritten", l.compaction_written),
            ] {
                Reflect::set(&lo, &JsValue::from_str(k), &num(v))?;
            }
            levels.push(&lo);
        }
        set("levels", levels.into())?;
        let (storage, free, files, handles, max_handles) = match inner.vfs() {
            AnyVfs::Opfs(v) => (
                "opfs",
                v.free_count(),
                v.file_count(),
                v.open_handles(),
                v.max_handles(),
            ),
            AnyVfs::Mem(v) => ("memory", 0, v.list().map_or(0, |l| l.len()), 0, 0),
            AnyVfs::Host(v) => ("files", 0, v.list().map_or(0, |l| l.len()), 0, 0),
        };
        set("storage", JsValue::from_str(storage))?;
        for (k, v) in [
            ("poolFree", free),
            ("files", files),
            ("openHandles", handles),
            ("maxOpenFiles", max_handles),
            ("peakHandles", crate::opfs::peak_handles()),
        ] {
            set(k, num(v as u64))?;
        }
        let poisoned = with_db!(inner, db => db.is_poisoned());
        set("poisoned", JsValue::from_bool(poisoned))?;
        Ok(o.into())
    }

    /// Syncs and closes the database and releases its files (and, on OPFS, the sync access
    /// handles, so another worker can mount it). Later calls fail with `CLOSED`; closing
    /// twice is fine.
    pub fn close(&mut self) -> Result<(), JsValue> {
        let Some(mut inner) = self.inner.take() else {
            return Ok(());
        };
        for (_, snap) in core::mem::take(&mut self.snapshots) {
            with_db!(&mut inner, db => db.release_snapshot(snap));
        }
        for (_, mut tx) in core::mem::take(&mut self.txns) {
            with_db!(&mut inner, db => db.end_transaction(&mut tx, false));
        }
        let r = with_db!(&mut inner, db => db.close());
        drop(inner);
        r.map_err(|e| core_error(&e))
    }
}

/// Opens the engine on a mounted pool. `Db::open` creates files (current pointer, manifest,
/// WAL, and tables when a long WAL is replayed) but cannot wait for the pool to grow, so the
/// pool is first topped up to an estimate of what the open needs; if the open still runs out
/// of pool files it is retried (after a failed open the directory is in the state a crash
/// during open leaves, which recovery handles) with a larger pool.
async fn open_opfs(vfs: OpfsVfs, opts: Options) -> Result<Db<AnyVfs>, JsValue> {
    let mut wal_bytes = 0u64;
    for name in vfs.list().map_err(|e| core_error(&e.into()))? {
        if name.ends_with(".wal") {
            if let Ok(f) = vfs.open(&name) {
                wal_bytes = wal_bytes.saturating_add(f.len().unwrap_or(0));
            }
        }
    }
    let buffer = opts.write_buffer_size.max(1) as u64;
    let mut need = usize::try_from(wal_bytes / buffer)
        .unwrap_or(usize::MAX)
        .saturating_add(DEFAULT_MIN_FREE)
        .max(vfs.low_water());
    let mut attempts = 0;
    loop {
        vfs.reserve(need).await.map_err(|e| opfs_error(&e))?;
        match Db::open(AnyVfs::Opfs(vfs.clone()), opts.clone()) {
            Ok(db) => return Ok(db),
            Err(CoreError::Io(e)) if e.kind() == ErrorKind::NoSpace && attempts < 4 => {
                attempts += 1;
                need = need.saturating_mul(2);
            }
            Err(e) => return Err(core_error(&e)),
        }
    }
}

/// A `WriteBatch` from a JS array of `{type, key, value}` operations.
fn batch_from_js(ops: &JsValue) -> Result<WriteBatch, JsValue> {
    let ops = ops
        .dyn_ref::<Array>()
        .ok_or_else(|| invalid("batch operations must be an array"))?;
    let mut b = WriteBatch::new();
    for (i, op) in ops.iter().enumerate() {
        if !op.is_object() {
            return Err(invalid(&format!("batch operation {i} is not an object")));
        }
        let kind = prop(&op, "type")?.as_string().unwrap_or_default();
        let key = bytes_of(&prop(&op, "key")?, "key")?;
        match kind.as_str() {
            "put" => {
                let value = bytes_of(&prop(&op, "value")?, "value")?;
                b.put(&key, &value);
            }
            "del" | "delete" => b.delete(&key),
            "deleteRange" => {
                let end = bytes_of(&prop(&op, "end")?, "end")?;
                b.delete_range(&key, &end);
            }
            _ => {
                return Err(invalid(&format!(
                    "batch operation {i}: type must be \"put\", \"del\" or \"deleteRange\""
                )))
            }
        }
    }
    Ok(b)
}

/// Free pool files the next background job or memtable switch may need: a compaction of the
/// whole database writes about its size in tables of `target_table_size`, plus one more table,
/// a new manifest, a new WAL and a flush output, with slack.
fn pool_need(db: &Db<AnyVfs>) -> usize {
    let opts = db.options();
    let s = db.stats();
    let target = opts.target_table_size.max(1);
    let tables = s.table_bytes / target + 1;
    let tables = usize::try_from(tables).unwrap_or(usize::MAX);
    tables
        .saturating_add(s.immutable_memtables as usize)
        .saturating_add(6)
        .max(DEFAULT_MIN_FREE)
}
