// Types of cairn-db/node: the Node file host behind Cairn.open under Node (node.js).
// Most apps never import it: `import { Cairn } from 'cairn-db'` uses it by itself in Node.

/** The lock file in a database directory ("<pid> <hostname>"). */
export const LOCK_FILE: 'LOCK.node';

/** The host object the wasm engine calls for one database directory (node:fs, synchronous). */
export class NodeFiles {
  constructor(dir: string, create?: boolean);
  /** The absolute directory. */
  readonly dir: string;
  read(fd: number, buf: Uint8Array, pos: number): number;
  write(fd: number, data: Uint8Array, pos: number): void;
  op(code: number, fd: number, arg: number): number;
  path(code: number, name: string): number | boolean | string[];
  syncDir(): void;
  /** Takes LOCK.node; throws an Error with code 'LOCKED' while another live opener holds it. */
  lock(): void;
  unlock(): void;
}

/** The host and engine name for Cairn.open(dir, options). */
export function files(dir: string, options?: { createIfMissing?: boolean }): { host: NodeFiles; name: string };

/** Removes Cairn's files from `dir` (LOCKED while open), then `dir` if it is left empty. */
export function destroy(dir: string): void;
