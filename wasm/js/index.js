// cairn-db: the main-thread API.
//
//   import { Cairn } from 'cairn-db';
//   const db = await Cairn.open('notes');
//   await db.put('a', 'hello');                 // resolves once durable
//   const v = await db.get('a', { asString: true });
//   for await (const [k, v] of db.scan({ prefix: 'a' })) { ... }
//
// In a browser, `Cairn.open` starts a module Worker that owns the database on OPFS (or
// forwards to the tab that owns it, see worker.js). In Node (20+) the same API runs in-process
// over real files in a directory (node.js), or in memory with { backend: 'memory' } (README.md).

const isNode =
  typeof process !== 'undefined' && !!(process.versions && process.versions.node) && typeof window === 'undefined' && typeof importScripts === 'undefined';

const decoder = new TextDecoder();

/** An error from Cairn; `code` is stable (KEY_TOO_LARGE, CLOSED, LOCKED, CORRUPTION, ...). */
export class CairnError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'CairnError';
    this.code = code;
  }
}

function toError(e) {
  if (e instanceof CairnError) return e;
  return new CairnError(e.code || 'INTERNAL', e.message || String(e));
}

function wireOf(e) {
  return { code: e.code || 'INTERNAL', message: e.message || String(e) };
}

/**
 * The wasm module, compiled once per page (streaming) and sent to every worker this page
 * starts, so that each open neither fetches nor compiles it again. null when compiling here
 * fails (the worker then fetches it itself).
 */
let compiled = null;
function wasmModule() {
  if (!compiled) {
    const url = new URL('./cairn_wasm_bg.wasm', import.meta.url);
    compiled = (typeof WebAssembly.compileStreaming === 'function'
      ? WebAssembly.compileStreaming(fetch(url))
      : fetch(url).then((r) => r.arrayBuffer()).then((b) => WebAssembly.compile(b))
    ).catch(() => null);
  }
  return compiled;
}

/** Open databases of this page, suspended on pagehide and resumed on pageshow. */
const live = new Set();
if (typeof addEventListener === 'function' && typeof window !== 'undefined') {
  addEventListener('pagehide', () => {
    for (const db of live) db.t.suspend();
  });
  addEventListener('pageshow', (ev) => {
    if (!ev.persisted) return;
    for (const db of live) db.t.resume();
  });
}

function checkKey(x, what) {
  if (typeof x === 'string' || x instanceof Uint8Array) return;
  if (x instanceof ArrayBuffer || ArrayBuffer.isView(x)) return;
  throw new CairnError('INVALID_ARGUMENT', `${what} must be a Uint8Array or a string, not ${x === null ? 'null' : typeof x}`);
}

/**
 * Talks to a worker (browser) by postMessage, coalescing all requests of one turn.
 * `makeWorker()` starts a worker; it is called again by `resume()` after `suspend()`.
 */
class WorkerTransport {
  constructor(makeWorker) {
    this.makeWorker = makeWorker;
    this.pending = new Map();
    this.nextId = 1;
    this.outbox = [];
    this.fatal = null;
    this.role = null;
    this.waiters = [];
    this.suspended = false;
    this.openMsg = null;
    this.attach(makeWorker());
  }

  attach(worker) {
    this.worker = worker;
    worker.onmessage = ({ data: m }) => this.onMessage(m);
    worker.onerror = (ev) => {
      this.failAll({ code: 'INTERNAL', message: `cairn-db worker failed: ${ev.message || 'error'}` });
    };
  }

  /**
   * The page is hidden (pagehide; maybe kept in the back/forward cache): stop the worker at
   * once, which releases the OPFS sync access handles and the Web Lock so that other tabs are
   * not wedged behind a frozen page. Requests not answered yet are kept and re-sent by
   * `resume()` (acknowledged writes were synced before their acknowledgement).
   */
  suspend() {
    if (this.suspended || this.fatal || !this.openMsg) return;
    this.suspended = true;
    this.worker.terminate();
  }

  /** The page is shown again: start a new worker, open the database again, re-send. */
  async resume() {
    if (!this.suspended || this.fatal) return;
    this.attach(this.makeWorker());
    try {
      await this.control(this.openMsg);
    } catch (e) {
      this.failAll(wireOf(e));
      return;
    }
    this.suspended = false;
    const reqs = [...this.pending].map(([id, p]) => ({ id, req: p.req }));
    if (reqs.length) this.worker.postMessage({ type: 'reqs', reqs });
  }

