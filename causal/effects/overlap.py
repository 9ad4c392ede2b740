"""The overlap report: where a treatment value was never (or barely) served within the adjustment strata."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from causal.network.scores import EncodedData

THIN_STRATUM_ROWS = 5  # fewer rows of a treatment value than this in a stratum: flagged, not withheld


def overlap_report(
    enc: EncodedData, treatment: str, values: Sequence[str], adjust: Sequence[str], min_share: float, outcome: str
) -> dict:
    """Where each treatment value was never (or barely) served within the adjustment strata.

    A value unseen in a stratum holding at least `min_share` of the rows has no overlap: the
    network would answer for that stratum from its prior, so the value's numbers are withheld
    (`no_overlap` maps it to the sentence stored instead). Smaller gaps are warnings.

    Counted with the weights, over the strata that hold any row, so the rows of a log and its contingency
    table give the same report (the counts are sums of whole numbers, exact in floating point).
    """
    adjust = list(adjust)
    report: dict = {"adjustment_set": adjust, "min_stratum_share": min_share, "values": {}, "no_overlap": {}}
    w = np.ones(enc.n_cells) if enc.weights is None else enc.weights
    t_index = enc.index(treatment)
    t_states = enc.states[t_index]
    columns = [t_states.index(v) for v in values]
    k = enc.cards[t_index]
    t_codes = enc.codes[t_index]
    if not adjust:
        counts = np.bincount(t_codes, weights=w, minlength=k)
        for v, col in zip(values, columns):
            unseen = int(counts[col] == 0)
            report["values"][v] = {"strata": 1, "unseen_strata": unseen, "unseen_share": 0.0, "thin_strata": 0}
        return report
    z = [enc.index(c) for c in adjust]
    key = np.ravel_multi_index(tuple(enc.codes[z]), tuple(enc.cards[i] for i in z))
    strata, inverse = np.unique(key, return_inverse=True)  # sorted: strata in the order of their states
    table = np.bincount(inverse.reshape(-1) * k + t_codes, weights=w, minlength=len(strata) * k).reshape(-1, k)
    held = table.sum(axis=1) > 0  # a stratum whose cells all weigh 0 holds no row: not a stratum of the log
    strata, table = strata[held], table[held][:, columns]
    share = table.sum(axis=1) / enc.total_weight
    stratum_codes = np.unravel_index(strata, tuple(enc.cards[i] for i in z))
    for j, v in enumerate(values):
        unseen = table[:, j] == 0
        thin = (table[:, j] > 0) & (table[:, j] < THIN_STRATUM_ROWS)
        unseen_share = float(share[unseen].sum())
        entry = {
            "strata": int(len(table)),
            "unseen_strata": int(unseen.sum()),
            "unseen_share": round(unseen_share, 4),
            "thin_strata": int(thin.sum()),
        }
        big = np.flatnonzero(unseen & (share >= min_share))
        if len(big):
            labels = [
                ", ".join(f"{c}={enc.states[i][codes[s]]}" for c, i, codes in zip(adjust, z, stratum_codes))
                for s in big[:3]
            ]
            report["no_overlap"][v] = (
                f"No overlap: {treatment}={v} was never served in {len(big)} stratum(s) of {adjust} holding "
                f"{share[big].sum():.1%} of the rows ({'; '.join(labels)}), so P({outcome} | do({treatment}={v})) "
                f"would come from the prior there, not from data. Ask about the strata where {v} was served, "
                f"or log {v} for those users too."
            )
        elif unseen_share > 0:
            entry["warning"] = (
                f"{treatment}={v} unseen in strata holding {unseen_share:.2%} of rows (each under {min_share:.0%}); "
                "that part of the estimate leans on the prior"
            )
        report["values"][v] = entry
    return report
