// The cairn-db package in Node 20 (in-process, in-memory store: { backend: 'memory' }): the same API as in the
// browser. Needs wasm/pkg (wasm/build.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cairn, CairnError } from '../../wasm/pkg/index.js';

// The in-memory backend, explicitly (the default under Node is files: node-files.test.mjs).
const MEM = { backend: 'memory' };

test('Node: put/get/delete/batch/scan/snapshot with typed errors, data kept across reopen', async () => {
  await Cairn.destroy('node-basic', MEM);
  const db = await Cairn.open('node-basic', MEM);
  await Promise.all(Array.from({ length: 2000 }, (_, i) => db.put(`k${String(i).padStart(4, '0')}`, `v${i}`)));
  await db.put(new Uint8Array([1, 2]), new Uint8Array([3]));
  await db.delete('k0001');
  await db.batch([
    { type: 'put', key: 'b1', value: 'x' },
    { type: 'del', key: 'k0002' },
  ]);
  assert.equal(await db.get('k0000', { asString: true }), 'v0');
  assert.equal(await db.get('k0001'), undefined);
  assert.deepEqual([...(await db.get(new Uint8Array([1, 2])))], [3]);
  const snap = await db.snapshot();
  await db.put('k0000', 'changed');
  assert.equal(await db.get('k0000', { snapshot: snap, asString: true }), 'v0');
  await snap.release();

  const fwd = [];
  for await (const [k] of db.scan({ prefix: 'k', keyAsString: true, pageSize: 7 })) fwd.push(k);
  assert.equal(fwd.length, 1998);
  assert.deepEqual(fwd.slice(0, 2), ['k0000', 'k0003']);
  const rev = [];
  for await (const [k, v] of db.scan({ start: 'k0100', end: 'k0200', reverse: true, limit: 3, keyAsString: true, valueAsString: true })) rev.push([k, v]);
  assert.deepEqual(rev, [
    ['k0199', 'v199'],
    ['k0198', 'v198'],
    ['k0197', 'v197'],
  ]);

  const codeOf = async (f) => {
    try {
      await f();
      return 'no error';
    } catch (e) {
      assert.ok(e instanceof CairnError, String(e));
      return e.code;
    }
  };
  assert.equal(await codeOf(() => db.put(1, 'x')), 'INVALID_ARGUMENT');
  assert.equal(await codeOf(() => db.put('k', null)), 'INVALID_ARGUMENT');
  assert.equal(await codeOf(() => db.batch([{ type: 'nope', key: 'k' }])), 'INVALID_ARGUMENT');
  assert.equal(await codeOf(() => db.put('k'.repeat(70000), 'x')), 'KEY_TOO_LARGE');
  const stats = await db.stats();
  assert.equal(stats.storage, 'memory');
  assert.ok(stats.maxGroup >= 1000, 'a turn of puts is one group');
  await db.close();
  assert.equal(await codeOf(() => db.get('k0000')), 'CLOSED');

  const again = await Cairn.open('node-basic', MEM);
  assert.equal(await again.get('k0000', { asString: true }), 'changed');
  await again.close();
  await Cairn.destroy('node-basic', MEM);
  const empty = await Cairn.open('node-basic', MEM);
  assert.equal(await empty.get('k0000'), undefined);
  await empty.close();
});