  onMessage(m) {
    switch (m.type) {
      case 'res':
        for (const r of m.res) {
          const p = this.pending.get(r.id);
          if (!p) continue;
          this.pending.delete(r.id);
          if (r.error) p.reject(toError(r.error));
          else p.resolve(r.value);
        }
        break;
      case 'opened':
        this.role = m.role;
        this.wasmFrom = m.wasmFrom;
        this.waiters.splice(0).forEach((w) => w.resolve(m));
        break;
      case 'open-error':
      case 'destroyed':
        this.waiters.splice(0).forEach((w) => (m.error ? w.reject(toError(m.error)) : w.resolve(m)));
        break;
      case 'fatal':
        this.failAll(m.error);
        break;
      default:
        break;
    }
  }

  failAll(error) {
    this.fatal = error;
    for (const [, p] of this.pending) p.reject(toError(error));
    this.pending.clear();
    this.waiters.splice(0).forEach((w) => w.reject(toError(error)));
  }

  control(msg) {
    if (msg.type === 'open') this.openMsg = msg;
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      try {
        this.worker.postMessage(msg);
      } catch {
        // A Module that cannot be sent (another agent cluster): the worker fetches the wasm.
        const { module, ...rest } = msg;
        this.worker.postMessage(rest);
      }
    });
  }

  call(req) {
    if (this.fatal) return Promise.reject(toError(this.fatal));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject, req });
      if (this.suspended) return; // sent by resume()
      this.outbox.push({ id, req });
      if (this.outbox.length === 1) {
        queueMicrotask(() => {
          const reqs = this.outbox;
          this.outbox = [];
          if (this.suspended) return; // kept in pending, sent by resume()
          try {
            this.worker.postMessage({ type: 'reqs', reqs });
          } catch (e) {
            // Not cloneable (a function, a symbol...): fail these requests only.
            for (const r of reqs) {
              const p = this.pending.get(r.id);
              this.pending.delete(r.id);
              if (p) p.reject(new CairnError('INVALID_ARGUMENT', `cannot send request: ${e.message}`));
            }
          }
        });
      }
    });
  }

  terminate() {
    this.worker.terminate();
    this.fatal = { code: 'CLOSED', message: 'database is closed' };
    this.failAll(this.fatal);
  }
}

/** In-process transport (Node): the engine runs on this thread over an in-memory store. */
class LocalTransport {
  constructor(engine) {
    this.engine = engine;
    this.role = 'owner';
  }
  call(req) {
    return new Promise((resolve, reject) => {
      this.engine.submit(req, (r) => (r.error ? reject(toError(r.error)) : resolve(r.value)));
    });
  }
  terminate() {}
}

/** Node: `{ backend: 'memory' }` (or `memory: true`) keeps the data in memory; the default is files. */
function nodeMemory(o) {
  if (o.backend !== undefined && o.backend !== 'memory' && o.backend !== 'files') {
    throw new CairnError('INVALID_ARGUMENT', `option backend must be "files" or "memory" in Node, not ${String(o.backend)}`);
  }
  return o.backend === 'memory' || o.memory === true;
}

let nodeModule = null;
async function loadNode() {
  if (!nodeModule) {
    nodeModule = (async () => {
      const wasm = await import('./cairn_wasm.js');
      const { readFile } = await import('node:fs/promises');
      const bytes = await readFile(new URL('./cairn_wasm_bg.wasm', import.meta.url));
      wasm.initSync({ module: bytes });
      const { Engine } = await import('./engine.js');
      return { CairnDb: wasm.CairnDb, Engine };
    })();
  }
  return nodeModule;
}

/** A pinned read point; pass it as `{snapshot}` to get/scan, and release it when done. */
export class Snapshot {
  constructor(db, id) {
    this.db = db;
    this.id = id;
    this.released = false;
  }
  async release() {
    if (this.released) return;
    this.released = true;
    try {
      await this.db.t.call({ op: 'release', id: this.id });
    } catch (e) {
      if (!(e instanceof CairnError && e.code === 'CLOSED')) throw e;
    }
  }
}

