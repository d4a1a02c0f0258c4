#!/usr/bin/env python3
"""Runs a wasm32-wasip1 program under Wasmtime (the PyPI `wasmtime` package).

Used as cargo's runner for `--target wasm32-wasip1` (see .cargo/config.toml), so
`cargo test` / `cargo run` work as on the host:

    scripts/wasmtime-run.py PROGRAM.wasm [ARGS...]

- argv is passed through (libtest filters such as `--exact name` work);
- the host environment is passed through, plus CAIRN_TEST_DIR=/tmp and TMPDIR=/tmp;
- a fresh host temp directory is preopened as /tmp and removed afterwards
  (std::env::temp_dir() panics on WASI, tests use $CAIRN_TEST_DIR instead);
- WASI_DIRS="HOST[::GUEST];HOST2[::GUEST2]" preopens more directories (GUEST defaults to
  HOST, so absolute host paths work unchanged inside the guest);
- WASI_PREOPEN_CWD=1 also preopens the working directory as "." (relative paths);
- the guest's exit code (proc_exit) becomes this process's exit code; a trap
  (panic = abort, unreachable, out of bounds) prints the trap and exits 134 (like SIGABRT).
"""
import os
import shutil
import sys
import tempfile

try:
    from wasmtime import Config, Engine, ExitTrap, Linker, Module, Store, Trap, WasiConfig, WasmtimeError
except ImportError:
    sys.stderr.write("wasmtime-run: the Python package 'wasmtime' is missing; run `pip install wasmtime`\n")
    sys.exit(127)


def main() -> int:
    if len(sys.argv) < 2:
        sys.stderr.write("usage: wasmtime-run.py PROGRAM.wasm [ARGS...]\n")
        return 2
    program, args = sys.argv[1], sys.argv[2:]

    config = Config()
    try:
        config.cache = True  # compiled-module cache: reruns of the same binary start fast
    except Exception:  # noqa: BLE001 - caching is only an optimisation
        pass
    engine = Engine(config)
    module = Module.from_file(engine, program)
    linker = Linker(engine)
    linker.define_wasi()

    tmp = tempfile.mkdtemp(prefix="cairn-wasi-")
    try:
        wasi = WasiConfig()
        wasi.argv = [os.path.basename(program)] + args
        env = dict(os.environ)
        env["CAIRN_TEST_DIR"] = "/tmp"
        env["TMPDIR"] = "/tmp"
        wasi.env = sorted(env.items())
        wasi.inherit_stdin()
        wasi.inherit_stdout()
        wasi.inherit_stderr()
        wasi.preopen_dir(tmp, "/tmp")
        for spec in filter(None, os.environ.get("WASI_DIRS", "").split(";")):
            host, _, guest = spec.partition("::")
            wasi.preopen_dir(host, guest or host)
        if os.environ.get("WASI_PREOPEN_CWD") == "1":
            wasi.preopen_dir(os.getcwd(), ".")

        store = Store(engine)
        store.set_wasi(wasi)
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        sys.stdout.flush()
        try:
            start(store)
            return 0
        except ExitTrap as e:
            return e.code
        except (Trap, WasmtimeError) as e:
            sys.stderr.write(f"wasmtime-run: {program} trapped: {e}\n")
            return 134
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
