// IndexedDB (raw API) workloads, run inside a dedicated worker.
import { CFG, key, value, total, getIndices, opsPerSec } from './workload.js';

const req = (r) => new Promise((ok, fail) => { r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
const done = (tx) => new Promise((ok, fail) => { tx.oncomplete = ok; tx.onerror = () => fail(tx.error); tx.onabort = () => fail(tx.error); });

async function run() {
  const NAME = 'bench-idb';
  await new Promise((ok, fail) => { const r = indexedDB.deleteDatabase(NAME); r.onsuccess = ok; r.onerror = fail; r.onblocked = ok; });
  const open = indexedDB.open(NAME, 1);
  open.onupgradeneeded = () => open.result.createObjectStore('kv');
  const db = await req(open);
  const res = {};
  // Default durability ('default' in Chromium = relaxed-ish flush); we leave it as is.
  // put individual: one readwrite transaction per put, awaited (oncomplete).
  let t0 = performance.now();
  for (let i = 0; i < CFG.putN; i++) {
    const tx = db.transaction('kv', 'readwrite');
    tx.objectStore('kv').put(value(i), key(i));
    await done(tx);
  }
  res.put_individual = opsPerSec(CFG.putN, performance.now() - t0);
  // put batched: one transaction per batch.
  t0 = performance.now();
  for (let b = 0; b < CFG.batchN; b += CFG.batchSize) {
    const tx = db.transaction('kv', 'readwrite');
    const s = tx.objectStore('kv');
    for (let i = CFG.putN + b; i < CFG.putN + b + CFG.batchSize; i++) s.put(value(i), key(i));
    await done(tx);
  }
  res.put_batched = opsPerSec(CFG.batchN, performance.now() - t0);
  const idx = getIndices();
  // get, one at a time: one readonly transaction per get.
  t0 = performance.now();
  let found = 0;
  for (const i of idx) {
    const tx = db.transaction('kv', 'readonly');
    const v = await req(tx.objectStore('kv').get(key(i)));
    if (v) found++;
  }
  res.get = opsPerSec(CFG.getN, performance.now() - t0);
  // get, pipelined: all requests issued at once in one readonly transaction.
  t0 = performance.now();
  {
    const tx = db.transaction('kv', 'readonly');
    const s = tx.objectStore('kv');
    const vs = await Promise.all(idx.map((i) => req(s.get(key(i)))));
    found += vs.filter(Boolean).length;
  }
  res.get_concurrent = opsPerSec(CFG.getN, performance.now() - t0);
  // scan all in key order with a cursor.
  t0 = performance.now();
  let n = 0;
  await new Promise((ok, fail) => {
    const c = db.transaction('kv', 'readonly').objectStore('kv').openCursor();
    c.onsuccess = () => { const cur = c.result; if (cur) { n++; cur.continue(); } else ok(); };
    c.onerror = () => fail(c.error);
  });
  res.scan = opsPerSec(n, performance.now() - t0);
  db.close();
  return { engine: 'indexeddb', where: 'dedicated worker', results: res, check: { found, expectedFound: 2 * CFG.getN, scanned: n, expectedScanned: total() } };
}

run().then((r) => postMessage(r), (e) => postMessage({ error: String(e && e.stack || e) }));
