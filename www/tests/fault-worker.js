// A cairn-db worker with instrumentation for the e2e tests (used as `workerUrl`):
//  - counts OPFS writes and those given a view of a larger buffer (Cairn must copy: never a
//    view of wasm memory, which WebKit writes in full);
//  - on {type: 'fault', op: 'close-handles'} closes every sync access handle the worker
//    opened, as a browser does under a page it suspends; the next operation on one of them
//    fails with a real InvalidStateError.
// Answers every fault message with {type: 'fault-ack', writes, viewWrites, handles}.
import '../../wasm/pkg/worker.js';

const handles = [];
let writes = 0;
let viewWrites = 0;
const proto = FileSystemSyncAccessHandle.prototype;
const write = proto.write;
proto.write = function (buf, opts) {
  writes++;
  const view = ArrayBuffer.isView(buf) ? buf : new Uint8Array(buf);
  if (view.byteOffset !== 0 || view.byteLength !== view.buffer.byteLength) viewWrites++;
  return write.call(this, buf, opts);
};
const create = FileSystemFileHandle.prototype.createSyncAccessHandle;
FileSystemFileHandle.prototype.createSyncAccessHandle = async function (...args) {
  const h = await create.apply(this, args);
  handles.push(h);
  return h;
};
addEventListener('message', ({ data: m }) => {
  if (!m || m.type !== 'fault') return;
  let closed = 0;
  if (m.op === 'close-handles') {
    for (const h of handles.splice(0)) {
      h.close();
      closed++;
    }
  }
  postMessage({ type: 'fault-ack', writes, viewWrites, closed });
});
