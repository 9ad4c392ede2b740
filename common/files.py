"""File content hashes and write-then-rename, so a killed process never leaves a half-written file."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

_BLOCK = 1 << 20


def update_with_file(digest: hashlib._Hash, path: str | Path) -> None:
    """Feed a file's bytes to `digest` in 1 MiB blocks (memory stays flat on large files)."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes alone (a renamed copy has the same hash)."""
    digest = hashlib.sha256()
    update_with_file(digest, path)
    return digest.hexdigest()


def sha256_named_files(paths: Iterable[str | Path]) -> str:
    """sha256 over each file's name and bytes, in the given order: the identity of a run's input data."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode())
        update_with_file(digest, path)
    return digest.hexdigest()


@contextmanager
def atomic_path(out: str | Path) -> Iterator[Path]:
    """A temporary path beside `out` to write to; renamed onto `out` only when the block finishes.

    The temporary name carries the process and thread, so two writers of the same file never share
    one; on an error it is removed and `out` is left as it was.
    """
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(out: str | Path, text: str) -> Path:
    """Write `text` to `out` by write-then-rename."""
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(out)


def inside(base: str | Path, name: str) -> Path:
    """base/name, refused when it would resolve outside base (a name holding '..', '/' or a symlink out)."""
    root = Path(base).resolve()
    path = (root / name).resolve()
    if path == root or root not in path.parents:
        raise ValueError(
            f"{name!r} would place a file outside {str(base)!r}; use a name of letters, digits and . _ - only"
        )
    return Path(base) / name