function snapId(s) {
  if (s === undefined || s === null) return undefined;
  if (s instanceof Snapshot) return s.id;
  throw new CairnError('INVALID_ARGUMENT', 'snapshot must be a Snapshot from db.snapshot()');
}

const encoder = new TextEncoder();
const latin1 = new TextDecoder('latin1'); // one distinct char per byte: a Map key for bytes
const bytesOf = (x) => (typeof x === 'string' ? encoder.encode(x) : x instanceof Uint8Array ? x : new Uint8Array(ArrayBuffer.isView(x) ? x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength) : x));
const cmp = (a, b) => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
};
const FINISHED = () => new CairnError('TRANSACTION_FINISHED', 'the transaction is finished (committed, rolled back or failed)');

/**
 * An optimistic transaction (see `Cairn.transaction`): reads see the state it began at plus
 * its own writes, which are buffered here until `commit`; `getForUpdate` and every `scan`
 * join its conflict set, checked by the worker at commit. After `commit` or `rollback` every
 * call rejects with TRANSACTION_FINISHED.
 */
export class Transaction {
  constructor(db, id) {
    this.db = db;
    this.snap = new Snapshot(db, id);
    this.done = false;
    this.w = new Map(); // key as a string of char codes -> [key bytes, value bytes | undefined]
    this.keys = [];
    this.ranges = [];
  }
  async get(key, opts = {}) {
    if (this.done) throw FINISHED();
    checkKey(key, 'key');
    const k = bytesOf(key);
    if (opts.forUpdate) this.keys.push(k);
    const p = this.w.get(latin1.decode(k));
    const v = p ? p[1] : await this.db.t.call({ op: 'get', key: k, snapshot: this.snap.id });
    return v !== undefined && opts.asString ? decoder.decode(v) : v;
  }
  getForUpdate(key, opts = {}) {
    return this.get(key, { ...opts, forUpdate: true });
  }
  async put(key, value) {
    if (this.done) throw FINISHED();
    checkKey(key, 'key');
    if (value !== undefined) checkKey(value, 'value');
    const k = bytesOf(key);
    this.w.set(latin1.decode(k), [k, value === undefined ? undefined : bytesOf(value)]);
  }
  delete(key) {
    return this.put(key, undefined);
  }
  /** Like `Cairn.scan` (no `snapshot` option); the whole range joins the conflict set. */
  async *scan(opts = {}) {
    if (this.done) throw FINISHED();
    const r = [opts.start, opts.end, opts.prefix].map((b) => (b === undefined ? b : (checkKey(b, 'range'), bytesOf(b))));
    this.ranges.push(r);
    const [lo, hi, pre] = r;
    const dir = opts.reverse ? -1 : 1;
    const mine = [...this.w.values()]
      .filter(([k]) => (!lo || cmp(k, lo) >= 0) && (!hi || cmp(k, hi) < 0) && (!pre || (k.length >= pre.length && cmp(k.subarray(0, pre.length), pre) === 0)))
      .sort((a, b) => dir * cmp(a[0], b[0]));
    let i = 0;
    let left = opts.limit === undefined ? Infinity : opts.limit;
    const out = (k, v) => [opts.keyAsString ? decoder.decode(k) : k, opts.valueAsString ? decoder.decode(v) : v];
    for await (const [k, v] of this.db.scan({ ...opts, limit: undefined, keyAsString: false, valueAsString: false, snapshot: this.snap })) {
      for (; i < mine.length && dir * cmp(mine[i][0], k) <= 0 && left > 0; i++) {
        if (mine[i][1] !== undefined) yield (left--, out(...mine[i]));
      }
      if (left <= 0) return;
      if (i > 0 && cmp(mine[i - 1][0], k) === 0) continue;
      yield (left--, out(k, v));
    }
    for (; i < mine.length && left > 0; i++) if (mine[i][1] !== undefined) yield (left--, out(...mine[i]));
  }
  /** Commits (group commit; durable unless `{sync: false}`); CONFLICT writes nothing. */
  async commit(opts = {}) {
    if (this.done) throw FINISHED();
    this.done = true;
    if (this.w.size === 0) return this.db.t.call({ op: 'txEnd', id: this.snap.id }).then(() => undefined);
    const ops = [...this.w.values()].map(([key, value]) => (value === undefined ? { type: 'del', key } : { type: 'put', key, value }));
    return this.db.t.call({ op: 'txCommit', id: this.snap.id, keys: this.keys, ranges: this.ranges, ops, sync: opts.sync !== false });
  }
  async rollback() {
    if (this.done) throw FINISHED();
    this.done = true;
    await this.db.t.call({ op: 'txEnd', id: this.snap.id });
  }
}

