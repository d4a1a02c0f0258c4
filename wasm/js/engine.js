// The request loop around one open CairnDb (wasm). Runs inside the dedicated worker that owns
// the database (or in-process in Node). Responsibilities:
//  - group commit: every write request queued when the loop runs (all the writes that arrived
//    in the same event-loop turn) becomes one `commitGroup` call: one WAL append and at most
//    one sync (`FileSystemSyncAccessHandle.flush()`); each request is answered only after that;
//  - cooperative background work: when no request is queued, one `step()` (a flush or a
//    compaction job) per macrotask, so requests wait for at most one job;
//  - the OPFS pool: `replenish()` (async) whenever `needsReserve()`, before writes and steps;
//  - measurements: the longest step (the longest cooperative pause), the longest commit;
//  - recovery without losing acknowledged data (when given a `reopen` function):
//    * a stale mount (the browser closed an OPFS sync access handle under us, which surfaces
//      as InvalidStateError): the database is closed and mounted again, and the requests that
//      failed are run once more (puts and deletes are idempotent; a batch is re-applied
//      atomically);
//    * the storage quota (QUOTA): the engine stays open for reads (it is poisoned for writes
//      only); a later write first checks navigator.storage.estimate() and, once there is room
//      again, closes and reopens the database (recovery replays the synced WAL), then writes.

/** @typedef {{code: string, message: string}} WireError */

const encoder = new TextEncoder();

export function wireError(e) {
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    return { code: e.code, message: String(e.message) };
  }
  return { code: 'INTERNAL', message: String((e && e.message) || e) };
}

function invalid(message) {
  return { code: 'INVALID_ARGUMENT', message };
}

/** Bytes of a key or value (string → UTF-8); throws a WireError for anything else. */
export function toBytes(x, what) {
  if (typeof x === 'string') return encoder.encode(x);
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  throw invalid(`${what} must be a Uint8Array or a string, not ${x === null ? 'null' : typeof x}`);
}

/** Growable little-endian encoder for write groups (format: see CairnDb.commitGroup). */
class GroupEncoder {
  constructor() {
    this.buf = new Uint8Array(1 << 16);
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }
  reset() {
    this.len = 0;
  }
  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }
  u8(x) {
    this.reserve(1);
    this.buf[this.len++] = x;
  }
  u32(x) {
    this.reserve(4);
    this.view.setUint32(this.len, x, true);
    this.len += 4;
  }
  bytes(b) {
    this.u32(b.length);
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  /** Appends one request as one batch; throws a WireError (nothing appended) on bad input. */
  request(req) {
    const ops = [];
    if (req.op === 'txCommit') {
      // A transaction: its id, what it read (keys, [start, end, prefix] ranges), then its
      // writes as a batch.
      this.u32(0xffffffff);
      this.u32(req.id);
      this.u32(req.keys.length);
      for (const k of req.keys) this.bytes(toBytes(k, 'key'));
      this.u32(req.ranges.length);
      for (const r of req.ranges) {
        this.u8((r[0] !== undefined) | ((r[1] !== undefined) << 1) | ((r[2] !== undefined) << 2));
        for (const b of r) if (b !== undefined) this.bytes(toBytes(b, 'key'));
      }
    }
    if (req.op === 'put') {
      ops.push([1, toBytes(req.key, 'key'), toBytes(req.value, 'value')]);
    } else if (req.op === 'del') {
      ops.push([0, toBytes(req.key, 'key')]);
    } else if (req.op === 'deleteRange') {
      ops.push([2, toBytes(req.key, 'start'), toBytes(req.end, 'end')]);
    } else if (req.op === 'deletePrefix') {
      ops.push([3, toBytes(req.key, 'prefix')]);
    } else {
      if (!Array.isArray(req.ops)) throw invalid('batch operations must be an array');
      req.ops.forEach((o, i) => {
        if (o === null || typeof o !== 'object') throw invalid(`batch operation ${i} is not an object`);
        if (o.type === 'put') ops.push([1, toBytes(o.key, 'key'), toBytes(o.value, 'value')]);
        else if (o.type === 'del' || o.type === 'delete') ops.push([0, toBytes(o.key, 'key')]);
        else if (o.type === 'deleteRange') ops.push([2, toBytes(o.key, 'key'), toBytes(o.end, 'end')]);
        else throw invalid(`batch operation ${i}: type must be "put", "del" or "deleteRange"`);
      });
    }
    this.u32(ops.length);
    for (const [kind, k, v] of ops) {
      this.u8(kind);
      this.bytes(k);
      if (kind === 1 || kind === 2) this.bytes(v);
    }
  }
}

