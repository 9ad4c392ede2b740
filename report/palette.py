"""One colour per estimation method, the same in every panel of the report: a fixed table, then a stable hash."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType

# Fixed so a reader who learns "bn_do is blue" in one panel can trust it in every other one and in every report.
METHOD_COLOURS: Mapping[str, str] = MappingProxyType(
    {
        "bn_do": "#1f77b4",  # the network's do() answer: blue
        "bn_policy": "#08306b",  # the network's policy value: navy, bn_do's family
        "naive": "#7f7f7f",  # the unadjusted comparison: grey, a reference rather than an answer
        "ab_diff": "#2ca02c",
        "on_policy": "#000000",  # what the target policy really got, where the log has it
        "ipw": "#d62728",
        "snipw": "#ff7f0e",
        "dm": "#9467bd",
        "dr": "#8c564b",
        "sndr": "#e377c2",
        "switch_dr": "#bcbd22",
        "dr_os": "#17becf",
        "dros": "#005f73",
        # Always-valid monitoring of the A/B difference: one green family with ab_diff, dark for the confidence
        # sequence (the bound a monitor may stop on), light for the fixed-horizon interval it is drawn beside.
        "ab_cs": "#00441b",
        "ab_fixed": "#74c476",
        # Variance-reduced A/B differences on per-user outcomes: warm golds, apart from the greens of the plain ones
        # they are drawn beside (another outcome, <outcome>_per_user) and from every colour above.
        "cuped": "#a6761d",
        "cupac": "#e6ab02",
        "mips": "#6a3d9a",  # marginalised weights over item clusters: a deep violet beside dm's lighter one
    }
)
# Colours for methods the table does not know, none of them in the table above.
SPARE_COLOURS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1")


def method_colour(method: str) -> str:
    """The colour of `method`: its fixed one, else one chosen by a hash of its name (never by the order it comes in).

    sha256 rather than hash(): Python salts str hashes per process, and the page must look the same every time.
    """
    fixed = METHOD_COLOURS.get(str(method))
    if fixed is not None:
        return fixed
    digest = hashlib.sha256(str(method).encode("utf-8")).digest()
    return SPARE_COLOURS[int.from_bytes(digest[:4], "big") % len(SPARE_COLOURS)]
