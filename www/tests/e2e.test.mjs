// End-to-end tests of the cairn-db package in a real browser on OPFS with a persistent
// profile: Chromium (Debian's /usr/bin/chromium, playwright-core) or Firefox ESR (Debian's
// firefox-esr, puppeteer-core over WebDriver BiDi); see browsers.mjs.
//
//   node --test --test-concurrency=1 www/tests/     (after wasm/build.sh; .ci/test-e2e.sh does it all)
//   CAIRN_BROWSER=firefox node --test www/tests/e2e.test.mjs
//
// CAIRN_BASE_URL: a running www/server.mjs (default: the tests start their own);
// CAIRN_BROWSER: chromium (default) or firefox; CHROMIUM / FIREFOX: the browser binary;
// CAIRN_E2E_VERBOSE=1 prints page logs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENGINE, launch } from './browsers.mjs';
import { startServer } from '../server.mjs';

let server;
let base;
let browser;
let profile;
const results = {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function report(name, value) {
  results[name] = value;
  console.log(`RESULT ${name}: ${JSON.stringify(value)}`);
}

before(async () => {
  base = process.env.CAIRN_BASE_URL;
  if (!base) {
    server = await startServer(0);
    base = `http://127.0.0.1:${server.address().port}`;
  }
  base = base.replace(/\/$/, '');
  profile = await mkdtemp(join(process.env.TMPDIR || tmpdir(), `cairn-e2e-${ENGINE}-`));
  browser = await launch(profile);
  report('browser', { engine: browser.engine, version: browser.version });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) server.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  if (process.env.CAIRN_E2E_RESULTS) {
    await writeFile(process.env.CAIRN_E2E_RESULTS, JSON.stringify(results, null, 2));
  }
});

