"""Tests of the relevance scorer: real transformers + Lightning on CPU, tiny models built in tmp_path."""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from scoring import (
    ScorerConfig,
    build_tiny_bert,
    load_backbone,
    resolve_precision,
    row_texts,
    split_rows,
    train_and_score,
)
from scoring.config import FINETUNE_LEARNING_RATE, HEAD_LEARNING_RATE

HEX = [hashlib.md5(str(i).encode()).hexdigest() for i in range(12)]  # 32-char hashes like OBD's features


def synthetic_log(n: int, seed: int = 0) -> pd.DataFrame:
    """click == (user_feature_0 is HEX[0]): a deterministic function of one user token; the rest is noise."""
    rng = np.random.default_rng(seed)
    user0 = rng.choice(HEX[:4], size=n)
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "ts": pd.date_range("2019-11-24", periods=n, freq="s", tz="UTC"),
            "user_id": rng.integers(0, 50, size=n),
            "item_id": rng.integers(0, 10, size=n),
            "click": (user0 == HEX[0]).astype(int),
            "user_feature_0": user0,
            "user_feature_1": rng.choice(HEX[4:8], size=n),
            "item_feature_0": rng.normal(size=n),
            "item_feature_1": rng.choice(HEX[8:], size=n),
            "user_item_affinity": rng.choice([0.0, 1.5], size=n),
            "position": rng.integers(0, 3, size=n),
            "policy": rng.choice(["random", "bts"], size=n),
            "propensity": 1 / 80,
        }
    )


QUIET = dict(progress=False, accelerator="cpu")


# --- config -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("backbone", "", "backbone must be a non-empty string.*'tiny-bert'"),
        ("max_epochs", 0, "max_epochs must be an integer >= 1; got 0"),
        ("batch_size", 2.5, "batch_size must be an integer >= 1; got 2.5"),
        ("accelerator", "tpu-pod", "accelerator must be one of .*got 'tpu-pod'"),
        ("learning_rate", float("nan"), "learning_rate must be a positive finite number; got nan"),
        ("max_length", 2, "max_length must be an integer >= 4; got 2"),
        ("max_length", 1024, "max_length must be at most 512; got 1024"),
        ("val_fraction", 1.0, r"val_fraction must lie in \[0, 1\); got 1.0"),
        ("seed", -1, "seed must be an integer >= 0; got -1"),
        ("progress", "yes", "progress must be True or False; got 'yes'"),
    ],
)
def test_config_rejects_bad_values_naming_value_and_fix(field: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ScorerConfig(**{field: value})


def test_the_learning_rate_follows_what_trains_unless_it_is_given() -> None:
    # every weight of a pretrained encoder: BERT's fine-tuning range; 1e-3 there wrecked MiniLM (val AUC 0.566)
    assert ScorerConfig(backbone="minilm", mode="finetune").learning_rate == FINETUNE_LEARNING_RATE == 5e-5
    assert ScorerConfig(backbone="/models/my-encoder", mode="finetune").learning_rate == FINETUNE_LEARNING_RATE
    # a head on frozen embeddings, adapters, or the random tiny BERT from scratch keep the rate they always had
    for backbone, mode in (("tiny-bert", "finetune"), ("minilm", "frozen"), ("minilm", "lora")):
        assert ScorerConfig(backbone=backbone, mode=mode).learning_rate == HEAD_LEARNING_RATE == 1e-3
    assert ScorerConfig(backbone="minilm", mode="finetune", learning_rate=2e-5).learning_rate == 2e-5
    with pytest.raises(ValueError, match="learning_rate must be a positive finite number; got 0"):
        ScorerConfig(learning_rate=0)


def test_precision_is_float32_on_cpu_and_bf16_on_gpu() -> None:
    assert resolve_precision("cpu") == "32-true"
    assert resolve_precision("auto") == ("bf16-mixed" if torch.cuda.is_available() else "32-true")
    assert resolve_precision("gpu") in ("bf16-mixed", "16-mixed")


# --- text ---------------------------------------------------------------------------------------------------------


def test_row_texts_serialise_user_then_item_and_never_the_treatment_or_slot() -> None:
    log = synthetic_log(30)
    log.loc[0, ["user_feature_0", "user_feature_1", "item_feature_0", "item_feature_1", "user_item_affinity"]] = [
        "81ce123cbb5bd8ce818f60fb3586bba5",
        "plain value",
        -0.49917,
        "aed790911d0344f149be2fb9470d6f0a",
        0.0,
    ]
    texts = row_texts(log)
    assert len(texts) == len(log)
    assert texts[0] == (
        "user_feature_0 81ce123c user_feature_1 plain_value [SEP] "
        "item_feature_0 -0.50 item_feature_1 aed79091 user_item_affinity 0.00"
    )
    # Changing the treatment, the slot, the propensity, the ids or the outcome must not change a single text.
    served = log.assign(
        policy="policy-marker",
        position=97,
        propensity=0.123,
        click=1 - log["click"],
        event_id="x" + log["event_id"],
        user_id=-1,
        item_id=-1,
        ts=pd.Timestamp("2030-01-01", tz="UTC"),
    )
    assert row_texts(served) == texts
    assert not any("policy" in t or "position" in t or "propensity" in t for t in texts)


def test_row_texts_use_item_text_after_the_user_features() -> None:
    log = synthetic_log(2).assign(item_text=["Red  cotton shirt", "Blue jeans"])
    texts = row_texts(log)
    assert texts[1].endswith("[SEP] Blue jeans")
    assert texts[0].startswith("user_feature_0 ") and "item_feature_0" not in texts[0]


# --- backbone -----------------------------------------------------------------------------------------------------


def test_tiny_bert_round_trips_through_save_and_load_and_is_deterministic(tmp_path: Path) -> None:
    texts = row_texts(synthetic_log(50))
    first = build_tiny_bert(tmp_path / "a", texts, seed=3)
    again = build_tiny_bert(tmp_path / "b", texts, seed=3)
    other = build_tiny_bert(tmp_path / "c", texts, seed=4)
    weights = {p.name: (p / "model.safetensors").read_bytes() for p in (first, again, other)}
    assert weights["a"] == weights["b"] and weights["a"] != weights["c"]
    assert (first / "tokenizer.json").read_bytes() == (again / "tokenizer.json").read_bytes()

    model, tokenizer = load_backbone(str(first), tmp_path, texts, seed=0)  # the "local directory" path
    assert (model.config.hidden_size, model.config.num_hidden_layers, model.config.num_attention_heads) == (32, 2, 2)
    assert model.config.intermediate_size == 64 and model.config.vocab_size == len(tokenizer)
    encoded = tokenizer(texts[:2], padding="max_length", max_length=24, return_tensors="pt")
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    assert tokens[0] == "[CLS]" and tokens[1:3] == ["user_feature_0", texts[0].split()[1]]
    assert "[UNK]" not in tokens and tokens.count("[SEP]") == 2 and tokens[-1] == "[PAD]"
    assert "-" not in tokens[: int(encoded["attention_mask"][0].sum())]  # signed decimals stay one token
    with torch.no_grad():
        hidden = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).last_hidden_state
    assert hidden.shape == (2, 24, 32)


