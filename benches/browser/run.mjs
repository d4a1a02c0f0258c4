// Browser benchmark: Cairn (OPFS) vs IndexedDB vs SQLite-WASM (opfs-sahpool) in headless Chromium.
//
//   cd benches/browser && npm ci && cd ../.. && node benches/browser/run.mjs
//     (needs wasm/pkg from wasm/build.sh; CHROMIUM=/usr/bin/chromium by default)
//   BENCH_RUNS=3 node benches/browser/run.mjs   # median of 3 runs per workload (default 1)
//   BENCH_NO_DOCS=1 ...                          # do not update docs/BENCHMARKS.md
//   BENCH_RENDER=1 ...                           # only re-render table + docs from results.json
//
// Serves the repository on 127.0.0.1 (its own tiny server: www/server.mjs refuses node_modules,
// which holds sqlite-wasm), launches Chromium with a persistent profile in a temp dir (OPFS on
// disk), runs each engine's page, writes benches/browser/results.json and prints a Markdown table.
import { createServer } from 'node:http';
import { readFile, writeFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json' };
const ENGINES = ['cairn', 'indexeddb', 'sqlite'];
const PAGE = { cairn: 'cairn', indexeddb: 'idb', sqlite: 'sqlite' };
const CFG_PUTS = '2,000';
const WORKLOADS = [
  ['put_individual', 'put, individual (2,000, awaited one by one, durable defaults)'],
  ['put_batched', 'put, batched (20,000 in batches of 1,000)'],
  ['get', 'get, random (5,000, awaited one by one)'],
  ['get_concurrent', 'get, random (5,000, all issued at once)'],
  ['scan', 'scan, all 22,000 in key order'],
];

function serve() {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = normalize(join(ROOT, path));
    if (!file.startsWith(ROOT + sep)) return res.writeHead(403).end();
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) return res.writeHead(404).end('not found');
    const body = await readFile(file);
    res.writeHead(200, { 'Content-Type': MIME[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
    res.end(body);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

async function runEngine(ctx, base, engine) {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[${engine} pageerror] ${e.message}`));
  page.on('console', (m) => { if (process.env.BENCH_VERBOSE) console.error(`[${engine}] ${m.text()}`); });
  await page.goto(`${base}/benches/browser/bench.html?engine=${PAGE[engine]}`);
  const ua = await page.evaluate(() => navigator.userAgent);
  await page.waitForFunction(() => window.benchResult !== undefined, null, { timeout: 600000, polling: 250 });
  const r = await page.evaluate(() => window.benchResult);
  await page.close();
  if (r.error) throw new Error(`${engine}: ${r.error}`);
  const c = r.check;
  if (c.found !== c.expectedFound || c.scanned !== c.expectedScanned || c.ordered === false) throw new Error(`${engine}: wrong results ${JSON.stringify(c)}`);
  r.userAgent = ua;
  return r;
}

const fmt = (n) => (n == null ? 'n/a' : n.toLocaleString('en-US'));
const ratio = (a, b) => (a == null || b == null ? 'n/a' : `${(a / b).toFixed(2)}×`);

function spread(all) {
  const rows = ['| workload | Cairn | IndexedDB | SQLite-WASM |', '|---|---:|---:|---:|'];
  for (const [k, label] of WORKLOADS) {
    const cell = (e) => { const xs = all[e].map((r) => r.results[k]).filter((x) => x != null); return xs.length ? `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}` : 'n/a'; };
    rows.push(`| ${label} | ${cell('cairn')} | ${cell('indexeddb')} | ${cell('sqlite')} |`);
  }
  return rows.join('\n');
}

function targets(m) {
  const c = m.cairn.results, i = m.indexeddb.results, s = m.sqlite.results;
  const t = (label, a, b, want) => `- ${label}: ${(a / b).toFixed(2)}× (target ≥ ${want}×) — ${a / b >= want ? 'met' : '**not met**'}`;
  return [
    t('Cairn put (individual) vs IndexedDB', c.put_individual, i.put_individual, 10),
    t('Cairn put (batched) vs IndexedDB', c.put_batched, i.put_batched, 10),
    t('Cairn put (individual) vs SQLite-WASM', c.put_individual, s.put_individual, 2),
    t('Cairn put (batched) vs SQLite-WASM', c.put_batched, s.put_batched, 2),
    t('Cairn get (awaited) vs IndexedDB', c.get, i.get, 3),
    t('Cairn get (concurrent) vs IndexedDB', c.get_concurrent, i.get_concurrent, 3),
  ].join('\n');
}

function table(best) {
  const c = best.cairn.results, i = best.indexeddb.results, s = best.sqlite.results;
  const rows = ['| workload | Cairn ops/s | IndexedDB ops/s | SQLite-WASM ops/s | Cairn / IndexedDB | Cairn / SQLite |', '|---|---:|---:|---:|---:|---:|'];
  for (const [k, label] of WORKLOADS) rows.push(`| ${label} | ${fmt(c[k])} | ${fmt(i[k])} | ${fmt(s[k])} | ${ratio(c[k], i[k])} | ${ratio(c[k], s[k])} |`);
  return rows.join('\n');
}

async function main() {
  if (process.env.BENCH_RENDER) {
    // Re-render the table and the docs section from an existing results.json.
    const out = JSON.parse(await readFile(join(HERE, 'results.json'), 'utf8'));
    const md = table(out.median);
    console.log(md);
    return updateDocs(md, out);
  }
  if (!(await stat(join(ROOT, 'wasm/pkg/cairn_wasm_bg.wasm')).catch(() => null))) throw new Error('wasm/pkg missing: run bash wasm/build.sh');
  const runs = Number(process.env.BENCH_RUNS || 1);
  const server = await serve();
  const base = `http://127.0.0.1:${server.address().port}`;
  const profile = await mkdtemp(join(process.env.TMPDIR || tmpdir(), 'cairn-browserbench-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const all = {};
  const best = {};
  try {
    for (let r = 0; r < runs; r++) {
      for (const e of ENGINES) {
        process.stderr.write(`run ${r + 1}/${runs}: ${e} ... `);
        const res = await runEngine(ctx, base, e);
        process.stderr.write(`${JSON.stringify(res.results)}\n`);
        (all[e] ??= []).push(res);
      }
    }
  } finally {
    await ctx.close().catch(() => {});
    server.close();
    await rm(profile, { recursive: true, force: true });
  }
  // Median per workload over the runs (the first run's metadata otherwise).
  const median = (xs) => { const s = xs.filter((x) => x != null).sort((a, b) => a - b); return s.length ? s[(s.length - 1) >> 1] : null; };
  for (const e of ENGINES) {
    best[e] = structuredClone(all[e][0]);
    for (const k of Object.keys(best[e].results)) best[e].results[k] = median(all[e].map((r) => r.results[k]));
    if (e === 'cairn') best[e].postMessageRoundTripUs = median(all[e].map((r) => r.postMessageRoundTripUs));
  }
  const browser = /Chrome\/([\d.]+)/.exec(best.cairn.userAgent)?.[1] ?? null;
  const out = { date: new Date().toISOString(), chromium: browser, cpus: cpus().length, cpuModel: cpus()[0]?.model, runs, median: best, all };
  await writeFile(join(HERE, 'results.json'), JSON.stringify(out, null, 2) + '\n');
  const md = table(best);
  console.log(md);
  if (!process.env.BENCH_NO_DOCS) await updateDocs(md, out);
}

async function updateDocs(md, out) {
  const docs = join(ROOT, 'docs/BENCHMARKS.md');
  const text = await readFile(docs, 'utf8').catch(() => '');
  const START = '<!-- browser-bench:start -->', END = '<!-- browser-bench:end -->';
  const sqlite = out.median.sqlite.pragmas || {};
  const section = `${START}
## Browser: Cairn on OPFS vs IndexedDB vs SQLite-WASM (opfs-sahpool)

Generated by \`node benches/browser/run.mjs\` (median of ${out.runs} run(s) per workload; engines run in turn) on ${out.date.slice(0, 10)}, headless Debian Chromium ${out.chromium}
(persistent profile, OPFS on disk), ${out.cpus} CPU(s) ${out.cpuModel ?? ''}. 16-byte pseudo-random keys, 100-byte values.
Raw numbers: \`benches/browser/results.json\`.

${md}

- **Cairn** is called from the page (\`cairn-db\` runs the engine in its own dedicated worker), so every awaited op
  includes one page ↔ worker \`postMessage\` round trip. Writes use the default \`sync: true\` (WAL flushed on OPFS
  before the promise resolves). Batches are \`db.batch(ops)\` of 1,000 puts; scan is \`db.scan()\` (pages of 1,000).
- **IndexedDB** (raw API) runs inside a dedicated worker: one \`readwrite\` transaction per individual put (awaited to
  \`complete\`, default durability), one transaction per batch of 1,000; gets one \`readonly\` transaction each
  (sequential) or all 5,000 requests in one transaction (concurrent); scan is an \`openCursor()\` walk.
- **SQLite-WASM** ${sqlite.version ?? ''} (\`@sqlite.org/sqlite-wasm\`) runs inside a dedicated worker on the \`opfs-sahpool\` VFS,
  table \`kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID\`, prepared statements, defaults
  (journal_mode=${sqlite.journal_mode ?? '?'}, synchronous=${sqlite.synchronous ?? '?'}): individual puts in autocommit, batches in
  \`BEGIN…COMMIT\`. Its API is synchronous, so there is no concurrent get, and no worker round trip per op.
- A bare page ↔ worker \`postMessage\` round trip measured in the same browser: ${out.median.cairn.postMessageRoundTripUs} µs — the floor
  of any awaited one-at-a-time call into a worker-hosted engine (Cairn here; IndexedDB and SQLite are measured inside
  their worker, without it).

Run-to-run spread (min–max ops/s over the ${out.runs} runs) — the machine is shared and OPFS flush latency is noisy:

${spread(out.all)}

Targets (reported, not asserted), from the medians:

${targets(out.median)}

Where Cairn is behind, and why (as far as these numbers tell):
- **Awaited one-at-a-time calls pay a per-call latency, not engine work.** An awaited \`get\` costs about
  ${Math.round(1e6 / out.median.cairn.results.get)} µs; a bare \`postMessage\` round trip is ${out.median.cairn.postMessageRoundTripUs} µs of that, and issued concurrently the same gets cost
  ~${(1e6 / out.median.cairn.results.get_concurrent).toFixed(1)} µs each, so the engine's own work is small. The rest of the awaited latency is in Cairn's per-request
  path through its worker (wrapper, message encoding, the worker's dispatch/scheduling) — not profiled here, and
  the place to look for the get ≥ 3× IndexedDB target. SQLite's synchronous \`step()\` runs in the benchmark's own
  worker with no hop at all; a like-for-like would add one round trip per call (its promiser API), not done here.
- **Individual durable puts pay one OPFS WAL \`flush()\` each** (Cairn syncs every write by default; its stats show
  ${out.median.cairn.stats.walSyncs} WAL syncs for ${CFG_PUTS} puts + batches) plus the round trip; IndexedDB's default-durability commit is in the same
  range in Chromium, so the 10× target looks out of reach for awaited one-at-a-time puts. Concurrent puts share one
  WAL flush (group commit, see the e2e \`write_100k_synced_puts\` numbers); \`{ sync: false }\` is the opt-out.
  SQLite's individual puts are the slowest, most likely because journal_mode=delete + synchronous=full costs
  several flushes per autocommit.
- **Scan** pages 1,000 entries per round trip through \`postMessage\`; SQLite scans in-worker with no copies out.
${END}`;
  let next;
  if (text.includes(START) && text.includes(END)) next = text.slice(0, text.indexOf(START)) + section + text.slice(text.indexOf(END) + END.length);
  else next = text.replace(/\s*$/, '\n\n') + section + '\n';
  await writeFile(docs, next);
}

main().catch((e) => { console.error(e); process.exit(1); });
