const out = {};
(async () => {
  try {
    out.storage = typeof navigator.storage;
    out.getDirectory = typeof (navigator.storage && navigator.storage.getDirectory);
    const root = await navigator.storage.getDirectory();
    out.root = 'ok';
    const dir = await root.getDirectoryHandle('probe', { create: true });
    const fh = await dir.getFileHandle('f', { create: true });
    out.createSyncAccessHandle = typeof fh.createSyncAccessHandle;
    const h = await fh.createSyncAccessHandle();
    out.sah = 'ok';
    const data = new Uint8Array([1, 2, 3, 4]);
    out.write = h.write(data, { at: 0 });
    h.flush();
    out.size = h.getSize();
    const b = new Uint8Array(4);
    out.read = h.read(b, { at: 0 });
    out.readBack = Array.from(b);
    // A view of a larger buffer: what gets written?
    const big = new Uint8Array(16).map((_, i) => 100 + i);
    out.viewWrite = h.write(big.subarray(4, 6), { at: 10 });
    out.sizeAfterView = h.getSize();
    const c = new Uint8Array(2);
    h.read(c, { at: 10 });
    out.viewReadBack = Array.from(c);
    try { await fh.createSyncAccessHandle(); out.second = 'allowed'; } catch (e) { out.second = e.name; }
    h.close();
    out.locks = typeof navigator.locks;
    out.bc = typeof BroadcastChannel;
  } catch (e) {
    out.error = `${e.name}: ${e.message}`;
  }
  postMessage(out);
})();
