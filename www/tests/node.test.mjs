// The cairn-db package in Node 20 (in-process, in-memory store): the same API as in the
// browser. Needs wasm/pkg (wasm/build.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cairn, CairnError } from '../../wasm/pkg/index.js';

test('Node: put/get/delete/batch/scan/snapshot with typed errors, data kept across reopen', async () => {
  await Cairn.destroy('node-basic');
  const db = await Cairn.open('node-basic');
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

  const again = await Cairn.open('node-basic');
  assert.equal(await again.get('k0000', { asString: true }), 'changed');
  await again.close();
  await Cairn.destroy('node-basic');
  const empty = await Cairn.open('node-basic');
  assert.equal(await empty.get('k0000'), undefined);
  await empty.close();
});
