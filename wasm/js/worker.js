// The dedicated module Worker behind `Cairn.open` in a browser tab.
//
// One database may be opened by many tabs of an origin. Exactly one worker owns it at a time:
// the one holding the exclusive Web Lock `cairn-db:<name>` (held for the life of the open
// database). The owner mounts the OPFS files and runs the engine; every other tab's worker is a
// client that forwards its tab's requests to the owner over the BroadcastChannel
// `cairn-db:<name>` and routes the answers back by request id. A client's own lock request
// stays queued; when the owner's tab closes (or crashes, or closes the database) the browser
// grants the lock to the next waiting worker, which mounts the files, announces itself, and
// every client re-sends the requests that were not answered yet. Acknowledged writes were
// synced by the old owner before they were acknowledged, so the new owner recovers them.
// A write re-sent after the owner died may have been applied already: puts and deletes are
// idempotent, so applying one twice is harmless (a batch is applied twice atomically).

import init, { CairnDb } from './cairn_wasm.js';
import { Engine, wireError } from './engine.js';

const me = typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : String(Math.random()).slice(2);
// The wasm: instantiated from the WebAssembly.Module the page compiled once and sent with the
// open/destroy message (no fetch, no compile per open), or fetched here when none came.
let wasmReady = null;
let wasmFrom = null;
function ready(module) {
  if (!wasmReady) {
    wasmFrom = module instanceof WebAssembly.Module ? 'module' : 'fetch';
    wasmReady = wasmFrom === 'module' ? init({ module_or_path: module }) : init();
  }
  return wasmReady;
}

let name = null;
let options = {};
let chan = null;
let role = 'connecting'; // 'owner' | 'client' | 'closed' | 'failed'
let engine = null;
let ownerId = null;
let releaseLock = null;
const lockAbort = new AbortController();
let openResolved = false;
let rid = 0;
/** Requests forwarded to the owner and not answered yet: rid → {req, respond}. */
const forwarded = new Map();

// --- messages to this tab's main thread, batched per turn --------------------------------
let outMain = [];
function toMain(id, res) {
  outMain.push({ id, ...res });
  if (outMain.length === 1) {
    queueMicrotask(() => {
      const res = outMain;
      outMain = [];
      postMessage({ type: 'res', res });
    });
  }
}

// --- messages on the BroadcastChannel, batched per turn and destination -------------------
const outChan = new Map();
function toChan(to, type, item) {
  const key = `${type}:${to}`;
  let box = outChan.get(key);
  if (!box) {
    box = [];
    outChan.set(key, box);
    queueMicrotask(() => {
      outChan.delete(key);
      if (chan) chan.postMessage({ type, to, from: me, items: box });
    });
  }
  box.push(item);
}

function opened(extra = {}) {
  if (openResolved) return;
  openResolved = true;
  postMessage({ type: 'opened', role, wasmFrom, ...extra });
}

function failOpen(error) {
  if (openResolved) {
    // The open already succeeded as a client; this tab could not take over.
    role = 'failed';
    postMessage({ type: 'fatal', error });
    for (const [, p] of forwarded) p.respond({ error });
    forwarded.clear();
    return;
  }
  openResolved = true;
  role = 'failed';
  postMessage({ type: 'open-error', error });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function mount() {
  // The previous owner's sync access handles may be released a moment after its lock.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await CairnDb.open(name, options);
    } catch (e) {
      if (e && e.code === 'LOCKED' && Date.now() < deadline) {
        await sleep(50);
        continue;
      }
      throw e;
    }
  }
}

async function becomeOwner() {
  let db;
  try {
    db = await mount();
  } catch (e) {
    if (releaseLock) releaseLock();
    failOpen(wireError(e));
    return;
  }
  if (role === 'closed') {
    db.close();
    if (releaseLock) releaseLock();
    return;
  }
  engine = new Engine(db, () => CairnDb.open(name, options));
  engine.onClosed = () => {
    role = 'closed';
    if (releaseLock) releaseLock();
  };
  role = 'owner';
  ownerId = me;
  if (chan) chan.postMessage({ type: 'owner', owner: me });
  // Requests this tab forwarded to an owner that is gone: run them here.
  for (const [r, p] of forwarded) {
    forwarded.delete(r);
    engine.submit(p.req, p.respond);
  }
  opened();
}

/** Resolves to true once the lock is granted (it is then held until releaseLock()). */
function requestLock(ifAvailable) {
  return new Promise((resolve, reject) => {
    const opts = { mode: 'exclusive' };
    if (ifAvailable) opts.ifAvailable = true;
    else opts.signal = lockAbort.signal;
    navigator.locks
      .request(`cairn-db:${name}`, opts, (lock) => {
        if (!lock) {
          resolve(false);
          return undefined;
        }
        resolve(true);
        return new Promise((r) => {
          releaseLock = r;
        });
      })
      .catch(reject);
  });
}

