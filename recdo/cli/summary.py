"""The end-of-run summary a person reads: one table per (treatment, outcome) and plain verdict sentences."""

from __future__ import annotations

import math
from collections.abc import Sequence


def fmt(x: float | None, digits: int = 5) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _short_set(names: Sequence[str]) -> str:
    """An adjustment set short enough for a table cell; `recdo effects --json` has it whole."""
    names = list(names)
    return ", ".join(names) if len(names) <= 2 else f"{names[0]} … {names[-1]} ({len(names)})"


def print_summary(summary) -> None:
    """The table a person reads at the end of a run: every estimate with its interval."""
    from rich.console import Console

    # Wide enough for one line per estimate even when stdout is a pipe (CI logs, `make demo | tee`).
    # markup/emoji off: treatment values and run ids are data, printed as they are ("content[/b]", "[red]popular")
    console = Console(width=max(Console().width, 140), markup=False, emoji=False, highlight=False)
    pairs = list(dict.fromkeys((e["treatment"], e["outcome"]) for e in summary.estimates))
    for treatment, outcome in pairs:
        rows = [e for e in summary.estimates if (e["treatment"], e["outcome"]) == (treatment, outcome)]
        console.print(_pair_table(f"recdo run {summary.run_id}: what {treatment} does to {outcome}", rows))
    _print_verdicts(console, summary, pairs)


def _pair_table(title: str, estimates):
    from rich.table import Table

    table = Table(title=title)
    for col in ("estimand", "method", "estimate", "95% CI", "n rows", "adjusted for"):
        table.add_column(col, justify="right" if col in ("estimate", "95% CI", "n rows") else "left", no_wrap=True)
    for e in estimates:
        treatment, outcome = e["treatment"], e["outcome"]
        logged = (e.get("diagnostics") or {}).get("logged_policy")
        if logged:  # off-policy: the target policy's value read from another policy's log
            estimand = f"P({outcome}=1) under {e['treatment_value']}, from {logged} log"
        elif e["estimand"] in ("ate", "cate"):
            estimand = f"{e['estimand'].upper()} {e['treatment_value']} − {e['baseline_value']}"
            if e.get("segment"):
                estimand += f" | {e['segment']}"
        elif e["method"] == "naive":  # conditioning, not intervening: this is the biased comparison
            estimand = f"P({outcome}=1 | {treatment}={e['treatment_value']})"
        else:
            estimand = f"P({outcome}=1 | do({treatment}={e['treatment_value']}))"
        table.add_row(
            estimand,
            e["method"],
            fmt(e["estimate"]),
            f"[{fmt(e['ci_low'])}, {fmt(e['ci_high'])}]",
            str(e["n_rows"]),
            _short_set(e["adjustment_set"]) or ("nothing (no backdoor path)" if e["method"] == "bn_do" else "—"),
        )
    return table


WEAK_AUC = 0.6  # below it a scorer ranks held-out rows little better than chance (0.5)


def scorer_note(metrics: dict) -> str | None:
    """A plain sentence when the scorer's val AUC is near chance: what that means for the estimates, and why."""
    auc = metrics.get("auc_val")
    if auc is None or math.isnan(auc) or auc >= WEAK_AUC:
        return None
    return (
        f"scorer: val AUC {auc:.3f} ranks held-out rows about as well as chance (0.5), so the score node adds little "
        "to the network. The do-estimates stand: the score comes after the treatment and is never adjusted for. A log "
        "with no text to read does this, and so does a pretrained backbone fine-tuned at too high a --learning-rate."
    )


def _metric(name: str, value: float) -> str:
    if not name.startswith("auc"):
        return f"{name}={value:.0f}"
    if isinstance(value, float) and math.isnan(value):  # the split holds one outcome class only
        return f"{name}=— (undefined: the split has only one outcome class)"
    return f"{name}={value:.3f}"


