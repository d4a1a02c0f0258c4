// The cairn-db package under Node with real files (wasm/js/node.js over node:fs): a model
// test with close/reopen, persistence across a SIGKILL of the writing process, the directory
// lock across processes (and a stale lock left by a killed process), databases moving between
// Node and the native `cairn` CLI both ways, and typed errors for bad input.
// Needs wasm/pkg (wasm/build.sh) and cargo (the native CLI is built with
// `cargo build -p cairn-cli`, a no-op when it is up to date; CAIRN_CLI=<path> uses another).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cairn, CairnError } from '../../wasm/pkg/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const child = join(here, 'node-files-child.mjs');
const scratch = fs.mkdtempSync(join(os.tmpdir(), 'cairn-node-files-'));
process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));

const codeOf = async (f) => {
  try {
    await f();
    return 'no error';
  } catch (e) {
    assert.ok(e instanceof CairnError, `not a CairnError: ${e}`);
    return e.code;
  }
};

/** A small deterministic PRNG (mulberry32). */
function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function scanAll(db, opts = {}) {
  const out = [];
  for await (const [k, v] of db.scan({ keyAsString: true, valueAsString: true, ...opts })) out.push([k, v]);
  return out;
}

function sortedModel(model) {
  return [...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

test('Node files: random put/delete/get/scan against a Map, with close/reopen between rounds', async () => {
  const dir = join(scratch, 'model');
  const rand = rng(18005);
  const model = new Map();
  const opts = { writeBufferSize: 16 << 10, targetTableSize: 32 << 10 };
  let db = await Cairn.open(dir, opts);
  assert.equal(db.backend, 'files');
  const key = () => `key${String(Math.floor(rand() * 600)).padStart(4, '0')}`;
  for (let round = 0; round < 6; round++) {
    const pending = [];
    for (let i = 0; i < 700; i++) {
      const r = rand();
      const k = key();
      if (r < 0.6) {
        const v = `r${round}-${i}-${'x'.repeat(Math.floor(rand() * 200))}`;
        model.set(k, v);
        pending.push(db.put(k, v, { sync: rand() < 0.5 }));
      } else if (r < 0.8) {
        model.delete(k);
        pending.push(db.delete(k));
      } else if (r < 0.9) {
        const ops = Array.from({ length: 4 }, () => {
          const bk = key();
          if (rand() < 0.7) {
            const v = `b${round}-${i}`;
            model.set(bk, v);
            return { type: 'put', key: bk, value: v };
          }
          model.delete(bk);
          return { type: 'del', key: bk };
        });
        pending.push(db.batch(ops));
      } else {
        // A read sees every write issued before it (requests are served in order).
        const want = model.get(k);
        pending.push(db.get(k, { asString: true }).then((v) => assert.equal(v, want, `get ${k}`)));
      }
      if (i % 100 === 99) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    assert.deepEqual(await scanAll(db), sortedModel(model), `scan after round ${round}`);
    const lo = key();
    const hi = key();
    const [a, b] = lo < hi ? [lo, hi] : [hi, lo];
    const want = sortedModel(model).filter(([k]) => k >= a && k < b).reverse();
    assert.deepEqual(await scanAll(db, { start: a, end: b, reverse: true }), want, `range scan ${a}..${b}`);
    await db.close();
    db = await Cairn.open(dir, opts);
    assert.deepEqual(await scanAll(db), sortedModel(model), `scan after reopen ${round}`);
  }
  const stats = await db.stats();
  assert.equal(stats.storage, 'files');
  assert.ok(stats.flushes + stats.compactions > 0 || stats.l0Runs > 0, 'the rounds flushed tables');
  assert.ok(fs.readdirSync(dir).some((n) => n.endsWith('.sst')), 'tables are real files');
  await db.close();
  await Cairn.destroy(dir);
  assert.equal(fs.existsSync(dir), false, 'destroy removed the directory');
});

/** Runs the child in `mode`; resolves lines through `onLine` until it exits. */
function startChild(mode, dir, arg = '') {
  const p = spawn(process.execPath, [child, mode, dir, String(arg)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  createInterface({ input: p.stdout }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal })));
  const until = async (pred) => {
    while (!pred(lines)) {
      const done = await Promise.race([new Promise((r) => waiters.push(r)).then(() => false), exited.then(() => true)]);
      if (done && !pred(lines)) throw new Error(`child ${mode} exited; output: ${lines.join(' | ')}`);
    }
  };
  return { p, lines, until, exited };
}

test('Node files: every acknowledged synced put survives a SIGKILL of the writing process; the stale lock is taken over', async () => {
  const dir = join(scratch, 'kill');
  let start = 0;
  const acked = new Set();
  for (let run = 0; run < 3; run++) {
    const c = startChild('write', dir, start);
    // Kill at a different point each run, mid-stream.
    await c.until((l) => l.length >= 400 + run * 350);
    c.p.kill('SIGKILL');
    const { signal } = await c.exited;
    assert.equal(signal, 'SIGKILL');
    for (const l of c.lines) {
      const m = /^ack (\d+)$/.exec(l);
      if (m) acked.add(Number(m[1]));
    }
    assert.ok(fs.existsSync(join(dir, 'LOCK.node')), 'the killed writer left its lock file');
    const db = await Cairn.open(dir); // takes over the stale lock
    for (const n of acked) {
      assert.equal(await db.get(`k${String(n).padStart(7, '0')}`, { asString: true }), `v${n}`, `acknowledged k${n}`);
    }
    // Nothing but what was written: every key present has its own value.
    for (const [k, v] of await scanAll(db)) assert.equal(v, `v${Number(k.slice(1))}`);
    await db.close();
    start = Math.max(...acked) + 1;
  }
  assert.ok(acked.size >= 1000, `${acked.size} acknowledged writes checked`);
});

test('Node files: a second opener in another process gets LOCKED; after the first exits it opens', async () => {
  const dir = join(scratch, 'lock');
  const holder = startChild('hold', dir);
  await holder.until((l) => l.includes('open'));
  const other = startChild('open', dir);
  await other.exited;
  assert.deepEqual(other.lines, ['error LOCKED']);
  // In this process too.
  assert.equal(await codeOf(() => Cairn.open(dir)), 'LOCKED');
  assert.equal(await codeOf(() => Cairn.destroy(dir)), 'LOCKED');
  holder.p.stdin.end();
  assert.equal((await holder.exited).code, 0);
  assert.equal(fs.existsSync(join(dir, 'LOCK.node')), false, 'close removed the lock file');
  const again = startChild('open', dir);
  await again.exited;
  assert.deepEqual(again.lines, ['ok']);
  const db = await Cairn.open(dir);
  await db.close();
});

/** The native CLI (built by cargo unless CAIRN_CLI names one). */
let cliPath = null;
function cli(...args) {
  if (!cliPath) {
    if (process.env.CAIRN_CLI) cliPath = process.env.CAIRN_CLI;
    else {
      execFileSync('cargo', ['build', '-q', '-p', 'cairn-cli'], { cwd: root, stdio: 'inherit' });
      cliPath = join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'debug', 'cairn');
    }
  }
  return execFileSync(cliPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const hex = (s) => Buffer.from(s).toString('hex');

test('Node files <-> native cairn CLI: written under Node, read natively key by key; written natively, read under Node', async () => {
  const dir = join(scratch, 'cross');
  const model = new Map();
  const db = await Cairn.open(dir, { writeBufferSize: 16 << 10 });
  const puts = [];
  for (let i = 0; i < 1500; i++) {
    const k = `n${String(i).padStart(5, '0')}`;
    const v = `node-${i}-${'y'.repeat(i % 50)}`;
    model.set(k, v);
    puts.push(db.put(k, v));
  }
  await Promise.all(puts);
  for (let i = 0; i < 1500; i += 7) {
    model.delete(`n${String(i).padStart(5, '0')}`);
    await db.delete(`n${String(i).padStart(5, '0')}`);
  }
  await db.close();

  // Natively: every key by `get`, sampled, and the whole content by `export`.
  for (const [k, v] of sortedModel(model).filter((_, i) => i % 50 === 0)) assert.equal(cli('get', dir, k), `${v}\n`, `native get ${k}`);
  assert.throws(() => cli('get', dir, 'n00000'), (e) => e.status === 8, 'a deleted key is absent natively');
  const exported = cli('export', dir, '-')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(exported, sortedModel(model).map(([k, v]) => `${hex(k)}\t${hex(v)}`));
  assert.match(cli('verify', dir), /OK/);

  // Natively written: puts, a delete, an import of 2,000 more.
  cli('put', dir, 'native-1', 'from the cli');
  model.set('native-1', 'from the cli');
  cli('delete', dir, 'n00001');
  model.delete('n00001');
  const importFile = join(scratch, 'import.txt');
  const lines = [];
  for (let i = 0; i < 2000; i++) {
    const k = `z${String(i).padStart(5, '0')}`;
    model.set(k, `native-${i}`);
    lines.push(`${hex(k)}\t${hex(`native-${i}`)}`);
  }
  fs.writeFileSync(importFile, lines.join('\n') + '\n');
  cli('import', dir, importFile);
  cli('compact', dir);

  const back = await Cairn.open(dir);
  assert.deepEqual(await scanAll(back), sortedModel(model));
  assert.equal(await back.get('native-1', { asString: true }), 'from the cli');
  assert.equal(await back.get('n00001'), undefined);
  await back.put('after', 'native');
  await back.close();
  assert.equal(cli('get', dir, 'after'), 'native\n');
});

test('Node files: bad input gets typed errors', async () => {
  const dir = join(scratch, 'bad');
  const db = await Cairn.open(dir, { maxValueSize: 1024 });
  assert.equal(await codeOf(() => db.put('k', 'x'.repeat(2000))), 'VALUE_TOO_LARGE');
  assert.equal(await codeOf(() => db.put('k'.repeat(70000), 'x')), 'KEY_TOO_LARGE');
  assert.equal(await codeOf(() => db.put(1, 'x')), 'INVALID_ARGUMENT');
  assert.equal(await codeOf(() => db.put('k', null)), 'INVALID_ARGUMENT');
  assert.equal(await codeOf(() => db.get({})), 'INVALID_ARGUMENT');
  assert.equal(await codeOf(() => db.batch([{ type: 'nope', key: 'k' }])), 'INVALID_ARGUMENT');
  await db.put('kept', 'yes');
  await db.close();
  assert.equal(await codeOf(() => db.get('kept')), 'CLOSED');
  assert.equal(await codeOf(() => db.put('k', 'v')), 'CLOSED');
  assert.equal(await codeOf(() => Cairn.open(dir, { backend: 'bogus' })), 'INVALID_ARGUMENT');
  assert.equal(await codeOf(() => Cairn.open(dir, { writeBufferSize: 'big' })), 'INVALID_ARGUMENT');
  assert.equal(await codeOf(() => Cairn.open(dir, { errorIfExists: true })), 'ALREADY_EXISTS');
  assert.equal(await codeOf(() => Cairn.open(join(scratch, 'missing'), { createIfMissing: false })), 'NOT_FOUND');
  assert.equal(fs.existsSync(join(scratch, 'missing')), false);
  const file = join(scratch, 'plain-file');
  fs.writeFileSync(file, 'not a directory');
  assert.equal(await codeOf(() => Cairn.open(file)), 'IO');
  const again = await Cairn.open(dir);
  assert.equal(await again.get('kept', { asString: true }), 'yes');
  await again.close();

  // The memory backend, explicitly: nothing reaches the directory.
  const mem = await Cairn.open('node-files-mem', { backend: 'memory' });
  assert.equal(mem.backend, 'memory');
  await mem.put('a', 'b');
  assert.equal((await mem.stats()).storage, 'memory');
  await mem.close();
  assert.equal(fs.existsSync('node-files-mem'), false);
});
