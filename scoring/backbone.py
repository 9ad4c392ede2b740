"""Backbones for the scorer: a tiny random BERT with a word-level vocabulary built from the log, or a local model."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

# No model hub is reachable from the project's machines: never let a load try the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors  # noqa: E402
from transformers import (  # noqa: E402
    AutoModel,
    AutoTokenizer,
    BertConfig,
    BertModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as hf_logging  # noqa: E402

from scoring.config import TINY_BERT  # noqa: E402

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_VOCAB = 30_000  # most frequent words kept; rarer ones map to [UNK]
TINY_BERT_SHAPE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
# Signed decimals stay one token ("-0.50"), hashes and words are one token each, punctuation splits off.
_WORDS = Regex(r"-?\d+\.\d+|\w+|[^\w\s]+")
_SPECIALS = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS))


def pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Whitespace split, then each piece into signed decimals, words and punctuation runs."""
    return pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(_WORDS, behavior="isolated")]
    )


def build_vocab(texts: list[str], max_size: int = MAX_VOCAB) -> dict[str, int]:
    """Special tokens first, then words by falling count and then alphabetically (so ties never depend on order)."""
    split = pre_tokenizer()
    counts: Counter[str] = Counter()
    for text, repeats in Counter(texts).items():  # logs repeat texts: pre-tokenise each distinct one once
        for piece in _SPECIALS.split(text):  # special tokens are matched before pre-tokenisation at encode time
            for word, _ in split.pre_tokenize_str(piece):
                counts[word] += repeats
    words = sorted((w for w in counts if w not in SPECIAL_TOKENS), key=lambda w: (-counts[w], w))
    return {token: i for i, token in enumerate([*SPECIAL_TOKENS, *words[: max(0, max_size - len(SPECIAL_TOKENS))]])}


def build_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """Word-level tokenizer over `texts`' vocabulary; encodings are `[CLS] words [SEP]` like BERT's."""
    vocab = build_vocab(texts)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizer()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
        model_input_names=["input_ids", "attention_mask"],
    )


def build_tiny_bert(out_dir: Path, texts: list[str], seed: int) -> Path:
    """Save a random 2-layer, 32-wide BERT and a word-level tokenizer over `texts` to out_dir; same inputs, same files.

    Written to a sibling temporary folder and renamed into place, so a run killed mid-build never leaves a half
    model that a re-run would reuse.
    """
    out_dir = Path(out_dir)
    tokenizer = build_tokenizer(texts)
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512, **TINY_BERT_SHAPE)
    with torch.random.fork_rng(devices=[]):  # seed the init without disturbing the caller's random state
        torch.manual_seed(seed)
        model = BertModel(config)
    tmp = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    with _quiet_transformers():
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    try:
        tmp.rename(out_dir)
    except OSError:  # another process finished the same build first; its files are identical
        if not (out_dir / "config.json").is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def tiny_bert_dir(work_dir: Path, texts: list[str], seed: int) -> Path:
    """Where the tiny BERT for these texts and seed lives under work_dir (keyed by both, so a reuse always fits)."""
    digest = hashlib.sha256(f"{seed}\x1e".encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\x1f")
    return Path(work_dir) / f"{TINY_BERT}-{digest.hexdigest()[:16]}"


def load_backbone(
    name_or_path: str, work_dir: Path, texts: list[str], seed: int
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model, tokenizer): "tiny-bert" is built under work_dir (or reused), anything else is loaded offline."""
    if name_or_path == TINY_BERT:
        path = tiny_bert_dir(work_dir, texts, seed)
        if not ((path / "config.json").is_file() and (path / "tokenizer.json").is_file()):
            build_tiny_bert(path, texts, seed)
        return _load(str(path))
    local = Path(name_or_path).expanduser()
    if not local.exists() and (local.is_absolute() or name_or_path.startswith((".", "~"))):
        raise FileNotFoundError(
            f"backbone directory {name_or_path!r} does not exist; pass a directory saved with save_pretrained "
            f"(config.json, model.safetensors and tokenizer files) or {TINY_BERT!r} for a small random BERT"
        )
    if local.exists() and not (local / "config.json").is_file():
        raise FileNotFoundError(
            f"backbone directory {str(local)!r} has no config.json; pass a directory saved with save_pretrained "
            f"(config.json, model.safetensors and tokenizer files) or {TINY_BERT!r} for a small random BERT"
        )
    try:
        return _load(str(local) if local.exists() else name_or_path)
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(
            f"backbone {name_or_path!r} could not be loaded offline: looked for a local directory with that path "
            f"and for that name in the local Hugging Face cache, found neither; pass a local "
            f"directory holding config.json, the weights (model.safetensors) and the tokenizer files, "
            f"or {TINY_BERT!r} to build a small random BERT"
        ) from exc


def _load(name_or_path: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    with _quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
        model = AutoModel.from_pretrained(name_or_path, local_files_only=True)
    return model, tokenizer


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide transformers' per-file "Loading weights"/"Writing model shards" bars, then restore the caller's setting."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
