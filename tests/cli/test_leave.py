"""The console script's exit: what Python's exit would do that matters still happens, the teardown does not."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap

from tests.helpers import REPO

PROGRAM = textwrap.dedent(
    """
    import atexit, sys, threading, time
    from pathlib import Path
    import duckdb
    from recdo.cli.leave import leave

    out = Path(sys.argv[1])
    atexit.register(lambda: (out / "atexit").write_text("ran"))
    threading.Thread(target=lambda: (time.sleep(0.3), (out / "thread").write_text("joined"))).start()
    connection = duckdb.connect(str(out / "x.duckdb"))
    connection.execute("CREATE TABLE t AS SELECT 1 AS x")
    cycle = [connection]
    cycle.append(cycle)  # kept alive by a cycle, as the pipeline's objects are at exit
    print("the last line", end="")  # no newline: a buffered tail must still reach the pipe
    sys.stderr.write("an error line")
    leave(3)
    """
)


def test_leave_keeps_exit_code_output_threads_and_atexit(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3
    assert done.stdout == "the last line"
    assert done.stderr == "an error line"  # nothing after it (no teardown chatter)
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "joined"


def test_the_console_script_leaves_through_it():
    done = subprocess.run(
        [sys.executable, "-m", "recdo.cli", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "usage: recdo" in done.stdout and done.stderr == ""
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="recdo")
    assert script.value == "recdo.cli:entry"  # the installed `recdo`, not only `python -m recdo.cli`
