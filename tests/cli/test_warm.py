"""`recdo run` starts its flow once the flow's own imports are in, while torch and pgmpy still load on a thread."""

from __future__ import annotations

import importlib
import subprocess
import sys

from recdo.cli.warm import warm_imports
from tests.helpers import REPO


def test_the_flow_modules_load_without_torch():
    code = (
        "import sys, flows.pipeline, flows.backfill; "
        "print(sorted(m for m in ('torch', 'transformers', 'lightning', 'pgmpy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"  # else the flow waits for them before its first task


def test_the_event_comes_after_the_first_group_and_before_the_later_one(tmp_path, monkeypatch):
    (tmp_path / "warm_gate.py").write_text(
        "import threading\nentered = threading.Event()\nrelease = threading.Event()\n"
    )
    (tmp_path / "warm_slow.py").write_text(
        "import warm_gate\nwarm_gate.entered.set()\nwarm_gate.release.wait(30)\nDONE = 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    ready = warm_imports(first=("warm_gate",), later=("warm_slow",))
    assert ready.wait(30)
    gate = importlib.import_module("warm_gate")
    assert gate.entered.wait(30)  # the later import is under way, and the flow need not wait for it
    assert not hasattr(sys.modules["warm_slow"], "DONE")
    gate.release.set()
    assert importlib.import_module("warm_slow").DONE == 1  # a task importing it waits for the thread's import


def test_a_failing_first_import_still_lets_the_flow_go():
    assert warm_imports(first=("recdo_no_such_module",), later=()).wait(30)