def test_tiny_bert_is_built_once_per_text_set_under_work_dir(tmp_path: Path) -> None:
    texts = row_texts(synthetic_log(20))
    load_backbone("tiny-bert", tmp_path, texts, seed=0)
    load_backbone("tiny-bert", tmp_path, texts, seed=0)
    load_backbone("tiny-bert", tmp_path, texts[:5], seed=0)
    built = sorted(p.name for p in tmp_path.iterdir())
    assert len(built) == 2 and all(name.startswith("tiny-bert-") for name in built), built


def test_a_saved_local_backbone_directory_trains_and_scores(tmp_path: Path) -> None:
    log = synthetic_log(200)
    local = build_tiny_bert(tmp_path / "my-model", row_texts(log.head(50)), seed=1)
    result = train_and_score(log, "click", ScorerConfig(backbone=str(local), batch_size=64, **QUIET), tmp_path / "w")
    assert result.backbone == str(local) and result.scores.shape == (200,)
    assert not (tmp_path / "w" / "backbones").exists()  # nothing was built: the given directory was used


@pytest.mark.parametrize("missing", ["{tmp}/no-such-model", "some-org/not-in-any-cache"])
def test_unknown_backbone_raises_naming_the_path_and_the_fix(tmp_path: Path, missing: str) -> None:
    name = missing.format(tmp=tmp_path)
    config = ScorerConfig(backbone=name, **QUIET)
    with pytest.raises(FileNotFoundError, match=rf"{name}.*config\.json.*'tiny-bert'"):
        train_and_score(synthetic_log(20), "click", config, tmp_path / "work")


# --- split --------------------------------------------------------------------------------------------------------