const WRITE_OPS = new Set(['put', 'del', 'deleteRange', 'deletePrefix', 'batch', 'txCommit']);

/** Runs `fn` in a later macrotask (after the messages already queued). */
function makeTicker(fn) {
  if (typeof setImmediate === 'function') return () => setImmediate(fn);
  if (typeof MessageChannel === 'function') {
    const ch = new MessageChannel();
    ch.port1.onmessage = fn;
    return () => ch.port2.postMessage(0);
  }
  return () => setTimeout(fn, 0);
}

/** Free bytes the origin needs before a quota-blocked database is reopened for writes. */
const QUOTA_HEADROOM = 8 << 20;

export class Engine {
  /**
   * @param {import('./cairn_wasm.js').CairnDb} db
   * @param {() => Promise<import('./cairn_wasm.js').CairnDb>} [reopen] mounts the database
   *   again (after `db` was closed); enables stale-handle and quota recovery.
   */
  constructor(db, reopen) {
    this.db = db;
    this.reopen = reopen || null;
    this.retry = [];
    this.quotaBlocked = false;
    this.queue = [];
    this.running = false;
    this.scheduled = false;
    this.closed = false;
    this.failed = null;
    this.enc = new GroupEncoder();
    this.tick = makeTicker(() => {
      this.scheduled = false;
      this.run();
    });
    this.metrics = {
      maxStepMs: 0,
      steps: 0,
      stepMs: 0,
      maxCommitMs: 0,
      groups: 0,
      groupedRequests: 0,
      maxGroup: 0,
      replenishes: 0,
      remounts: 0,
      quotaErrors: 0,
    };
    this.onClosed = null;
    this.inflight = null;
    this.schedule();
  }

  /** Queues one request; `respond` gets `{value}` or `{error: WireError}` exactly once. */
  submit(req, respond) {
    const item = { req, done: false, respond: null };
    item.respond = (res) => {
      if (item.done) return;
      item.done = true;
      respond(res);
    };
    this.queue.push(item);
    this.schedule();
  }

  schedule() {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    this.tick();
  }

