// SQLite-WASM (opfs-sahpool VFS) workloads, run inside a dedicated worker.
import sqlite3InitModule from './node_modules/@sqlite.org/sqlite-wasm/dist/index.mjs';
import { CFG, key, value, total, getIndices, opsPerSec } from './workload.js';

async function run() {
  const sqlite3 = await sqlite3InitModule();
  const pool = await sqlite3.installOpfsSAHPoolVfs({ name: 'bench-sahpool', clearOnInit: true });
  const db = new pool.OpfsSAHPoolDb('/bench.sqlite3');
  db.exec('CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID');
  const pragmas = {
    journal_mode: db.selectValue('PRAGMA journal_mode'),
    synchronous: db.selectValue('PRAGMA synchronous'),
    version: sqlite3.version.libVersion,
  };
  const ins = db.prepare('INSERT OR REPLACE INTO kv(k, v) VALUES (?, ?)');
  const sel = db.prepare('SELECT v FROM kv WHERE k = ?');
  const res = {};
  // put individual: each statement in its own implicit transaction (autocommit).
  let t0 = performance.now();
  for (let i = 0; i < CFG.putN; i++) ins.bind([key(i), value(i)]).stepReset();
  res.put_individual = opsPerSec(CFG.putN, performance.now() - t0);
  // put batched: BEGIN ... COMMIT per batch.
  t0 = performance.now();
  for (let b = 0; b < CFG.batchN; b += CFG.batchSize) {
    db.exec('BEGIN');
    for (let i = CFG.putN + b; i < CFG.putN + b + CFG.batchSize; i++) ins.bind([key(i), value(i)]).stepReset();
    db.exec('COMMIT');
  }
  res.put_batched = opsPerSec(CFG.batchN, performance.now() - t0);
  const idx = getIndices();
  t0 = performance.now();
  let found = 0;
  for (const i of idx) {
    sel.bind([key(i)]);
    if (sel.step()) { const v = sel.get(0); if (v && v.length === 100) found++; }
    sel.reset();
  }
  res.get = opsPerSec(CFG.getN, performance.now() - t0);
  res.get_concurrent = null; // synchronous API: no pipelining
  t0 = performance.now();
  let n = 0;
  const scan = db.prepare('SELECT k, v FROM kv ORDER BY k');
  while (scan.step()) { scan.get(0); scan.get(1); n++; }
  scan.finalize();
  res.scan = opsPerSec(n, performance.now() - t0);
  ins.finalize(); sel.finalize(); db.close();
  return { engine: 'sqlite', where: 'dedicated worker', pragmas, results: res, check: { found, expectedFound: CFG.getN, scanned: n, expectedScanned: total() } };
}

run().then((r) => postMessage(r), (e) => postMessage({ error: String(e && e.stack || e) }));