export class Cairn {
  constructor(name, transport) {
    this.name = name;
    this.t = transport;
  }

  /**
   * Opens (creating if missing) the database `name`. Browser: OPFS, owned by a worker of
   * this tab or of another tab of the origin. Node: in memory.
   */
  static async open(name, options = {}) {
    if (typeof name !== 'string' || name.length === 0) {
      throw new CairnError('INVALID_ARGUMENT', 'database name must be a non-empty string');
    }
    if (isNode) {
      const { CairnDb, Engine } = await loadNode();
      const memory = nodeMemory(options);
      let db;
      try {
        // Files in the directory `name` (wasm/js/node.js), or memory on request.
        const f = memory ? null : (await import('./node.js')).files(name, options);
        db = await CairnDb.open(f ? f.name : name, { ...options, memory, host: f && f.host });
      } catch (e) {
        throw toError(e);
      }
      const c = new Cairn(name, new LocalTransport(new Engine(db)));
      c.backend = memory ? 'memory' : 'files';
      return c;
    }
    const url = options.workerUrl || new URL('./worker.js', import.meta.url);
    const t = new WorkerTransport(() => new Worker(url, { type: 'module', name: `cairn-db:${name}` }));
    const { workerUrl, ...rest } = options;
    try {
      await t.control({ type: 'open', name, options: rest, module: await wasmModule() });
    } catch (e) {
      t.worker.terminate();
      throw e;
    }
    const db = new Cairn(name, t);
    db.backend = options.memory ? 'memory' : 'opfs';
    live.add(db);
    return db;
  }

  /**
   * Asks the browser to keep this origin's storage (and so its databases) when it runs short
   * of space: `navigator.storage.persist()`, which must be called from the page (it does not
   * exist in workers). Resolves to true when storage is persistent. Node: true (files).
   */
  static async persist() {
    if (isNode) return true;
    if (typeof navigator === 'undefined' || !navigator.storage || typeof navigator.storage.persist !== 'function') return false;
    if (typeof navigator.storage.persisted === 'function' && (await navigator.storage.persisted())) return true;
    return navigator.storage.persist();
  }

  /** Deletes the database `name` (fails with LOCKED while any tab has it open). */
  static async destroy(name, options = {}) {
    if (isNode) {
      try {
        if (nodeMemory(options)) await (await loadNode()).CairnDb.destroy(name, true);
        else (await import('./node.js')).destroy(name);
      } catch (e) {
        throw toError(e);
      }
      return;
    }
    const url = options.workerUrl || new URL('./worker.js', import.meta.url);
    const t = new WorkerTransport(() => new Worker(url, { type: 'module' }));
    try {
      await t.control({ type: 'destroy', name, options: { memory: !!options.memory }, module: await wasmModule() });
    } finally {
      t.worker.terminate();
    }
  }

  /** 'owner' when this tab's worker owns the files, 'client' when another tab does. */
  role() {
    return this.t.call({ op: 'role' }).catch(() => this.t.role);
  }

  async get(key, opts = {}) {
    checkKey(key, 'key');
    const v = await this.t.call({ op: 'get', key, snapshot: snapId(opts.snapshot) });
    if (v !== undefined && opts.asString) return decoder.decode(v);
    return v;
  }