  async run() {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        if (this.quotaBlocked && !this.closed && !this.failed && (this.closedByQuota || this.queue.some((i) => WRITE_OPS.has(i.req.op)))) {
          await this.quotaRecover();
        }
        if (this.live() && this.db.needsReserve()) await this.replenish();
        const items = this.queue;
        this.queue = [];
        this.inflight = items;
        this.process(items);
        this.inflight = null;
        if (this.retry.length > 0) {
          // The mount went stale during these requests: mount again and run them once more.
          const again = this.retry.splice(0);
          await this.remount('stale OPFS handle');
          this.queue.unshift(...again);
          continue;
        }
        // Under a continuous stream of requests the queue never empties: do one background
        // job between request batches when memtables are waiting, so flushes keep up.
        if (this.queue.length > 0 && this.backlog()) {
          if (this.db.needsReserve()) await this.replenish();
          this.stepOnce();
        }
      }
      if (this.live() && this.db.hasPendingWork()) {
        if (this.db.needsReserve()) await this.replenish();
        this.stepOnce();
      }
      if (this.staleStep && this.live()) {
        this.staleStep = false;
        await this.remount('stale OPFS handle');
      }
    } catch (e) {
      this.fail(e);
    } finally {
      this.running = false;
    }
    if (this.queue.length > 0 || (this.live() && this.db.hasPendingWork())) {
      this.schedule();
    }
  }

  backlog() {
    if (!this.live() || this.quotaBlocked || !this.db.hasPendingWork()) return false;
    return true;
  }

  /**
   * Closes the database and mounts it again (the Web Lock of this worker is kept). Fails
   * every queued request when the mount cannot be redone within 10 s.
   */
  async remount(why) {
    try {
      this.db.close();
    } catch {
      // A stale or quota-poisoned database may fail to sync on close; the WAL has what was
      // acknowledged.
    }
    try {
      this.db.free();
    } catch {
      // Already freed.
    }
    const deadline = Date.now() + 10000;
    let delay = 20;
    for (;;) {
      try {
        this.db = await this.reopen();
        this.closedByQuota = false;
        this.metrics.remounts++;
        this.lastRemount = why;
        return true;
      } catch (e) {
        const err = wireError(e);
        if (Date.now() < deadline && err.code === 'LOCKED') {
          // The old handles may be released a moment later.
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 500);
          continue;
        }
        this.failed = err;
        return false;
      }
    }
  }

  /** Reopens a quota-blocked database for writes once the origin has room again. */
  async quotaRecover() {
    let room = true;
    try {
      if (typeof navigator !== 'undefined' && navigator.storage && navigator.storage.estimate) {
        const { usage, quota } = await navigator.storage.estimate();
        room = quota - usage >= QUOTA_HEADROOM;
      }
    } catch {
      // No estimate: try anyway.
    }
    if (!room || !this.reopen) return;
    this.quotaBlocked = false;
    await this.remount('quota');
    if (this.failed && this.failed.code === 'QUOTA') {
      // Still no room to recover: keep trying on later writes. (The database could not be
      // reopened, so reads fail with QUOTA too until then.)
      this.failed = null;
      this.quotaBlocked = true;
      this.closedByQuota = true;
    }
  }

  /** True while `this.db` is an open database this loop may call. */
  live() {
    return !this.closed && !this.failed && !this.closedByQuota;
  }

  /** Answers `item`, or keeps it for a retry after a remount when the mount went stale. */
  reply(item, res) {
    if (res.error) {
      if (res.error.code === 'QUOTA') {
        this.metrics.quotaErrors++;
        if (this.reopen) this.quotaBlocked = true;
      } else if (this.reopen && !item.retried && !this.db.closed && this.db.stale) {
        item.retried = true;
        this.retry.push(item);
        return;
      }
    }
    item.respond(res);
  }

  async replenish() {
    try {
      await this.db.replenish();
      this.metrics.replenishes++;
    } catch (e) {
      // Not fatal by itself: a later create fails with NO_SPACE / IO and is reported then.
      this.lastReplenishError = wireError(e);
    }
  }

  stepOnce() {
    const t0 = performance.now();
    try {
      this.db.step();
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) throw e;
      // The engine poisons itself on background failures; writes report it from now on.
      this.lastStepError = wireError(e);
      if (this.lastStepError.code === 'QUOTA' && this.reopen) this.quotaBlocked = true;
      if (this.reopen && this.db.stale) this.staleStep = true;
    }
    const ms = performance.now() - t0;
    this.metrics.steps++;
    this.metrics.stepMs += ms;
    if (ms > this.metrics.maxStepMs) this.metrics.maxStepMs = ms;
  }

  fail(e) {
    // A trap in the wasm code (a bug): its memory may be inconsistent, so nothing more runs.
    this.failed = wireError(e);
    this.failed.code = 'INTERNAL';
    for (const { respond } of this.inflight || []) respond({ error: this.failed });
    this.inflight = null;
    for (const { respond } of this.queue.splice(0)) respond({ error: this.failed });
  }

  process(items) {
    let group = [];
    let groupSync = false;
    const flushGroup = () => {
      if (group.length === 0) return;
      this.commitGroup(group, groupSync);
      group = [];
      groupSync = false;
    };
    for (const item of items) {
      const { req, respond } = item;
      if (this.failed) {
        respond({ error: this.failed });
        continue;
      }
      if (this.closed) {
        respond({ error: { code: 'CLOSED', message: 'database is closed' } });
        continue;
      }
      if (this.closedByQuota) {
        if (req.op === 'close') {
          this.closed = true;
          if (this.onClosed) queueMicrotask(this.onClosed);
          respond({ value: undefined });
        } else {
          respond({ error: { code: 'QUOTA', message: 'the storage quota is exhausted; the database reopens once space is freed' } });
        }
        continue;
      }
      if (WRITE_OPS.has(req.op)) {
        group.push(item);
        if (req.sync !== false) groupSync = true;
        continue;
      }
      flushGroup();
      if (req.op === 'stats') {
        this.stats(item);
        continue;
      }
      try {
        this.reply(item, { value: this.handle(req) });
      } catch (e) {
        if (e instanceof WebAssembly.RuntimeError) throw e;
        this.reply(item, { error: wireError(e) });
      }
    }
    flushGroup();
  }

  commitGroup(group, sync) {
    const enc = this.enc;
    enc.reset();
    const members = [];
    for (const item of group) {
      const mark = enc.len;
      try {
        enc.request(item.req);
        members.push(item);
      } catch (e) {
        enc.len = mark;
        item.respond({ error: wireError(e) });
      }
    }
    if (members.length === 0) return;
    const t0 = performance.now();
    let results;
    try {
      results = this.db.commitGroup(enc.buf.subarray(0, enc.len), sync);
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) throw e;
      const err = wireError(e);
      for (const m of members) this.reply(m, { error: err });
      return;
    }
    const ms = performance.now() - t0;
    if (ms > this.metrics.maxCommitMs) this.metrics.maxCommitMs = ms;
    this.metrics.groups++;
    this.metrics.groupedRequests += members.length;
    if (members.length > this.metrics.maxGroup) this.metrics.maxGroup = members.length;
    members.forEach((m, i) => {
      const r = results[i];
      this.reply(m, r == null ? { value: undefined } : { error: wireError(r) });
    });
    if (enc.buf.length > 8 << 20) this.enc = new GroupEncoder();
  }

  /** `stats`: the engine's counters, this loop's metrics and the origin's storage estimate. */
  stats(item) {
    let s;
    try {
      s = { ...this.db.stats(), ...this.metrics, queued: this.queue.length, quotaBlocked: this.quotaBlocked };
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) throw e;
      this.reply(item, { error: wireError(e) });
      return;
    }
    const est = typeof navigator !== 'undefined' && navigator.storage && navigator.storage.estimate ? navigator.storage.estimate() : null;
    if (!est) {
      item.respond({ value: s });
      return;
    }
    est.then(
      ({ usage, quota }) => item.respond({ value: { ...s, estimate: { usage, quota } } }),
      () => item.respond({ value: s }),
    );
  }

  handle(req) {
    const db = this.db;
    switch (req.op) {
      case 'get':
        return db.get(toBytes(req.key, 'key'), req.snapshot ?? undefined);
      case 'scan': {
        const limit = req.limit ?? 1000;
        const maxBytes = req.maxBytes ?? 1 << 20;
        const kv = db.scan({
          start: req.start,
          end: req.end,
          prefix: req.prefix,
          reverse: !!req.reverse,
          after: req.after,
          limit,
          maxBytes,
          snapshot: req.snapshot,
        });
        let bytes = 0;
        for (const b of kv) bytes += b.length + 16;
        const n = kv.length / 2;
        return { kv, more: n >= limit || bytes >= maxBytes };
      }
      case 'snapshot':
        return db.snapshot();
      case 'txBegin':
        return db.txBegin();
      case 'txEnd':
        return db.txEnd(req.id);
      case 'release':
        return db.releaseSnapshot(req.id);
      case 'flush':
        db.flush();
        return undefined;
      case 'ping':
        return 'pong';
      case 'close':
        this.closed = true;
        db.close();
        if (this.onClosed) queueMicrotask(this.onClosed);
        return undefined;
      default:
        throw invalid(`unknown operation ${JSON.stringify(req.op)}`);
    }
  }
}
