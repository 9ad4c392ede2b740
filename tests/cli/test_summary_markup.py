"""Data values print as they are: a treatment value that looks like rich markup is not markup (issue 16, item 4)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from recdo.cli import main
from recdo.cli.summary import print_summary

ODD_VALUES = ("content[/b]", "[red]popular", ":thumbs_up:")


def _estimate(value: str, method: str, estimand: str, estimate: float, explanation: str | None = None) -> dict:
    return dict(
        treatment="strategy",
        outcome="click",
        treatment_value=value,
        baseline_value="[bold]random",
        estimand=estimand,
        method=method,
        estimate=estimate,
        ci_low=estimate - 0.01,
        ci_high=estimate + 0.01,
        n_rows=100,
        adjustment_set=("user_activity",),
        diagnostics={},
        explanation=explanation,
        segment=None,
    )


def test_summary_prints_markup_like_values_literally(capsys):
    estimates = tuple(_estimate(v, "bn_do", "ate", 0.02) for v in ODD_VALUES) + (
        _estimate("[/]x", "bn_do", "ate", float("nan"), explanation="strategy=[/]x has 1 row"),
    )
    summary = SimpleNamespace(
        run_id="run-[i]x",
        db="r.duckdb",
        estimates=estimates,
        scorer_metrics={"auc_val": float("nan"), "auc_train": 0.61, "n_train": 80.0},
        scorer="minilm (frozen)",
        n_in=101,
        n_clean=100,
        n_quarantined=1,
        edges=(("strategy", "click"),),
    )
    print_summary(summary)
    out = capsys.readouterr().out
    for value in (*ODD_VALUES, "[bold]random", "run-[i]x", "strategy=[/]x has 1 row"):
        assert value in out, value
    assert "auc_val=— (undefined: the split has only one outcome class)" in out
    assert "rows: 101 in, 100 processed, 1 quarantined | scorer minilm (frozen): auc_val=—" in out


def test_effects_prints_markup_like_values_literally(tmp_path, capsys):
    import pandas as pd

    import store

    db = tmp_path / "r.duckdb"
    frame = pd.DataFrame([_estimate(v, "bn_do", "ate", 0.02) for v in ODD_VALUES]).assign(
        adjustment_set=json.dumps(["user_activity"]), diagnostics="{}", source="t", partition="all"
    )
    with store.connect(db) as con:
        store.replace_rows(con, "interventions", frame, "run-1")
    assert main(["effects", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    for value in ODD_VALUES:
        assert f"{value} − [bold]random" in out, out


def test_a_scorer_near_chance_gets_one_plain_sentence_and_a_good_one_none(capsys):
    from recdo.cli.summary import scorer_note

    said = scorer_note({"auc_val": 0.566, "auc_train": 0.564})
    assert said.startswith("scorer: val AUC 0.566 ranks held-out rows about as well as chance (0.5)")
    assert "--learning-rate" in said and "never adjusted for" in said
    assert scorer_note({"auc_val": 0.758}) is None
    assert scorer_note({"auc_val": float("nan")}) is None  # one outcome class: the AUC line already says why
    assert scorer_note({}) is None
    summary = SimpleNamespace(
        run_id="run-1", db="r.duckdb", estimates=(_estimate("popular", "bn_do", "ate", 0.02),),
        scorer_metrics={"auc_val": 0.492}, scorer="minilm (frozen)", n_in=100, n_clean=100, n_quarantined=0,
        edges=(("strategy", "click"),),
    )  # fmt: skip
    print_summary(summary)
    assert "scorer: val AUC 0.492 ranks held-out rows about as well as chance" in capsys.readouterr().out
