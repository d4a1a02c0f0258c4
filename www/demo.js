import { Cairn } from '../wasm/pkg/index.js';

const $ = (id) => document.getElementById(id);
const out = $('out');
let db = null;

function log(...args) {
  out.textContent = `${args.join(' ')}\n${out.textContent}`.slice(0, 20000);
}

async function run(fn) {
  try {
    await fn();
  } catch (e) {
    log(`${e.name} ${e.code || ''}: ${e.message}`);
  }
}

async function showRole() {
  $('role').textContent = db ? await db.role() : 'closed';
}

$('open').onclick = () =>
  run(async () => {
    if (db) await db.close();
    db = await Cairn.open($('name').value);
    await showRole();
    log(`opened ${$('name').value}`);
  });
$('close').onclick = () =>
  run(async () => {
    if (db) await db.close();
    db = null;
    await showRole();
  });
$('put').onclick = () =>
  run(async () => {
    await db.put($('key').value, $('value').value);
    log(`put ${$('key').value}`);
  });
$('get').onclick = () =>
  run(async () => {
    const v = await db.get($('key').value, { asString: true });
    log(`get ${$('key').value} = ${v === undefined ? '(none)' : JSON.stringify(v)}`);
  });
$('del').onclick = () =>
  run(async () => {
    await db.delete($('key').value);
    log(`deleted ${$('key').value}`);
  });
$('scan').onclick = () =>
  run(async () => {
    const lines = [];
    const prefix = $('prefix').value || undefined;
    for await (const [k, v] of db.scan({ prefix, reverse: $('reverse').checked, limit: 200, keyAsString: true, valueAsString: true })) {
      lines.push(`${k} = ${v}`);
    }
    log(`${lines.join('\n')}\n(scan: ${lines.length} entries, at most 200 shown)`);
  });
$('fill').onclick = () =>
  run(async () => {
    const t0 = performance.now();
    const base = Date.now();
    await Promise.all(Array.from({ length: 10000 }, (_, i) => db.put(`fill-${base}-${String(i).padStart(5, '0')}`, `value ${i}`)));
    log(`10,000 synced puts in ${(performance.now() - t0).toFixed(0)} ms`);
  });
$('stats').onclick = () => run(async () => log(JSON.stringify(await db.stats(), null, 1)));

run(async () => {
  db = await Cairn.open($('name').value);
  await showRole();
  setInterval(() => run(showRole), 1000);
});