test('Node: transactions — read-your-writes, write skew, phantoms, retries, bank transfers by 4 callers', async () => {
  await Cairn.destroy('node-txn', MEM);
  const db = await Cairn.open('node-txn', MEM);
  const codeOf = async (f) => {
    try {
      await f();
      return 'no error';
    } catch (e) {
      assert.ok(e instanceof CairnError, String(e));
      return e.code;
    }
  };
  await db.batch(['a', 'b', 'c'].map((k) => ({ type: 'put', key: k, value: k + '0' })));

  // Read-your-writes in get and scans (both directions), invisible outside until commit.
  await db.transaction(async (tx) => {
    await tx.put('b', 'b1');
    await tx.delete('c');
    await tx.put('bb', 'new');
    assert.equal(await tx.get('b', { asString: true }), 'b1');
    assert.equal(await tx.get('c'), undefined);
    const fwd = [];
    for await (const [k, v] of tx.scan({ keyAsString: true, valueAsString: true, pageSize: 1 })) fwd.push(`${k}=${v}`);
    assert.deepEqual(fwd, ['a=a0', 'b=b1', 'bb=new']);
    const rev = [];
    for await (const [k] of tx.scan({ reverse: true, keyAsString: true })) rev.push(k);
    assert.deepEqual(rev, ['bb', 'b', 'a']);
    assert.equal(await db.get('bb'), undefined);
  });
  assert.equal(await db.get('bb', { asString: true }), 'new');
  assert.equal(await db.get('c'), undefined);

  // Write skew: two doctors each check both are on call, each goes off call.
  await db.batch([
    { type: 'put', key: 'oncall/alice', value: '1' },
    { type: 'put', key: 'oncall/bob', value: '1' },
  ]);
  const results = await Promise.allSettled(
    ['alice', 'bob'].map((me) =>
      db.transaction(
        async (tx) => {
          let on = 0;
          for (const d of ['alice', 'bob']) if ((await tx.getForUpdate(`oncall/${d}`, { asString: true })) === '1') on++;
          await new Promise((r) => setTimeout(r, 5)); // both read before either commits
          if (on === 2) await tx.put(`oncall/${me}`, '0');
        },
        { retries: 1 },
      ),
    ),
  );
  assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  const lost = results.find((r) => r.status === 'rejected');
  assert.equal(lost.reason.code, 'CONFLICT');
  const onCall = [await db.get('oncall/alice', { asString: true }), await db.get('oncall/bob', { asString: true })];
  assert.deepEqual(onCall.sort(), ['0', '1'], 'exactly one doctor went off call');

  // Phantom: a scanned range gains a key before the commit.
  let attempts = 0;
  await db.transaction(async (tx) => {
    attempts++;
    let n = 0;
    for await (const _ of tx.scan({ prefix: 'item/' })) n++;
    if (attempts === 1) await db.put('item/new', 'x');
    await tx.put('items', String(n));
  });
  assert.equal(attempts, 2, 'the closure ran again after the conflict');
  assert.equal(await db.get('items', { asString: true }), '1');

  // A finished transaction refuses every call with a typed error.
  let kept;
  await db.transaction(async (tx) => {
    kept = tx;
    await tx.put('x', '1');
  });
  assert.equal(await codeOf(() => kept.get('x')), 'TRANSACTION_FINISHED');
  assert.equal(await codeOf(() => kept.put('x', '2')), 'TRANSACTION_FINISHED');
  assert.equal(await codeOf(() => kept.commit()), 'TRANSACTION_FINISHED');
  assert.equal(await codeOf(() => db.transaction(async (tx) => tx.put(1, 'x'))), 'INVALID_ARGUMENT');
  assert.equal(await codeOf(() => db.transaction(async (tx) => tx.put('k'.repeat(70000), 'x'))), 'KEY_TOO_LARGE');
  assert.equal(await codeOf(() => db.transaction(async () => { throw new CairnError('IO', 'app'); })), 'IO');

  // Bank: 4 concurrent callers, 100 accounts; the total never changes.
  const N = 100;
  const acct = (i) => `acct/${String(i).padStart(3, '0')}`;
  await db.batch(Array.from({ length: N }, (_, i) => ({ type: 'put', key: acct(i), value: '1000' })));
  const total = async (read) => {
    let t = 0;
    for await (const [, v] of read({ prefix: 'acct/', valueAsString: true })) t += Number(v);
    return t;
  };
  let seed = 7;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const caller = async (transfers) => {
    for (let i = 0; i < transfers; i++) {
      const from = rand(N);
      const to = (from + 1 + rand(N - 1)) % N;
      const amount = 1 + rand(50);
      await db.transaction(
        async (tx) => {
          const a = Number(await tx.getForUpdate(acct(from), { asString: true }));
          const b = Number(await tx.getForUpdate(acct(to), { asString: true }));
          await tx.put(acct(from), String(a - amount));
          await tx.put(acct(to), String(b + amount));
        },
        { retries: 1000, sync: i % 10 === 0 },
      );
    }
  };
  const auditor = async () => {
    for (let i = 0; i < 20; i++) {
      assert.equal(await total((o) => db.scan(o)), N * 1000, 'snapshot scan');
      await db.transaction(async (tx) => assert.equal(await total((o) => tx.scan(o)), N * 1000, 'transaction scan'));
    }
  };
  await Promise.all([caller(500), caller(500), caller(500), caller(500), auditor()]);
  assert.equal(await total((o) => db.scan(o)), N * 1000);
  const stats = await db.stats();
  assert.ok(stats.txnConflicts > 0, 'concurrent callers conflicted and retried');
  assert.equal(stats.txnLive, 0);
  await db.close();
  await Cairn.destroy('node-txn', MEM);
});