def test_split_is_stratified_seeded_and_independent_of_row_order() -> None:
    log = synthetic_log(1000)
    labels = log["click"].to_numpy()
    is_val = split_rows(log["event_id"], labels, seed=0, val_fraction=0.2)
    for value in (0, 1):
        n = int((labels == value).sum())
        assert int(is_val[labels == value].sum()) == math.floor(0.2 * n + 0.5)
    shuffled = log.sample(frac=1.0, random_state=1)
    again = split_rows(shuffled["event_id"], shuffled["click"].to_numpy(), seed=0, val_fraction=0.2)
    assert dict(zip(shuffled["event_id"], again)) == dict(zip(log["event_id"], is_val))
    assert not np.array_equal(split_rows(log["event_id"], labels, seed=1, val_fraction=0.2), is_val)


# --- training -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_scorer_learns_a_click_rule_carried_by_one_user_token(tmp_path: Path) -> None:
    log = synthetic_log(2000)
    config = ScorerConfig(max_epochs=3, **QUIET)  # the defaults otherwise: batch 256, lr 1e-3
    result = train_and_score(log, "click", config, tmp_path)
    assert result.metrics["auc_val"] > 0.8, result.metrics
    assert result.metrics["n_val"] == 400 and result.metrics["n_train"] == 1600
    assert set(result.split) == {"train", "val"} and result.backbone == "tiny-bert"
    assert result.metrics["samples_per_s"] > 0 and result.metrics["seconds"] > 0


@pytest.mark.slow
def test_same_seed_gives_identical_scores_in_input_order_and_writes_only_under_work_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    log = synthetic_log(300)
    config = ScorerConfig(max_epochs=1, batch_size=64, **QUIET)
    first = train_and_score(log, "click", config, tmp_path / "work")
    # The re-run reuses the built backbone; the third sees the same log in another row order, in a fresh work_dir.
    second = train_and_score(log, "click", config, tmp_path / "work")
    shuffled = log.sample(frac=1.0, random_state=7)
    third = train_and_score(shuffled, "click", config, tmp_path / "fresh")

    assert first.scores.shape == (len(log),) and first.scores.dtype == np.float64
    assert np.all((first.scores > 0) & (first.scores < 1))
    assert np.array_equal(first.scores, second.scores) and np.array_equal(first.split, second.split)
    by_event = pd.Series(third.scores, index=shuffled["event_id"]).loc[log["event_id"]].to_numpy()
    assert np.array_equal(first.scores, by_event)
    assert np.unique(first.scores).size > 10  # scores depend on the row, not one constant
    assert list(cwd.iterdir()) == []  # no lightning_logs/ or checkpoints in the caller's directory
    assert torch.are_deterministic_algorithms_enabled() is False  # the caller's process state is restored


@pytest.mark.slow
def test_trainings_in_two_threads_match_one_after_another_and_restore_the_process_state(tmp_path: Path) -> None:
    # A thread task runner trains two partitions in one process. Seeds and the deterministic-kernels switch are
    # process-wide, so unguarded the two would share random streams and the later one would re-enable the switch.
    from concurrent.futures import ThreadPoolExecutor

    log = synthetic_log(300)
    config = ScorerConfig(max_epochs=1, batch_size=64, **QUIET)
    alone = train_and_score(log, "click", config, tmp_path / "alone").scores
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(train_and_score, log, "click", config, tmp_path / f"thread-{i}") for i in range(2)]
        together = [run.result().scores for run in runs]
    assert all(np.array_equal(alone, scores) for scores in together)
    assert torch.are_deterministic_algorithms_enabled() is False


def test_val_split_without_clicks_gives_nan_auc_and_says_why(tmp_path: Path) -> None:
    log = synthetic_log(60).assign(click=0)
    log.loc[5, "click"] = 1  # one positive: it cannot be on both sides, so val has none
    with pytest.warns(UserWarning, match="auc_val is nan: the val split has 12 rows and outcome classes \\[0\\]"):
        result = train_and_score(log, "click", ScorerConfig(batch_size=32, **QUIET), tmp_path)
    assert math.isnan(result.metrics["auc_val"]) and result.metrics["n_val_pos"] == 0
    assert any("auc_val is nan" in note for note in result.notes)
    assert np.all((result.scores > 0) & (result.scores < 1))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.drop(columns="event_id"), "no 'event_id' column"),
        (lambda d: d.assign(event_id="same"), "event_id must be unique"),
        (lambda d: d.assign(click=d["click"] * 2), "outcome 'click' must be 0/1 for every row"),
        (lambda d: d.rename(columns={"click": "clicked"}), "outcome column 'click' is not in the log"),
    ],
)
def test_bad_logs_are_refused_before_training(tmp_path: Path, change, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        train_and_score(change(synthetic_log(20)), "click", ScorerConfig(**QUIET), tmp_path)
    assert not os.path.exists(tmp_path / "backbones")
