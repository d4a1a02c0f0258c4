// Shared workload definition for the browser benchmark (page and workers import it).
// 16-byte keys, 100-byte values, deterministic (seeded) so every engine sees the same data.
export const CFG = {
  putN: 2000, // individual puts, awaited one at a time
  batchN: 20000, // batched puts ...
  batchSize: 1000, // ... in batches of this size
  getN: 5000, // random point reads
};

function mix(x) {
  // splitmix32-ish
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Key i: 16 pseudo-random bytes (so insertion order is random w.r.t. key order). */
export function key(i) {
  const k = new Uint8Array(16);
  const dv = new DataView(k.buffer);
  let h = mix(i);
  for (let w = 0; w < 3; w++) { dv.setUint32(w * 4, h); h = mix(h ^ i); }
  dv.setUint32(12, i); // unique suffix
  return k;
}

/** Value i: 100 bytes. */
export function value(i) {
  const v = new Uint8Array(100);
  let h = mix(i ^ 0x5bd1e995);
  for (let j = 0; j < 100; j += 4) { h = mix(h); v[j] = h; v[j + 1] = h >>> 8; v[j + 2] = h >>> 16; v[j + 3] = h >>> 24; }
  return v;
}

/** Keys 0..putN-1 are the individual puts, putN..putN+batchN-1 the batched ones. */
export const total = () => CFG.putN + CFG.batchN;

/** Indices of the random reads (seeded). */
export function getIndices() {
  const out = new Array(CFG.getN);
  let h = 12345;
  for (let j = 0; j < CFG.getN; j++) { h = mix(h + j); out[j] = h % total(); }
  return out;
}

export function opsPerSec(n, ms) { return Math.round(n / (ms / 1000)); }
