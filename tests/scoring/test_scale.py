"""The scorer on long logs: a seeded stratified training sample, then every row scored in streaming batches."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_scoring import synthetic_log  # tests/ is on sys.path (rootdir conftest, no package)

from scoring import ScorerConfig, read_sample, row_texts, sample_mask, score_log, train_and_score
from scoring.data import distinct_rows
from scoring.model import ScorerModule
from scoring.predict import RowScorer
from scoring.sample import class_quotas, log_dataset
from scoring.train import deterministic_run, fit_scorer
from tasks.score import train_scorer

QUIET = dict(progress=False, accelerator="cpu", batch_size=64, max_length=40)


def _write_parts(log: pd.DataFrame, folder: Path, parts: int) -> Path:
    folder.mkdir(parents=True)
    for k, rows in enumerate(np.array_split(np.arange(len(log)), parts)):
        log.iloc[rows].to_parquet(folder / f"part-{k:03d}.parquet", index=False)
    return folder


def test_train_rows_is_checked_naming_the_fix() -> None:
    with pytest.raises(ValueError, match="train_rows must be an integer >= 2; got 1; .*e.g. 200000"):
        ScorerConfig(train_rows=1)
    assert ScorerConfig().train_rows == 200_000


def test_the_sample_keeps_the_outcome_share_is_seeded_and_ignores_row_order(tmp_path: Path) -> None:
    log = synthetic_log(5000)
    labels = log["click"].to_numpy()
    keep = sample_mask(log["event_id"], labels, 1000, seed=0)
    assert keep.sum() == 1000
    assert labels[keep].sum() == round(1000 * labels.mean())  # the log's positive share, to the row
    assert np.array_equal(keep, sample_mask(log["event_id"], labels, 1000, seed=0))
    assert not np.array_equal(keep, sample_mask(log["event_id"], labels, 1000, seed=1))
    shuffled = log.sample(frac=1.0, random_state=3)
    again = sample_mask(shuffled["event_id"], shuffled["click"].to_numpy(), 1000, seed=0)
    assert set(shuffled["event_id"][again]) == set(log["event_id"][keep])
    # Read in two streaming passes from a folder of Parquet files, the sample is the same rows, whole.
    streamed = read_sample(log_dataset(str(_write_parts(log, tmp_path / "log", 3))), "click", 1000, 0, 700)
    assert set(streamed["event_id"]) == set(log["event_id"][keep])
    expected = log[keep].set_index("event_id").loc[streamed["event_id"]].reset_index()
    pd.testing.assert_frame_equal(streamed, expected[log.columns])


def test_a_rare_outcome_keeps_a_train_and_a_val_row_in_the_sample() -> None:
    assert class_quotas({0.0: 1_000_000, 1.0: 30}, 1000) == {0.0: 998, 1.0: 2}
    assert class_quotas({0.0: 900, 1.0: 100}, 1000) == {0.0: 900, 1.0: 100}  # a short log is kept whole
    assert class_quotas({0.0: 2001, 1.0: 999}, 1000) == {0.0: 667, 1.0: 333}


@pytest.mark.slow
def test_a_log_up_to_train_rows_is_trained_and_scored_exactly_as_before(tmp_path: Path) -> None:
    log = synthetic_log(400)
    config = ScorerConfig(train_rows=400, **QUIET)
    before = train_and_score(log, "click", config, tmp_path / "a")
    assert set(before.split) == {"train", "val"} and "rows_sampled" not in before.metrics
    path = tmp_path / "clean.parquet"
    log.to_parquet(path, index=False)
    scored = score_log(str(path), str(tmp_path / "scored.parquet"), "click", config, tmp_path / "b")
    written = pd.read_parquet(scored.path)
    pd.testing.assert_frame_equal(written, log.assign(score=before.scores, split=before.split))
    assert scored.metrics["n_train"] == 320 and scored.n_rows == 400


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["finetune", "frozen"])
def test_streaming_a_multi_file_log_gives_the_scores_of_the_whole_frame(tmp_path: Path, mode: str) -> None:
    log = synthetic_log(3000)
    config = ScorerConfig(train_rows=1000, mode=mode, **QUIET)
    whole = train_and_score(log, "click", config, tmp_path / "whole")
    folder = _write_parts(log, tmp_path / "log", 3)
    scored = score_log(
        str(folder), str(tmp_path / "scored.parquet"), "click", config, tmp_path / "stream", batch_rows=700
    )
    written = pd.read_parquet(scored.path)
    pd.testing.assert_frame_equal(written.drop(columns=["score", "split"]), log)  # every input column, row order
    assert np.array_equal(written["score"].to_numpy(), whole.scores)
    assert np.array_equal(written["split"].to_numpy(dtype=str), whole.split)
    assert written["split"].value_counts().to_dict() == {"unsampled": 2000, "train": 800, "val": 200}
    assert scored.metrics["rows_sampled"] == 1000 and scored.metrics["score_rows"] == 3000
    assert scored.metrics["n_train"] == 800 and scored.metrics["auc_val"] > 0.8
    # The same log in another row order: the same sample, the same model, the same score for every event.
    shuffled = log.sample(frac=1.0, random_state=5)
    again = train_and_score(shuffled, "click", config, tmp_path / "shuffled")
    by_event = pd.Series(again.scores, index=shuffled["event_id"]).loc[log["event_id"]].to_numpy()
    assert np.array_equal(by_event, whole.scores)


@pytest.mark.slow
@pytest.mark.parametrize("cache_entries", [100_000, 1])
def test_each_distinct_input_goes_through_the_network_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_entries: int
) -> None:
    # 8 distinct texts (2 tokens each side): 2000 rows, but at most 8 inputs per batch need the network.
    rng = np.random.default_rng(1)
    log = synthetic_log(2000).assign(
        item_feature_0=rng.choice([0.5, 1.5], size=2000), item_feature_1="x", user_item_affinity=0.0
    )
    log["user_feature_1"] = "y"
    seen: list[list[str]] = []
    forward = RowScorer._forward

    def counting(self: RowScorer, keys: list[str]) -> np.ndarray:
        seen.append(list(keys))
        return forward(self, keys)

    monkeypatch.setattr(RowScorer, "_forward", counting)
    path = tmp_path / "clean.parquet"
    log.to_parquet(path, index=False)
    config = ScorerConfig(train_rows=500, **QUIET)
    out = str(tmp_path / "out.parquet")
    scored = score_log(str(path), out, "click", config, tmp_path, batch_rows=500, cache_entries=cache_entries)
    inputs = [k for call in seen for k in call]
    distinct = len(set(inputs))
    assert all(len(set(call)) == len(call) for call in seen)  # never twice within a batch
    if cache_entries > 1:
        assert len(inputs) == distinct == len(set(row_texts(log, exclude=("click",)))) == 8  # once in the run
        assert scored.metrics["score_inputs_scored"] == 8 and scored.metrics["score_rows"] == 2000
    else:
        assert distinct == 8 and len(inputs) > 8  # a one-entry cache forgets between batches, never within one
    assert scored.metrics["score_cache_hits"] + scored.metrics["score_inputs_scored"] >= 8


def test_the_training_run_predicts_each_distinct_input_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 8 distinct texts over 600 rows: the predict pass after training sees 8 rows, and every row gets its text's
    # logit, the one a pass over every row gives (a per-row output never depends on the rows beside it).
    rng = np.random.default_rng(2)
    log = synthetic_log(600).assign(
        item_feature_0=rng.choice([0.5, 1.5], size=600), item_feature_1="x", user_item_affinity=0.0
    )
    log["user_feature_1"] = "y"
    served: list[int] = []
    step = ScorerModule.predict_step

    def counting(self: ScorerModule, batch, batch_idx: int):
        served.append(int(batch["row"].shape[0]))
        return step(self, batch, batch_idx)

    monkeypatch.setattr(ScorerModule, "predict_step", counting)
    config = ScorerConfig(train_rows=600, **QUIET)
    fitted = fit_scorer(log, "click", config, tmp_path / "a", keep_scorer=True)
    texts = row_texts(log, exclude=("click",))
    assert sum(served) == len(set(texts)) == 8
    assert (pd.Series(fitted.result.scores).groupby(texts).nunique() == 1).all()  # one score per distinct text
    assert fitted.scorer is not None
    with deterministic_run(config.seed, quiet=True, threads=fitted.threads):
        again = fitted.scorer.scores(log, "click")  # the kept network, every row through a forward pass of its own
    assert np.array_equal(again, fitted.result.scores)


def test_distinct_rows_index_every_row_and_leave_vectors_alone() -> None:
    ids = torch.tensor([[3, 1], [2, 2], [3, 1], [0, 5], [2, 2]])
    tensors = {"input_ids": ids, "label": torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0])}
    distinct, inverse = distinct_rows(tensors)
    assert inverse is not None and distinct["input_ids"].shape[0] == 3
    assert torch.equal(distinct["input_ids"][inverse], ids)
    # each distinct row keeps its first row's other columns
    first = {tuple(r): float(y) for r, y in zip(ids.tolist()[::-1], tensors["label"].tolist()[::-1])}
    assert [first[tuple(r)] for r in distinct["input_ids"].tolist()] == distinct["label"].tolist()
    vectors = {"user_vec": torch.ones(4, 3), "label": torch.zeros(4)}
    assert distinct_rows(vectors) == (vectors, None)


@pytest.mark.slow
@pytest.mark.integration  # a Lightning worker process per rank
def test_a_scorer_trained_on_two_ddp_ranks_scores_with_the_weights_the_worker_trained(tmp_path: Path) -> None:
    import torch.distributed as dist

    from scoring.train import _PROCESS_STATE, fit_scorer

    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("this torch build has no torch.distributed with the gloo backend, which CPU DDP needs")
    log = synthetic_log(400)
    config = ScorerConfig(devices=2, strategy="ddp", **{**QUIET, "batch_size": 32})
    with _PROCESS_STATE:
        fitted = fit_scorer(log, "click", config, tmp_path, keep_scorer=True)
    assert fitted.scorer is not None and fitted.result.metrics["devices"] == 2
    # The parent process never trained: only the weights the worker sent back can reproduce the worker's scores.
    again = fitted.scorer.scores(log, "click")
    np.testing.assert_allclose(again, fitted.result.scores, rtol=1e-5, atol=1e-7)


def test_history_on_a_log_longer_than_train_rows_is_refused_naming_the_fix(tmp_path: Path) -> None:
    config = ScorerConfig(train_rows=100, history_items=5, history_tokens=16, **QUIET)
    with pytest.raises(ValueError, match="history_items=5 .* set train_rows to at least 300 .* or history_items=0"):
        train_and_score(synthetic_log(300), "click", config, tmp_path)


@pytest.mark.slow
def test_the_task_streams_a_long_log_without_reading_it_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = synthetic_log(1500)
    path = tmp_path / "clean.parquet"
    log.to_parquet(path, index=False)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the long log was read whole into pandas")

    monkeypatch.setattr(pd, "read_parquet", refuse)
    ref = train_scorer.fn(str(path), "click", ScorerConfig(train_rows=500, **QUIET), str(tmp_path / "run"))
    monkeypatch.undo()
    written = pd.read_parquet(ref.scored_path)
    assert ref.scored_path == str(tmp_path / "run" / "scored.parquet") and ref.backbone == "tiny-bert"
    assert len(written) == 1500 and written["score"].between(0, 1, inclusive="neither").all()
    assert ref.metrics["rows_sampled"] == 500 and ref.metrics["n_train"] == 400


_MEASURE = """
    import json, resource, sys
    from pathlib import Path
    from scoring import ScorerConfig, score_log
    import scoring.train, scoring.stream  # imports first: only the scoring run's own growth is measured

    folder, work = sys.argv[1], Path(sys.argv[2])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    config = ScorerConfig(train_rows=20_000, progress=False, accelerator="cpu")
    scored = score_log(folder, str(work / "scored.parquet"), "click", config, work / "scorer")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_kib": peak - before, "rows": scored.n_rows, **scored.metrics}))
"""


@pytest.mark.slow
def test_scoring_a_million_rows_keeps_memory_growth_under_a_gigabyte(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    folder.mkdir()
    for k in range(4):  # 4 files of 250,000 rows, written one at a time
        part = synthetic_log(250_000, seed=k)
        part["event_id"] = f"p{k}-" + part["event_id"]
        part.to_parquet(folder / f"part-{k}.parquet", index=False)
        del part
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_MEASURE), str(folder), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["rows"] == 1_000_000 and figures["rows_sampled"] == 20_000
    assert figures["growth_kib"] < 1024 * 1024, figures  # ru_maxrss is in KiB on Linux
