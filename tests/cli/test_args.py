"""One flag table: `recdo run` and `recdo backfill` accept the same pipeline flags and map them the same way."""

from __future__ import annotations

import pytest

from flows.params import PipelineParams
from recdo.cli import build_parser
from recdo.cli.args import FLAGS, Flag, params_from_args

BACKFILL = ["backfill", "--start", "2024-01-01", "--end", "2024-01-02"]
REPEATED = {
    "--map": "col=user_id",
    "--treatment": "position",
    "--outcome": "returned",
    "--baseline": "policy=bts",
    "--missing-as-state": "user_activity",
}
NUMBERS = {"--ope-max-rows": "5000"}  # bounded below by more than 7
TEXT = {"--data": "some/log.parquet", "--backbone": "tiny-bert", "--accelerator": "gpu", "--strategy": "ddp"}


def _value(flag: Flag) -> list[str]:
    """A value for `flag` that differs from its default, so the test sees whether it arrived."""
    if flag.switch:
        return []
    if flag.repeat:
        return [REPEATED[flag.flag]]
    if flag.choices:
        default = PipelineParams.model_fields[flag.field].default
        return [next(c for c in reversed(flag.choices) if c != default)]
    if flag.type is int:
        return [NUMBERS.get(flag.flag, "7")]
    if flag.type is float:
        return ["0.25"]
    return [TEXT.get(flag.flag, "a-value")]


def _params(argv: list[str]) -> PipelineParams:
    return params_from_args(build_parser().parse_args(argv))


@pytest.mark.parametrize("flag", [f for f in FLAGS if not f.run_only], ids=lambda f: f.flag)
def test_backfill_takes_every_pipeline_flag_of_run(flag):
    argv = [flag.flag, *_value(flag)]
    via_run, via_backfill = _params(["run", *argv]), _params([*BACKFILL, *argv])
    assert via_run == via_backfill
    assert via_run != PipelineParams(), f"{flag.flag} did not reach PipelineParams"


@pytest.mark.parametrize("flag", [f for f in FLAGS if f.run_only], ids=lambda f: f.flag)
def test_flags_of_run_alone_say_why(flag, capsys):
    assert len(flag.run_only) > 20  # the reason, not a marker
    with pytest.raises(SystemExit):
        build_parser().parse_args([*BACKFILL, flag.flag, "x"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_help_shows_the_defaults_params_hold(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # argparse wraps at hyphens too (tiny-bert) on a narrow terminal
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    shown = capsys.readouterr().out
    for text in ("(default: 200)", "(default: 1.0)", "(default: auto)", "(default: all)", "(default: .recdo)"):
        assert text in shown, text


@pytest.mark.parametrize(
    "command, shown, required",
    [
        ("simulate", ("(default: 610)", "(default: 50000)", "(default: 0)", "(default: 0.0)"), "--out"),
        ("structure", ("(default: hc)", "(default: bic)", "(default: 10.0)"), "--data"),
    ],
)
def test_the_other_commands_help_shows_their_defaults_too(command, shown, required, capsys, monkeypatch):
    import importlib

    monkeypatch.setenv("COLUMNS", "400")  # one line per option
    with pytest.raises(SystemExit):
        importlib.import_module(f"recdo.cli.{command}").main(["--help"])
    out = capsys.readouterr().out
    for text in shown:
        assert text in out, text
    line = next(line for line in out.splitlines() if line.strip().startswith(required))
    assert "(default" not in line  # a required flag has none to show


def test_the_text_representations_are_the_same_in_the_flag_the_params_and_the_features():
    # Three lists by necessity (the CLI may not import scoring's numpy and pandas): they must not drift apart.
    from typing import get_args

    from scoring.text_features import REPRESENTATIONS

    (flag,) = [f for f in FLAGS if f.field == "user_text_representation"]
    allowed = get_args(PipelineParams.model_fields["user_text_representation"].annotation)
    assert flag.choices == allowed == REPRESENTATIONS
