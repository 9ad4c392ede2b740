"""`python -m flows.make_seed`: write flows/prefect_seed.sql.gz from a database the installed Prefect migrates."""

from __future__ import annotations

import argparse
import gzip
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from flows.prefect_seed import OFF, SEED, TAG, installed_prefect
from flows.server import STARTUP_TIMEOUT_S, SUPERVISOR_ARG, ServerPaths


def migrated_dump() -> str:
    """The SQL dump of a new database after a real server's first start (migrations, block registration).

    The work dir's supervisor runs in the foreground with no run registered: it starts the server on a new
    database (RECDO_PREFECT_SEED=0, so Prefect migrates it rather than restoring the old seed), waits for
    /health, and stops it once idle, closing the database. Whatever PREFECT_API_URL this process points at
    (a test's server, a deployment's) is left out of the supervisor's environment.
    """
    with tempfile.TemporaryDirectory() as work_dir:
        paths = ServerPaths.of(work_dir)
        paths.root.mkdir(parents=True)
        env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
        env[OFF] = "0"
        command = [sys.executable, "-m", "flows.server", SUPERVISOR_ARG, str(paths.root)]
        done = subprocess.run(
            [*command, "--timeout", str(STARTUP_TIMEOUT_S)],
            env=env,
            cwd=str(Path(__file__).resolve().parent.parent),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT_S + 60,
        )
        if done.returncode != 0 or not paths.database.exists():
            raise RuntimeError(
                f"the Prefect server did not migrate a new database (supervisor exit {done.returncode}): "
                f"{(done.stdout + done.stderr).strip()[-500:]}"
            )
        connection = sqlite3.connect(paths.database)
        try:
            return "\n".join(connection.iterdump())
        finally:
            connection.close()


def write_seed(seed: Path = SEED) -> str:
    """Dump a freshly migrated database to `seed`, tagged with the installed Prefect's version; return it."""
    dump, version = migrated_dump(), installed_prefect()
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