  put(key, value, opts = {}) {
    try {
      checkKey(key, 'key');
      checkKey(value, 'value');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.t.call({ op: 'put', key, value, sync: opts.sync !== false });
  }

  delete(key, opts = {}) {
    try {
      checkKey(key, 'key');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.t.call({ op: 'del', key, sync: opts.sync !== false });
  }

  /** Deletes every key in [start, end) with one range tombstone. */
  deleteRange(start, end, opts = {}) {
    try {
      checkKey(start, 'start');
      checkKey(end, 'end');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.t.call({ op: 'deleteRange', key: start, end, sync: opts.sync !== false });
  }

  /** Deletes every key starting with prefix with one range tombstone. */
  deletePrefix(prefix, opts = {}) {
    try {
      checkKey(prefix, 'prefix');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.t.call({ op: 'deletePrefix', key: prefix, sync: opts.sync !== false });
  }

  batch(ops, opts = {}) {
    if (!Array.isArray(ops)) return Promise.reject(new CairnError('INVALID_ARGUMENT', 'batch operations must be an array'));
    return this.t.call({ op: 'batch', ops, sync: opts.sync !== false });
  }

  async snapshot() {
    const id = await this.t.call({ op: 'snapshot' });
    return new Snapshot(this, id);
  }

  /**
   * Iterates `[key, value]` pairs in key order (or reverse), fetching pages from the worker.
   * Options: start (inclusive), end (exclusive), prefix, reverse, limit, pageSize, snapshot,
   * keyAsString, valueAsString. Without a snapshot, the scan takes (and releases) its own,
   * so all pages read the same state.
   */
  async *scan(opts = {}) {
    for (const k of ['start', 'end', 'prefix']) if (opts[k] !== undefined) checkKey(opts[k], k);
    let snap = opts.snapshot;
    const own = snap === undefined;
    if (own) snap = await this.snapshot();
    else snapId(snap);
    const pageSize = Math.max(1, opts.pageSize || 1000);
    let remaining = opts.limit === undefined ? Infinity : opts.limit;
    let after;
    try {
      while (remaining > 0) {
        const req = {
          op: 'scan',
          start: opts.start,
          end: opts.end,
          prefix: opts.prefix,
          reverse: !!opts.reverse,
          after,
          limit: Math.min(pageSize, remaining),
          snapshot: snap.id,
        };
        let page;
        try {
          page = await this.t.call(req);
        } catch (e) {
          // The owner tab changed (its snapshots are gone): continue on a fresh snapshot.
          if (own && e instanceof CairnError && e.code === 'SNAPSHOT_RELEASED') {
            snap = await this.snapshot();
            continue;
          }
          throw e;
        }
        const kv = page.kv;
        for (let i = 0; i < kv.length; i += 2) {
          const k = kv[i];
          const v = kv[i + 1];
          yield [opts.keyAsString ? decoder.decode(k) : k, opts.valueAsString ? decoder.decode(v) : v];
        }
        remaining -= kv.length / 2;
        if (!page.more || kv.length === 0) break;
        after = kv[kv.length - 2];
      }
    } finally {
      if (own) await snap.release().catch(() => {});
    }
  }

  /**
   * Runs `fn(tx)` in a transaction and commits it, running it again with a fresh transaction
   * when the commit fails with CONFLICT, up to `retries` attempts (default 16) in all; resolves
   * to what the committed attempt's `fn` returned. Any other error rolls back and rejects.
   * `fn` may run more than once: keep effects outside the transaction out of it.
   */
  async transaction(fn, opts = {}) {
    const attempts = Math.max(1, opts.retries ?? 16);
    for (let attempt = 1; ; attempt++) {
      const tx = new Transaction(this, await this.t.call({ op: 'txBegin' }));
      try {
        const result = await fn(tx);
        if (!tx.done) await tx.commit(opts);
        return result;
      } catch (e) {
        if (!tx.done) await tx.rollback().catch(() => {});
        if (!(e instanceof CairnError && e.code === 'CONFLICT' && attempt < attempts)) throw e;
      }
    }
  }

  /** Writes the memtable to an SSTable now. */
  flush() {
    return this.t.call({ op: 'flush' });
  }

  /** Engine counters plus worker metrics (maxStepMs: the longest cooperative pause). */
  stats() {
    return this.t.call({ op: 'stats' });
  }

  /** Closes the database (the owner syncs, closes and hands the lock to the next tab). */
  async close() {
    if (this.t.suspended) {
      this.t.terminate();
      live.delete(this);
      return;
    }
    try {
      await this.t.call({ op: 'close' });
    } catch (e) {
      if (!(e instanceof CairnError && e.code === 'CLOSED')) throw e;
    }
    this.t.terminate();
    live.delete(this);
  }
}

export default Cairn;