function submit(req, respond) {
  if (role === 'owner') {
    engine.submit(req, respond);
    return;
  }
  if (role === 'closed' || role === 'failed') {
    respond({ error: { code: 'CLOSED', message: 'database is closed' } });
    return;
  }
  const r = ++rid;
  forwarded.set(r, { req, respond });
  if (ownerId) toChan(ownerId, 'reqs', { rid: r, req });
}

function onChannel({ data: m }) {
  if (!m || typeof m !== 'object') return;
  switch (m.type) {
    case 'who':
      if (role === 'owner' && !engine.closed) chan.postMessage({ type: 'owner', owner: me });
      break;
    case 'owner':
      if (m.owner === me || role === 'owner') break;
      if (m.owner !== ownerId) {
        ownerId = m.owner;
        // Re-send everything not answered yet (the old owner may have died with it).
        for (const [r, p] of forwarded) toChan(ownerId, 'reqs', { rid: r, req: p.req });
      }
      if (role === 'connecting') {
        role = 'client';
        opened();
      }
      break;
    case 'reqs':
      if (m.to !== me || role !== 'owner') break;
      for (const { rid: r, req } of m.items) {
        engine.submit(req, (res) => {
          // Requests that reach a closing owner are not answered: the client re-sends them
          // to the next owner.
          if (engine.closed && res.error && res.error.code === 'CLOSED') return;
          toChan(m.from, 'ress', { rid: r, res });
        });
      }
      break;
    case 'ress':
      if (m.to !== me) break;
      for (const { rid: r, res } of m.items) {
        const p = forwarded.get(r);
        if (p) {
          forwarded.delete(r);
          p.respond(res);
        }
      }
      break;
    default:
      break;
  }
}

async function open(msg) {
  name = msg.name;
  options = msg.options || {};
  try {
    await ready(msg.module);
  } catch (e) {
    failOpen(wireError(e));
    return;
  }
  const multiTab = options.multiTab !== false && typeof BroadcastChannel === 'function';
  if (typeof navigator.locks === 'undefined') {
    // No Web Locks: the OPFS lock file still keeps a second tab out (LOCKED).
    await becomeOwner();
    return;
  }
  if (!multiTab) {
    let granted;
    try {
      granted = await requestLock(true);
    } catch (e) {
      failOpen(wireError(e));
      return;
    }
    if (!granted) {
      failOpen({ code: 'LOCKED', message: `database ${name} is open in another tab` });
      return;
    }
    await becomeOwner();
    return;
  }
  chan = new BroadcastChannel(`cairn-db:${name}`);
  chan.onmessage = onChannel;
  chan.postMessage({ type: 'who', from: me });
  requestLock(false).then(
    (granted) => (granted ? becomeOwner() : undefined),
    (e) => {
      if (role !== 'closed') failOpen(wireError(e));
    },
  );
}

function closeClient() {
  role = 'closed';
  lockAbort.abort();
  if (chan) chan.close();
  chan = null;
  for (const [, p] of forwarded) p.respond({ error: { code: 'CLOSED', message: 'database is closed' } });
  forwarded.clear();
}

async function destroy(msg) {
  try {
    await ready(msg.module);
    if (typeof navigator.locks === 'undefined') {
      await CairnDb.destroy(msg.name, !!(msg.options && msg.options.memory));
    } else {
      name = msg.name;
      const granted = await requestLock(true);
      if (!granted) throw { code: 'LOCKED', message: `database ${msg.name} is open in a tab` };
      try {
        await CairnDb.destroy(msg.name, !!(msg.options && msg.options.memory));
      } finally {
        if (releaseLock) releaseLock();
      }
    }
    postMessage({ type: 'destroyed' });
  } catch (e) {
    postMessage({ type: 'destroyed', error: wireError(e) });
  }
}

self.onmessage = ({ data: m }) => {
  switch (m.type) {
    case 'open':
      open(m);
      break;
    case 'destroy':
      destroy(m);
      break;
    case 'reqs':
      for (const { id, req } of m.reqs) {
        if (req.op === 'close' && role !== 'owner') {
          closeClient();
          toMain(id, { value: undefined });
          continue;
        }
        if (req.op === 'role') {
          toMain(id, { value: role });
          continue;
        }
        submit(req, (res) => toMain(id, res));
      }
      break;
    default:
      break;
  }
};
