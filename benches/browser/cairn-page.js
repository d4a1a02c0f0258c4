// Cairn workloads, run from the page: cairn-db runs the engine in its own dedicated worker, so
// every awaited call here is one page <-> worker postMessage round trip.
import { Cairn } from '../../wasm/pkg/index.js';
import { CFG, key, value, total, getIndices, opsPerSec } from './workload.js';

export async function run() {
  const NAME = 'bench-cairn';
  await Cairn.destroy(NAME).catch(() => {});
  const db = await Cairn.open(NAME, { multiTab: false });
  const res = {};
  let t0 = performance.now();
  for (let i = 0; i < CFG.putN; i++) await db.put(key(i), value(i)); // sync: true (default)
  res.put_individual = opsPerSec(CFG.putN, performance.now() - t0);
  t0 = performance.now();
  for (let b = 0; b < CFG.batchN; b += CFG.batchSize) {
    const ops = [];
    for (let i = CFG.putN + b; i < CFG.putN + b + CFG.batchSize; i++) ops.push({ type: 'put', key: key(i), value: value(i) });
    await db.batch(ops); // sync: true (default)
  }
  res.put_batched = opsPerSec(CFG.batchN, performance.now() - t0);
  const idx = getIndices();
  t0 = performance.now();
  let found = 0;
  for (const i of idx) if ((await db.get(key(i)))?.length === 100) found++;
  res.get = opsPerSec(CFG.getN, performance.now() - t0);
  t0 = performance.now();
  const vs = await Promise.all(idx.map((i) => db.get(key(i))));
  found += vs.filter((v) => v?.length === 100).length;
  res.get_concurrent = opsPerSec(CFG.getN, performance.now() - t0);
  t0 = performance.now();
  let n = 0;
  let prev = null;
  let ordered = true;
  for await (const [k] of db.scan()) {
    if (prev && indexedDB.cmp(prev, k) >= 0) ordered = false;
    prev = k;
    n++;
  }
  res.scan = opsPerSec(n, performance.now() - t0);
  const stats = await db.stats();
  // Cost floor of any worker-hosted API: a bare page <-> worker postMessage round trip.
  const echo = new Worker(URL.createObjectURL(new Blob(['onmessage = (e) => postMessage(e.data)'], { type: 'text/javascript' })));
  const ping = (m) => new Promise((ok) => { echo.onmessage = (e) => ok(e.data); echo.postMessage(m); });
  for (let j = 0; j < 200; j++) await ping(j);
  t0 = performance.now();
  for (let j = 0; j < CFG.getN; j++) await ping(j);
  const rttUs = +((performance.now() - t0) * 1000 / CFG.getN).toFixed(1);
  echo.terminate();
  await db.close();
  return {
    engine: 'cairn', where: 'page (engine in the package\'s own dedicated worker)', results: res,
    check: { found, expectedFound: 2 * CFG.getN, scanned: n, expectedScanned: total(), ordered },
    postMessageRoundTripUs: rttUs,
    stats: { storage: stats.storage, walSyncs: stats.walSyncs, groups: stats.groups, flushes: stats.flushes, compactions: stats.compactions },
  };
}
