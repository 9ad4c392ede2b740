"""The `decision` artifact: `recdo decide`'s sentences and one table row per (pair, segment, value)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from causal.decide.run import decide_sets
from tasks.decision import KEY, decision_text, publish_decision
from tests.report.decision_db import RUN, VALUES, fill

COLUMNS = ("treatment", "outcome", "segment", "value", "p_best", "expected_loss", "lift", "lift_low", "lift_high")
HEADER = "| " + " | ".join((*COLUMNS, "recommended")) + " |"  # the brief's row keys, in `recdo decide --json`'s order


def _rows(markdown: str) -> list[list[str]]:
    """The table's body rows, split into cells."""
    lines = [line for line in markdown.splitlines() if line.startswith("| strategy |")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


def test_the_markdown_holds_decides_sentences_and_a_row_per_value(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    sets = fill(db)
    text = decision_text(str(db), RUN)
    assert text.startswith(f"# recdo decision of run `{RUN}`")
    for d in decide_sets(sets):
        assert f"- {d.sentence()}\n" in text
    assert HEADER in text
    rows = _rows(text)
    assert len(rows) == 3 * len(VALUES)  # the population and two segments
    recommended = {(r[2], r[3]) for r in rows if r[9] == "yes"}
    assert recommended == {("all", "b"), ("act=high", "b"), ("act=low", "c")}
    for segment in ("all", "act=high", "act=low"):
        part = [r for r in rows if r[2] == segment]
        assert sum(float(r[4]) for r in part) == pytest.approx(1.0, abs=1e-3)  # P(best) printed to 4 digits
        assert min(part, key=lambda r: float(r[5]))[9] == "yes"  # the smallest expected loss is the recommended


def test_a_segment_without_a_decision_keeps_its_rows_blank(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    fill(db, withheld=True)
    text = decision_text(str(db), RUN)
    assert "- In act=low: no decision for strategy on click: c has no replicates" in text
    low = [r for r in _rows(text) if r[2] == "act=low"]
    assert len(low) == 3 and all(r[4:] == [""] * 6 for r in low)


def test_a_run_without_replicates_says_so(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    fill(db, with_replicates=False)
    text = decision_text(str(db), RUN)
    assert "No bootstrap replicates stored for run `r1`: no decision." in text and "|" not in text


def test_the_task_creates_the_decision_artifact(prefect_server, tmp_path: Path) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    db = tmp_path / "r.duckdb"
    fill(db)

    @flow(name="decision artifact test")
    def publish() -> tuple[str | None, str]:
        from prefect.runtime import flow_run

        return publish_decision(str(db), RUN), flow_run.id

    markdown, flow_run_id = publish()
    assert markdown == decision_text(str(db), RUN)

    async def read() -> list:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[KEY]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )

    artifacts = asyncio.run(read())
    assert len(artifacts) == 1 and artifacts[0].type == "markdown" and artifacts[0].data == markdown
