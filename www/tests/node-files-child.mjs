// Child process of node-files.test.mjs: opens the database directory argv[3] with real files
// and does what argv[2] says.
//   write DIR START   synced puts k<i> = v<i> from i = START, 8 at a time (one group commit
//                     each); prints "ack <i>" for each acknowledged put; runs until killed
//   hold DIR          opens, prints "open", closes and exits when stdin ends
//   open DIR          tries to open; prints "ok" or "error <code>" and exits
import { Cairn } from '../../wasm/pkg/index.js';

const [mode, dir, arg] = process.argv.slice(2);
if (mode === 'write') {
  const db = await Cairn.open(dir, { writeBufferSize: 64 << 10 });
  for (let i = Number(arg); ; i += 8) {
    const ids = Array.from({ length: 8 }, (_, j) => i + j);
    await Promise.all(
      ids.map((n) => db.put(`k${String(n).padStart(7, '0')}`, `v${n}`).then(() => process.stdout.write(`ack ${n}\n`))),
    );
  }
} else if (mode === 'hold') {
  const db = await Cairn.open(dir);
  process.stdout.write('open\n');
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await db.close();
    process.exit(0);
  });
} else if (mode === 'open') {
  try {
    const db = await Cairn.open(dir);
    await db.close();
    process.stdout.write('ok\n');
  } catch (e) {
    process.stdout.write(`error ${e.code}\n`);
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