def _print_verdicts(console, summary, pairs) -> None:
    """Plain sentences under the tables: A/B verdicts, off-policy context, whether each ATE excludes 0."""
    for e in summary.estimates:
        diagnostics = e.get("diagnostics") or {}
        if e["method"] == "ab_diff" and "verdict" in diagnostics:
            console.print(
                f"A/B {e['treatment']}={e['treatment_value']} vs {e['baseline_value']} on {e['outcome']}: "
                f"{diagnostics['verdict']}"
            )
    truth = next(
        (
            e["diagnostics"]["on_policy_value"]
            for e in summary.estimates
            if "on_policy_value" in (e.get("diagnostics") or {})
        ),
        None,
    )
    if truth is not None:
        console.print(
            f"Off-policy rows estimate the target policy's click rate from the logged policy's rows alone; "
            f"its own log gives {truth:.5f} (relative errors: recdo effects --json, diagnostics)."
        )
    for e in summary.estimates:
        if e["estimand"] == "ate" and e["method"] == "bn_do":
            verdict = (
                "the interval includes 0: the data cannot tell these two apart"
                if e["ci_low"] <= 0 <= e["ci_high"]
                else "the interval excludes 0"
            )
            if e.get("explanation"):
                console.print(
                    f"ATE {e['treatment']}={e['treatment_value']} vs {e['baseline_value']} on {e['outcome']} "
                    f"(bn_do): no number. {e['explanation']}"
                )
                continue
            checks = (e.get("diagnostics") or {}).get("refutations_passed")
            checked = f" Refutations passed: {checks}." if checks else ""
            console.print(
                f"ATE {e['treatment']}={e['treatment_value']} vs {e['baseline_value']} on {e['outcome']} (bn_do): "
                f"{fmt(e['estimate'])}; {verdict}.{checked}"
            )
    for line in [*merged_level_lines(summary.estimates), *refutation_note(summary.estimates)]:
        console.print(line)
    metrics = ", ".join(
        _metric(k, v)
        for k, v in summary.scorer_metrics.items()
        if k in ("auc_train", "auc_val", "n_train", "n_val", "samples_per_s")
    )
    note = scorer_note(summary.scorer_metrics)
    if note:
        console.print(note)
    console.print(
        f"rows: {summary.n_in} in, {summary.n_clean} processed, {summary.n_quarantined} quarantined | scorer "
        f"{summary.scorer}: {metrics}\n"
        f"network edges ({pairs[0][0]} → {pairs[0][1]}): {', '.join(f'{u}→{v}' for u, v in summary.edges)}\n"
        f"run id: {summary.run_id}   results: {summary.db} (recdo effects --db {summary.db})"
    )


def merged_level_lines(estimates: list[dict]) -> list[str]:
    """One line per adjusted node whose rarer values the network merged into 'other' (its max_levels)."""
    merged: dict[str, list[str]] = {}
    for e in estimates:
        if e["method"] == "bn_do":
            for node, lost in ((e.get("diagnostics") or {}).get("merged_levels") or {}).items():
                merged.setdefault(node, lost)
    return [
        f"Adjusted for {node} with its {len(lost)} rarest values merged into 'other' ({', '.join(lost[:5])}"
        f"{', ...' if len(lost) > 5 else ''}): the network keeps at most CausalConfig.max_levels levels of a "
        "category, so this adjustment is coarser than the column; fewer distinct values keep it whole."
        for node, lost in merged.items()
    ]


def refutation_note(estimates: list[dict]) -> list[str]:
    """When a calibrated check failed: how many failed, and how many would fail by chance (each at its level)."""
    rates: list[float] = []
    failed = 0
    for e in estimates:
        if e["method"] != "bn_do" or e["estimand"] != "ate":
            continue
        for check in ((e.get("diagnostics") or {}).get("refutations") or {}).values():
            if isinstance(check, dict) and check.get("false_alarm") is not None:
                rates.append(float(check["false_alarm"]))
                failed += not check.get("passed")
    if not failed:
        return []
    return [
        f"Checks: {failed} of {len(rates)} placebo and random-halves checks failed. Each is a test at the "
        f"intervals' nominal level: with nothing wrong about {max(rates):.0%} of them fail by chance (more with few "
        f"bootstrap replicates), about {sum(rates):.1f} here; a check that fails again on new data or another "
        "seed is the one to look into."
    ]
