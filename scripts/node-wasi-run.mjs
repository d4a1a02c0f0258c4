// Runs a wasm32-wasip1 program under Node's node:wasi (a second WASI runtime next to
// Wasmtime). Same conventions as scripts/wasmtime-run.py:
//   node --no-warnings scripts/node-wasi-run.mjs PROGRAM.wasm [ARGS...]
//   WASI_DIRS="HOST[::GUEST];..." preopens directories (GUEST defaults to HOST).
// The guest's exit code becomes the process exit code.
import { WASI } from 'node:wasi';
import { readFileSync } from 'node:fs';

const [program, ...args] = process.argv.slice(2);
if (!program) {
  process.stderr.write('usage: node-wasi-run.mjs PROGRAM.wasm [ARGS...]\n');
  process.exit(2);
}
const preopens = {};
for (const spec of (process.env.WASI_DIRS || '').split(';').filter(Boolean)) {
  const [host, guest] = spec.split('::');
  preopens[guest || host] = host;
}
const wasi = new WASI({
  version: 'preview1',
  args: [program, ...args],
  env: process.env,
  preopens,
  returnOnExit: true,
});
const module = await WebAssembly.compile(readFileSync(program));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