async function newPage() {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (process.env.CAIRN_E2E_VERBOSE) console.log(`[page] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`[pageerror] ${e.message}`));
  await page.goto(`${base}/www/test.html`);
  await page.waitForFunction(() => window.harnessReady === true);
  return page;
}

/** Opens `name` in the page as window.db (destroying it first when `fresh`). */
async function openIn(page, name, { fresh = false, options = {} } = {}) {
  return page.evaluate(
    async ({ name, fresh, options }) => {
      const { Cairn } = window.cairn;
      if (fresh) await Cairn.destroy(name);
      window.db = await Cairn.open(name, options);
      return window.db.role();
    },
    { name, fresh, options },
  );
}

/** All keys of window.db as strings. */
async function allKeys(page, opts = {}) {
  return page.evaluate(async (opts) => {
    const keys = [];
    for await (const [k] of window.db.scan({ ...opts, keyAsString: true })) keys.push(k);
    return keys;
  }, opts);
}

const pad = (i, n = 7) => String(i).padStart(n, '0');

test('100k keys written with group commit are all there after a page reload', async () => {
  const page = await newPage();
  await openIn(page, 'e2e-100k', { fresh: true });
  const w = await page.evaluate(async () => {
    const db = window.db;
    const key = (i) => `key${String(i).padStart(6, '0')}`;
    const t0 = performance.now();
    for (let c = 0; c < 100; c++) {
      const ps = [];
      for (let i = c * 1000; i < (c + 1) * 1000; i++) ps.push(db.put(key(i), `value-${i}-${'x'.repeat(40)}`));
      await Promise.all(ps);
    }
    const ms = performance.now() - t0;
    // Let the worker run its cooperative flushes/compactions for a moment.
    await new Promise((r) => setTimeout(r, 1500));
    return { ms, stats: await db.stats() };
  });
  report('write_100k_synced_puts', {
    ms: Math.round(w.ms),
    puts_per_s: Math.round(100000 / (w.ms / 1000)),
    walSyncs: w.stats.walSyncs,
    groups: w.stats.groups,
    maxGroup: w.stats.maxGroup,
    flushes: w.stats.flushes,
    compactions: w.stats.compactions,
    maxStepMs: +w.stats.maxStepMs.toFixed(1),
    maxCommitMs: +w.stats.maxCommitMs.toFixed(1),
  });
  assert.ok(w.stats.maxGroup > 1, 'writes of one turn were grouped');
  assert.ok(w.stats.walSyncs <= 200, `one sync per group, got ${w.stats.walSyncs}`);

  await page.reload();
  await page.waitForFunction(() => window.harnessReady === true);
  await openIn(page, 'e2e-100k');
  const r = await page.evaluate(async () => {
    const db = window.db;
    let n = 0;
    let ordered = true;
    let prev = '';
    let badValue = null;
    for await (const [k, v] of db.scan({ keyAsString: true, valueAsString: true, pageSize: 5000 })) {
      if (k <= prev) ordered = false;
      const i = Number(k.slice(3));
      if (v !== `value-${i}-${'x'.repeat(40)}` && badValue === null) badValue = [k, v];
      prev = k;
      n++;
    }
    const missing = [];
    for (let j = 0; j < 2000; j++) {
      const i = (j * 7919) % 100000;
      const v = await db.get(`key${String(i).padStart(6, '0')}`, { asString: true });
      if (v !== `value-${i}-${'x'.repeat(40)}`) missing.push(i);
    }
    const stats = await db.stats();
    await db.close();
    return { n, ordered, badValue, missing, files: stats.files, tables: stats.levels.map((l) => l.tables) };
  });
  assert.equal(r.n, 100000);
  assert.ok(r.ordered);
  assert.equal(r.badValue, null);
  assert.deepEqual(r.missing, []);
  await page.close();
});

for (const how of ['page.close()', 'a renderer crash']) {
  const crash = !how.startsWith('page');
  test(`every acknowledged synced write survives ${how} in the middle of a write stream`, async (t) => {
    if (crash && !browser.crashSupported) {
      t.skip(`${ENGINE}: the driver cannot crash a tab`);
      return;
    }
    const name = crash ? 'e2e-crash' : 'e2e-close';
    const page = await newPage();
    // Chromium: CDP Page.crash; Firefox: SIGKILL of the content process (browsers.mjs).
    const doCrash = crash ? await browser.prepareCrash(page) : null;
    await openIn(page, name, { fresh: true, options: { writeBufferSize: 256 << 10 } });
    await page.evaluate(() => {
      const db = window.db;
      window.acked = [];
      let next = 0;
      const writer = async () => {
        for (;;) {
          const i = next++;
          await db.put(`w${String(i).padStart(7, '0')}`, `v${i}-${'y'.repeat(100)}`);
          window.acked.push(i);
        }
      };
      for (let w = 0; w < 16; w++) writer();
    });
    // Acknowledgements are polled from the page: what the test knows is acknowledged is a
    // subset of what the page saw acknowledged.
    const acked = [];
    const poll = async () => {
      const more = await page.evaluate((from) => window.acked.slice(from), acked.length);
      acked.push(...more);
    };
    const deadline = Date.now() + 20000;
    while (acked.length < 3000 && Date.now() < deadline) {
      await poll();
      await sleep(20);
    }
    await poll();
    assert.ok(acked.length > 0, 'some writes were acknowledged');
    if (crash) await doCrash();
    else await page.close();
    const ackedNow = [...acked];
    const page2 = await newPage();
    await openIn(page2, name);
    const keys = await allKeys(page2);
    const present = keys.map((k) => Number(k.slice(1)));
    const set = new Set(present);
    const lost = ackedNow.filter((i) => !set.has(i));
    assert.deepEqual(lost, [], 'no acknowledged write is lost');
    // Recovery yields a prefix of the writes in submission order: no holes.
    present.forEach((v, i) => assert.equal(v, i, 'recovered keys are a prefix of the stream'));
    report(`crash_${crash ? 'crash' : 'close'}`, {
      acknowledged: ackedNow.length,
      recovered: present.length,
    });
    await page2.evaluate(() => window.db.close());
    await page2.close();
  });
}

test('two tabs write at once and see each other; the owner tab closes and the other carries on', async () => {
  const a = await newPage();
  const b = await newPage();
  assert.equal(await openIn(a, 'e2e-tabs', { fresh: true }), 'owner');
  assert.equal(await openIn(b, 'e2e-tabs'), 'client');
  const writeN = (page, prefix) =>
    page.evaluate(
      async (prefix) => Promise.all(Array.from({ length: 1000 }, (_, i) => window.db.put(`${prefix}${String(i).padStart(4, '0')}`, `${prefix}${i}`))),
      prefix,
    );
  await Promise.all([writeN(a, 'a'), writeN(b, 'b')]);
  for (const p of [a, b]) {
    const keys = await allKeys(p);
    assert.equal(keys.length, 2000);
    assert.equal(await p.evaluate(() => window.db.get('b0999', { asString: true })), 'b999');
    assert.equal(await p.evaluate(() => window.db.get('a0999', { asString: true })), 'a999');
  }

  // Handover: tab b streams synced writes while the owner tab a closes.
  await b.evaluate(() => {
    window.stop = false;
    window.acked = [];
    let next = 0;
    const writer = async () => {
      while (!window.stop) {
        const i = next++;
        await window.db.put(`c${String(i).padStart(6, '0')}`, `c${i}`);
        window.acked.push(i);
      }
    };
    window.writers = Promise.all(Array.from({ length: 4 }, writer)).then(() => next);
  });
  const ackedCount = () => b.evaluate(() => window.acked.length);
  while ((await ackedCount()) < 200) await sleep(10);
  const beforeClose = await ackedCount();
  const t0 = Date.now();
  await a.close();
  while ((await ackedCount()) < beforeClose + 500 && Date.now() - t0 < 20000) await sleep(10);
  const handoverMs = Date.now() - t0;
  const { submitted, acked } = await b.evaluate(async () => {
    window.stop = true;
    const submitted = await window.writers;
    return { submitted, acked: window.acked };
  });
  assert.ok(acked.length >= beforeClose + 500, 'writes continue after the owner tab closed');
  assert.equal(await b.evaluate(() => window.db.role()), 'owner');
  const keys = new Set(await allKeys(b));
  for (let i = 0; i < 1000; i++) {
    assert.ok(keys.has(`a${String(i).padStart(4, '0')}`));
    assert.ok(keys.has(`b${String(i).padStart(4, '0')}`));
  }
  for (let i = 0; i < submitted; i++) assert.ok(keys.has(`c${String(i).padStart(6, '0')}`), `c${i} present`);
  report('multi_tab_handover', { ackedBeforeClose: beforeClose, ackedTotal: acked.length, submitted, msToNext500Acks: handoverMs });

  // A third tab joins as a client of the new owner.
  const c = await newPage();
  assert.equal(await openIn(c, 'e2e-tabs'), 'client');
  assert.equal((await allKeys(c)).length, 2000 + submitted);
  await c.evaluate(() => window.db.close());
  await c.close();
  await b.evaluate(() => window.db.close());
  await b.close();
});

test('transactions on OPFS: 4 concurrent callers and a second tab move money, the total never changes; write skew', async () => {
  const a = await newPage();
  const b = await newPage();
  await openIn(a, 'e2e-txn', { fresh: true });
  await openIn(b, 'e2e-txn');
  const N = 100;
  await a.evaluate(async (N) => {
    const ops = [];
    for (let i = 0; i < N; i++) ops.push({ type: 'put', key: `acct/${String(i).padStart(3, '0')}`, value: '1000' });
    await window.db.batch(ops);
  }, N);
  // Each page runs callers that transfer between random accounts (reads for update), plus an
  // auditor summing all accounts in transactions and snapshot scans.
  const work = (page, seed, callers) =>
    page.evaluate(
      async ({ N, seed, callers }) => {
        const db = window.db;
        const acct = (i) => `acct/${String(i).padStart(3, '0')}`;
        let s = seed;
        const rand = (n) => ((s = (s * 1103515245 + 12345) % 2147483648), s % n);
        const sum = async (scan) => {
          let t = 0;
          for await (const [, v] of scan({ prefix: 'acct/', valueAsString: true })) t += Number(v);
          return t;
        };
        const totals = [];
        const caller = async (n) => {
          for (let i = 0; i < n; i++) {
            const from = rand(N);
            const to = (from + 1 + rand(N - 1)) % N;
            const amount = 1 + rand(50);
            await db.transaction(
              async (tx) => {
                const x = Number(await tx.getForUpdate(acct(from), { asString: true }));
                const y = Number(await tx.getForUpdate(acct(to), { asString: true }));
                await tx.put(acct(from), String(x - amount));
                await tx.put(acct(to), String(y + amount));
              },
              { retries: 1000, sync: i % 20 === 0 },
            );
          }
        };
        const auditor = async () => {
          for (let i = 0; i < 10; i++) {
            totals.push(await sum((o) => db.scan(o)));
            await db.transaction(async (tx) => totals.push(await sum((o) => tx.scan(o))));
          }
        };
        await Promise.all([...Array.from({ length: callers }, () => caller(150)), auditor()]);
        return totals;
      },
      { N, seed, callers },
    );
  const [ta, tb] = await Promise.all([work(a, 1, 4), work(b, 2, 1)]);
  for (const t of [...ta, ...tb]) assert.equal(t, N * 1000, 'every audit sees the same total');
  const final = await a.evaluate(async () => {
    let t = 0;
    for await (const [, v] of window.db.scan({ prefix: 'acct/', valueAsString: true })) t += Number(v);
    return { t, stats: await window.db.stats() };
  });
  assert.equal(final.t, N * 1000);
  assert.equal(final.stats.txnLive, 0);
  report('transactions', { transfers: 750, conflicts: final.stats.txnConflicts });

  // Write skew: of two doctors going off call at once, exactly one commits.
  const skew = await a.evaluate(async () => {
    const db = window.db;
    await db.batch([
      { type: 'put', key: 'oncall/alice', value: '1' },
      { type: 'put', key: 'oncall/bob', value: '1' },
    ]);
    const off = (me) =>
      db.transaction(
        async (tx) => {
          let on = 0;
          for (const d of ['alice', 'bob']) if ((await tx.getForUpdate(`oncall/${d}`, { asString: true })) === '1') on++;
          await new Promise((r) => setTimeout(r, 10));
          if (on === 2) await tx.put(`oncall/${me}`, '0');
        },
        { retries: 1 },
      );
    const r = await Promise.allSettled([off('alice'), off('bob')]);
    return {
      outcomes: r.map((x) => (x.status === 'fulfilled' ? 'ok' : x.reason.code)).sort(),
      values: [await db.get('oncall/alice', { asString: true }), await db.get('oncall/bob', { asString: true })].sort(),
    };
  });
  assert.deepEqual(skew, { outcomes: ['CONFLICT', 'ok'], values: ['0', '1'] });
  await b.evaluate(() => window.db.close());
  await a.evaluate(() => window.db.close());
  await a.close();
  await b.close();
});

test('multiTab: false gives a second tab a LOCKED error', async () => {
  const a = await newPage();
  const b = await newPage();
  await openIn(a, 'e2e-locked', { fresh: true, options: { multiTab: false } });
  const err = await b.evaluate(async () => {
    try {
      await window.cairn.Cairn.open('e2e-locked', { multiTab: false });
      return null;
    } catch (e) {
      return { name: e.name, code: e.code, isCairn: e instanceof window.cairn.CairnError };
    }
  });
  assert.deepEqual(err, { name: 'CairnError', code: 'LOCKED', isCairn: true });
  const destroyErr = await b.evaluate(async () => {
    try {
      await window.cairn.Cairn.destroy('e2e-locked');
      return null;
    } catch (e) {
      return e.code;
    }
  });
  assert.equal(destroyErr, 'LOCKED');
  await a.evaluate(() => window.db.close());
  await a.close();
  await b.close();
});

test('bad input from JS gives typed errors and the worker keeps working', async () => {
  const page = await newPage();
  await openIn(page, 'e2e-bad', { fresh: true, options: { maxValueSize: 1024 } });
  const r = await page.evaluate(async () => {
    const { Cairn, CairnError } = window.cairn;
    const db = window.db;
    const codeOf = async (f) => {
      try {
        await f();
        return 'no error';
      } catch (e) {
        return e instanceof CairnError ? e.code : `not a CairnError: ${e}`;
      }
    };
    const out = {};
    out.numberKey = await codeOf(() => db.put(123, 'v'));
    out.objectValue = await codeOf(() => db.put('k', { a: 1 }));
    out.nullGet = await codeOf(() => db.get(null));
    out.undefinedDelete = await codeOf(() => db.delete(undefined));
    out.batchNotArray = await codeOf(() => db.batch('nope'));
    out.batchBadType = await codeOf(() => db.batch([{ type: 'zap', key: 'k' }]));
    out.batchBadKey = await codeOf(() => db.batch([{ type: 'put', key: 7, value: 'v' }]));
    out.batchFunction = await codeOf(() => db.batch([{ type: 'put', key: 'k', value: () => 1 }]));
    out.scanBadPrefix = await codeOf(async () => {
      for await (const _ of db.scan({ prefix: 42 }));
    });
    out.oversizedKey = await codeOf(() => db.put('k'.repeat(65537), 'v'));
    out.oversizedValue = await codeOf(() => db.put('k', 'v'.repeat(1025)));
    out.oversizedInBatch = await codeOf(() => db.batch([{ type: 'put', key: 'ok', value: 'v' }, { type: 'put', key: 'x'.repeat(70000), value: 'v' }]));
    out.badName = await codeOf(() => Cairn.open('../etc'));
    out.badOption = await codeOf(() => Cairn.open('e2e-bad2', { writeBufferSize: -5 }));
    // The same worker still serves requests, and the failed batch wrote nothing.
    await db.put('good', 'yes');
    out.afterErrors = await db.get('good', { asString: true });
    out.partialBatch = (await db.get('ok')) === undefined;
    // Concurrent good and bad writes in one group: only the bad one fails.
    const mixed = await Promise.allSettled([db.put('m1', '1'), db.put('m'.repeat(70000), '2'), db.put('m3', '3')]);
    out.mixed = mixed.map((s) => (s.status === 'fulfilled' ? 'ok' : s.reason.code));
    await db.close();
    out.closedGet = await codeOf(() => db.get('good'));
    out.closedPut = await codeOf(() => db.put('a', 'b'));
    out.closedScan = await codeOf(async () => {
      for await (const _ of db.scan());
    });
    out.closeTwice = await codeOf(() => db.close());
    const again = await Cairn.open('e2e-bad');
    out.reopened = await again.get('m3', { asString: true });
    await again.close();
    return out;
  });
  assert.deepEqual(r, {
    numberKey: 'INVALID_ARGUMENT',
    objectValue: 'INVALID_ARGUMENT',
    nullGet: 'INVALID_ARGUMENT',
    undefinedDelete: 'INVALID_ARGUMENT',
    batchNotArray: 'INVALID_ARGUMENT',
    batchBadType: 'INVALID_ARGUMENT',
    batchBadKey: 'INVALID_ARGUMENT',
    batchFunction: 'INVALID_ARGUMENT',
    scanBadPrefix: 'INVALID_ARGUMENT',
    oversizedKey: 'KEY_TOO_LARGE',
    oversizedValue: 'VALUE_TOO_LARGE',
    oversizedInBatch: 'KEY_TOO_LARGE',
    badName: 'INVALID_ARGUMENT',
    badOption: 'INVALID_ARGUMENT',
    afterErrors: 'yes',
    partialBatch: true,
    mixed: ['ok', 'KEY_TOO_LARGE', 'ok'],
    closedGet: 'CLOSED',
    closedPut: 'CLOSED',
    closedScan: 'CLOSED',
    closeTwice: 'no error',
    reopened: '3',
  });
  await page.close();
});

test('model test on OPFS: random put/delete/get/scan against a Map, with reopens', async () => {
  const page = await newPage();
  await openIn(page, 'e2e-model', { fresh: true, options: { writeBufferSize: 32 << 10 } });
  const run = (phase) =>
    page.evaluate(
      async ({ phase }) => {
        // Deterministic PRNG (mulberry32), seeded per phase.
        let s = 0x9e3779b9 ^ (phase * 7919);
        const rnd = () => {
          s |= 0;
          s = (s + 0x6d2b79f5) | 0;
          let t = Math.imul(s ^ (s >>> 15), 1 | s);
          t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
          return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
        };
        const model = new Map(JSON.parse(sessionStorage.getItem('model') || '[]'));
        const db = window.db;
        const keyOf = () => `k${String(Math.floor(rnd() * 400)).padStart(3, '0')}${rnd() < 0.1 ? '/x' : ''}`;
        const sorted = () => [...model.keys()].sort();
        let checks = 0;
        for (let op = 0; op < 1500; op++) {
          const r = rnd();
          if (r < 0.45) {
            const k = keyOf();
            const v = `v${phase}-${op}-${'z'.repeat(Math.floor(rnd() * 200))}`;
            await db.put(k, v, { sync: rnd() < 0.8 });
            model.set(k, v);
          } else if (r < 0.6) {
            const k = keyOf();
            await db.delete(k);
            model.delete(k);
          } else if (r < 0.65) {
            const ops = [];
            for (let j = 0; j < 1 + Math.floor(rnd() * 20); j++) {
              const k = keyOf();
              if (rnd() < 0.7) ops.push({ type: 'put', key: k, value: `b${op}-${j}` });
              else ops.push({ type: 'del', key: k });
            }
            await db.batch(ops);
            for (const o of ops) (o.type === 'put' ? model.set(o.key, o.value) : model.delete(o.key));
          } else if (r < 0.85) {
            const k = keyOf();
            const got = await db.get(k, { asString: true });
            if (got !== model.get(k)) return { error: `get ${k}: ${got} != ${model.get(k)} (op ${op})` };
            checks++;
          } else if (r < 0.98) {
            const reverse = rnd() < 0.5;
            const mode = rnd();
            let opts = {};
            let expect = sorted();
            if (mode < 0.33) {
              const p = `k${Math.floor(rnd() * 4)}`;
              opts = { prefix: p };
              expect = expect.filter((k) => k.startsWith(p));
            } else if (mode < 0.66) {
              const a = keyOf();
              const b = keyOf();
              const [lo, hi] = a < b ? [a, b] : [b, a];
              opts = { start: lo, end: hi };
              expect = expect.filter((k) => k >= lo && k < hi);
            }
            const limit = rnd() < 0.3 ? 1 + Math.floor(rnd() * 30) : undefined;
            if (reverse) expect.reverse();
            if (limit !== undefined) expect = expect.slice(0, limit);
            const got = [];
            for await (const [k, v] of db.scan({ ...opts, reverse, limit, pageSize: 1 + Math.floor(rnd() * 50), keyAsString: true, valueAsString: true })) {
              got.push(k);
              if (v !== model.get(k)) return { error: `scan value of ${k} (op ${op})` };
            }
            if (JSON.stringify(got) !== JSON.stringify(expect)) {
              return { error: `scan ${JSON.stringify({ ...opts, reverse, limit })}: got ${got.length} keys, want ${expect.length} (op ${op})` };
            }
            checks++;
          } else if (rnd() < 0.5) {
            await db.flush();
          } else {
            // Snapshot isolation: writes after the snapshot are invisible through it.
            const snap = await db.snapshot();
            const k = keyOf();
            const before = model.get(k);
            await db.put(k, 'after-snapshot');
            model.set(k, 'after-snapshot');
            const old = await db.get(k, { snapshot: snap, asString: true });
            await snap.release();
            if (old !== before) return { error: `snapshot read of ${k}: ${old} != ${before}` };
            checks++;
          }
        }
        sessionStorage.setItem('model', JSON.stringify([...model]));
        const stats = await db.stats();
        return { checks, size: model.size, flushes: stats.flushes, compactions: stats.compactions };
      },
      { phase },
    );
  await page.evaluate(() => sessionStorage.removeItem('model'));
  const p1 = await run(1);
  assert.equal(p1.error, undefined, p1.error);
  // Reopen in the same page (close + open), then after a page reload (new worker).
  await page.evaluate(async () => {
    await window.db.close();
    window.db = await window.cairn.Cairn.open('e2e-model', { writeBufferSize: 32 << 10 });
  });
  const p2 = await run(2);
  assert.equal(p2.error, undefined, p2.error);
  await page.reload();
  await page.waitForFunction(() => window.harnessReady === true);
  await openIn(page, 'e2e-model', { options: { writeBufferSize: 32 << 10 } });
  const p3 = await run(3);
  assert.equal(p3.error, undefined, p3.error);
  // Full comparison after a final reopen.
  await page.reload();
  await page.waitForFunction(() => window.harnessReady === true);
  await openIn(page, 'e2e-model');
  const same = await page.evaluate(async () => {
    const model = JSON.parse(sessionStorage.getItem('model')).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const got = [];
    for await (const [k, v] of window.db.scan({ keyAsString: true, valueAsString: true })) got.push([k, v]);
    await window.db.close();
    return JSON.stringify(got) === JSON.stringify(model) ? true : { got: got.length, want: model.length };
  });
  assert.equal(same, true);
  report('model_test', { phases: [p1, p2, p3] });
  await page.close();
});

test('throughput on OPFS (measurement, not an assertion)', async () => {
  const page = await newPage();
  await openIn(page, 'e2e-bench', { fresh: true });
  const m = await page.evaluate(async () => {
    const db = window.db;
    const val = 'v'.repeat(100);
    const key = (i) => `bench${String(i).padStart(8, '0')}`;
    const out = {};
    const time = async (label, n, f) => {
      const t0 = performance.now();
      await f();
      const ms = performance.now() - t0;
      out[label] = { n, ms: Math.round(ms), ops_per_s: Math.round(n / (ms / 1000)) };
    };
    await time('put_sequential_synced', 2000, async () => {
      for (let i = 0; i < 2000; i++) await db.put(key(i), val);
    });
    await time('put_sequential_nosync', 5000, async () => {
      for (let i = 2000; i < 7000; i++) await db.put(key(i), val, { sync: false });
    });
    await time('put_concurrent_synced_x1000', 50000, async () => {
      for (let c = 7000; c < 57000; c += 1000) {
        await Promise.all(Array.from({ length: 1000 }, (_, j) => db.put(key(c + j), val)));
      }
    });
    await time('batch_1000_ops', 50000, async () => {
      for (let c = 57000; c < 107000; c += 1000) {
        await db.batch(Array.from({ length: 1000 }, (_, j) => ({ type: 'put', key: key(c + j), value: val })));
      }
    });
    await time('get_sequential', 5000, async () => {
      for (let i = 0; i < 5000; i++) await db.get(key((i * 7919) % 107000));
    });
    await time('get_concurrent_x1000', 50000, async () => {
      for (let c = 0; c < 50; c++) {
        await Promise.all(Array.from({ length: 1000 }, (_, j) => db.get(key(((c * 1000 + j) * 7919) % 107000))));
      }
    });
    await time('scan_all', 107000, async () => {
      let n = 0;
      for await (const _ of db.scan({ pageSize: 5000 })) n++;
      if (n !== 107000) throw new Error(`scan saw ${n}`);
    });
    // Let background work finish, then report the longest cooperative pause.
    await new Promise((r) => setTimeout(r, 2000));
    const s = await db.stats();
    out.stats = {
      maxStepMs: +s.maxStepMs.toFixed(1),
      steps: s.steps,
      maxCommitMs: +s.maxCommitMs.toFixed(1),
      flushes: s.flushes,
      compactions: s.compactions,
      walSyncs: s.walSyncs,
      groups: s.groups,
      maxGroup: s.maxGroup,
      tableBytes: s.tableBytes,
      levels: s.levels.map((l) => l.tables),
    };
    await db.close();
    return out;
  });
  report('throughput', m);
  await page.close();
});

/** Sends a fault message to window.db's worker (fault-worker.js) and returns its answer. */
async function fault(page, op) {
  return page.evaluate(
    (op) =>
      new Promise((resolve) => {
        const w = window.db.t.worker;
        const on = ({ data: m }) => {
          if (m && m.type === 'fault-ack') {
            w.removeEventListener('message', on);
            resolve(m);
          }
        };
        w.addEventListener('message', on);
        w.postMessage({ type: 'fault', op });
      }),
    op,
  );
}

const FAULT_WORKER = '/www/tests/fault-worker.js';

test('OPFS writes never get a view of wasm memory; a stale handle (InvalidStateError) is remounted and the request retried', async () => {
  const page = await newPage();
  await openIn(page, 'e2e-stale', { fresh: true, options: { workerUrl: FAULT_WORKER, writeBufferSize: 64 << 10 } });
  await page.evaluate(() => Promise.all(Array.from({ length: 500 }, (_, i) => window.db.put(`s${String(i).padStart(4, '0')}`, `v${i}-${'q'.repeat(200)}`))));
  const closed = await fault(page, 'close-handles');
  assert.ok(closed.closed > 2, `the fault worker closed the handles (${closed.closed})`);
  // Every request after this meets a closed handle first.
  const r = await page.evaluate(async () => {
    const db = window.db;
    await Promise.all(Array.from({ length: 500 }, (_, i) => db.put(`t${String(i).padStart(4, '0')}`, `w${i}`)));
    const got = await db.get('s0007', { asString: true });
    const stats = await db.stats();
    let n = 0;
    for await (const _ of db.scan()) n++;
    return { got, n, remounts: stats.remounts };
  });
  assert.equal(r.got, `v7-${'q'.repeat(200)}`);
  assert.equal(r.n, 1000);
  assert.ok(r.remounts >= 1, 'the worker mounted the database again');
  const counts = await fault(page, 'count');
  assert.ok(counts.writes > 5, `writes were observed (${counts.writes})`);
  assert.equal(counts.viewWrites, 0, 'no write was given a view of a larger buffer');
  report('stale_handle', { remounts: r.remounts, writes: counts.writes, viewWrites: counts.viewWrites });
  await page.evaluate(() => window.db.close());
  await page.reload();
  await page.waitForFunction(() => window.harnessReady === true);
  await openIn(page, 'e2e-stale');
  assert.equal((await allKeys(page)).length, 1000);
  await page.evaluate(() => window.db.close());
  await page.close();
});

test('open waits for a previous owner that still holds a sync access handle, then mounts', async () => {
  const page = await newPage();
  await openIn(page, 'e2e-held', { fresh: true });
  await page.evaluate(() => window.db.put('k', 'v'));
  await page.evaluate(() => window.db.close());
  const r = await page.evaluate(async () => {
    // A worker that is not cairn-db holds the database's lock file (as a previous owner
    // that has not let go yet would), and lets go after 1.5 s.
    const src = `
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle('e2e-held');
      const f = await dir.getFileHandle('lock');
      const h = await f.createSyncAccessHandle();
      postMessage('held');
      setTimeout(() => { h.close(); postMessage('released'); }, 1500);`;
    const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
    await new Promise((res) => (w.onmessage = ({ data }) => data === 'held' && res()));
    const t0 = performance.now();
    const db = await window.cairn.Cairn.open('e2e-held');
    const ms = performance.now() - t0;
    const v = await db.get('k', { asString: true });
    await db.close();
    w.terminate();
    return { ms, v };
  });
  assert.equal(r.v, 'v');
  assert.ok(r.ms >= 1000, `open waited for the holder (${Math.round(r.ms)} ms)`);
  report('open_after_held_handle', { ms: Math.round(r.ms) });
  await page.close();
});

test('pagehide releases the files and the Web Lock to another tab; pageshow reconnects', async () => {
  const a = await newPage();
  const b = await newPage();
  assert.equal(await openIn(a, 'e2e-pagehide', { fresh: true }), 'owner');
  assert.equal(await openIn(b, 'e2e-pagehide'), 'client');
  await a.evaluate(() => window.db.put('from-a', '1'));
  await a.evaluate(() => window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true })));
  // Tab b takes over at once (a frozen tab a would otherwise keep every other tab waiting).
  const t0 = Date.now();
  await b.evaluate(() => window.db.put('from-b', '2'));
  const takeoverMs = Date.now() - t0;
  assert.equal(await b.evaluate(() => window.db.role()), 'owner');
  assert.equal(await b.evaluate(() => window.db.get('from-a', { asString: true })), '1');
  // A request made while hidden waits; pageshow starts a new worker and sends it.
  const late = a.evaluate(() => window.db.put('from-a-hidden', '3'));
  await a.evaluate(() => window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })));
  await late;
  assert.equal(await a.evaluate(() => window.db.role()), 'client');
  assert.equal(await a.evaluate(() => window.db.get('from-b', { asString: true })), '2');
  assert.equal(await b.evaluate(() => window.db.get('from-a-hidden', { asString: true })), '3');
  report('pagehide_takeover', { ms: takeoverMs });
  await a.evaluate(() => window.db.close());
  await b.evaluate(() => window.db.close());
  await a.close();
  await b.close();
});

test('the number of open sync access handles stays under maxOpenFiles through a long fill with compaction', async () => {
  const page = await newPage();
  const options = { maxOpenFiles: 18, writeBufferSize: 64 << 10, targetTableSize: 64 << 10 };
  await openIn(page, 'e2e-handles', { fresh: true, options });
  const r = await page.evaluate(async () => {
    const db = window.db;
    let maxOpen = 0;
    const val = 'h'.repeat(300);
    for (let c = 0; c < 40; c++) {
      await Promise.all(Array.from({ length: 200 }, (_, j) => db.put(`h${String((c * 7919 + j * 104729) % 8000).padStart(5, '0')}-${j}`, val)));
      const s = await db.stats();
      maxOpen = Math.max(maxOpen, s.openHandles);
    }
    await new Promise((res) => setTimeout(res, 1000));
    const s = await db.stats();
    let n = 0;
    for await (const _ of db.scan()) n++;
    return { maxOpen, peak: s.peakHandles, cap: s.maxOpenFiles, files: s.files, compactions: s.compactions, n };
  });
  assert.ok(r.compactions > 0, 'the fill compacted');
  assert.equal(r.cap, 18);
  assert.ok(r.peak <= 18, `peak open handles ${r.peak} <= 18`);
  assert.equal(r.n, 8000);
  report('handle_bound', r);
  await page.evaluate(() => window.db.close());
  await page.close();
});

test('Cairn.persist() from the page and estimate() in stats()', async () => {
  const page = await newPage();
  await openIn(page, 'e2e-persist', { fresh: true });
  const r = await page.evaluate(async () => {
    const persisted = await window.cairn.Cairn.persist();
    const s = await window.db.stats();
    await window.db.close();
    return { persisted: typeof persisted, estimate: s.estimate };
  });
  assert.equal(r.persisted, 'boolean');
  assert.ok(r.estimate && r.estimate.quota > 0 && r.estimate.usage >= 0, JSON.stringify(r.estimate));
  await page.close();
});

test('a full quota is one QUOTA error; reads keep working; writes resume once there is room, nothing acknowledged lost', async (t) => {
  if (!browser.cdp) {
    t.skip(`${ENGINE}: no DevTools protocol to set a small quota`);
    return;
  }
  const page = await newPage();
  await openIn(page, 'e2e-quota', { fresh: true, options: { writeBufferSize: 256 << 10 } });
  const cdp = await browser.cdp(page);
  const origin = new URL(base).origin;
  const { usage } = await page.evaluate(() => navigator.storage.estimate());
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: usage + (4 << 20) });
  const r = await page.evaluate(async () => {
    const db = window.db;
    const acked = [];
    let error = null;
    const val = 'Q'.repeat(1000);
    for (let c = 0; c < 200 && !error; c++) {
      const res = await Promise.allSettled(Array.from({ length: 100 }, (_, j) => db.put(`q${String(c * 100 + j).padStart(6, '0')}`, val).then(() => c * 100 + j)));
      for (const x of res) {
        if (x.status === 'fulfilled') acked.push(x.value);
        else error = error || { code: x.reason.code, name: x.reason.name };
      }
    }
    // Reads still work.
    let readable = 0;
    for (const i of acked.slice(0, 200)) if ((await db.get(`q${String(i).padStart(6, '0')}`)) !== undefined) readable++;
    const again = await db.put('more', 'x').then(() => 'ok', (e) => e.code);
    return { acked, error, readable, again };
  });
  assert.ok(r.error, 'writes hit the quota');
  assert.deepEqual(r.error, { code: 'QUOTA', name: 'CairnError' });
  // A small write right after may succeed (the reopened database wrote a fresh WAL in the
  // space the failed table write had not used) or fail with QUOTA again; both are fine.
  assert.ok(['ok', 'QUOTA'].includes(r.again), r.again);
  assert.equal(r.readable, Math.min(200, r.acked.length));
  // Space is freed (here: a larger quota); the next write reopens and succeeds.
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: usage + (200 << 20) });
  const after = await page.evaluate(() => window.db.put('after', 'y').then(() => 'ok', (e) => `${e.code}: ${e.message}`));
  assert.equal(after, 'ok');
  await page.evaluate(() => window.db.close());
  await page.reload();
  await page.waitForFunction(() => window.harnessReady === true);
  await openIn(page, 'e2e-quota');
  const present = new Set(await allKeys(page));
  const lost = r.acked.filter((i) => !present.has(`q${String(i).padStart(6, '0')}`));
  assert.deepEqual(lost, [], 'no acknowledged write is lost');
  assert.ok(present.has('after'));
  report('quota', { acknowledged: r.acked.length, error: r.error.code, writeRightAfter: r.again });
  await cdp.send('Storage.overrideQuotaForOrigin', { origin });
  await page.evaluate(() => window.db.close());
  await page.close();
});

test('the no-bundler example (import map, files beside index.js) works and persists', async () => {
  const page = await browser.newPage();
  const visit = async () => {
    await page.goto(`${base}/www/examples/no-bundler/index.html`);
    await page.waitForFunction(() => window.exampleResult !== undefined);
    return page.evaluate(() => window.exampleResult);
  };
  const first = await visit();
  assert.equal(first.error, undefined, first.error);
  const second = await visit();
  assert.equal(second.visits, first.visits + 1);
  assert.deepEqual(second.keys, ['visits']);
  await page.close();
});

test('every open reuses the wasm module the page compiled once', async () => {
  const page = await newPage();
  const from = await page.evaluate(async () => {
    const { Cairn } = window.cairn;
    const out = [];
    for (const n of ['e2e-mod-a', 'e2e-mod-b', 'e2e-mod-a']) {
      const db = await Cairn.open(n);
      await db.put('k', 'v');
      out.push(db.t.wasmFrom);
      await db.close();
    }
    return out;
  });
  assert.deepEqual(from, ['module', 'module', 'module']);
  await page.close();
});
