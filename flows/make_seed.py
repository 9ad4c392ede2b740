"""`python -m flows.make_seed`: write flows/prefect_seed.sql.gz from a database the installed Prefect migrates."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from common.processes import start_ticks
from flows.prefect_seed import OFF, SEED, TAG, installed_prefect
from flows.server import ServerPaths, local_api


def write_seed(seed: Path = SEED) -> str:
    """Start a real server on a new database (Prefect migrates it), dump it to `seed`; return the version."""
    if os.environ.get("PREFECT_API_URL"):
        raise RuntimeError("PREFECT_API_URL is set; unset it, so that a new local server migrates a new database")
    before = os.environ.get(OFF)
    os.environ[OFF] = "0"  # the supervisor inherits it: the server migrates, it does not restore the old seed
    try:
        with tempfile.TemporaryDirectory() as work_dir:
            paths = ServerPaths.of(work_dir)
            with local_api(work_dir):
                supervisor = json.loads(paths.state.read_text())["supervisor_pid"]
                connection = sqlite3.connect(paths.database)
                try:
                    dump = "\n".join(connection.iterdump())
                finally:
                    connection.close()
            deadline = time.monotonic() + 30.0
            while start_ticks(supervisor) is not None and time.monotonic() < deadline:
                time.sleep(0.2)  # the server lets go of its files before the folder goes
    finally:
        if before is None:
            os.environ.pop(OFF, None)
        else:
            os.environ[OFF] = before
    version = installed_prefect()
    scratch = seed.with_name(seed.name + ".tmp")
    # mtime=0: the same dump gives the same bytes.
    with open(scratch, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
        packed.write(f"{TAG}{version}\n{dump}\n".encode())
    os.replace(scratch, seed)
    return version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.make_seed", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SEED, help="where to write the seed (default: %(default)s)")
    args = parser.parse_args(argv)
    version = write_seed(args.out)
    print(f"wrote {args.out} (prefect {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
