"""The propensity head of text features: the logged treatment on each user's text summary (CausalBERT's head)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.errors import InputError


@dataclass(frozen=True, eq=False)
class PropensityHead:
    """A fitted head's outputs per described user, in the order of the user ids it was given."""

    proba: np.ndarray  # (users, T) predicted P(treatment | text summary, covariates), columns in `classes` order
    text_logits: np.ndarray  # (users, T) the text summary's own part of the logits, centred over the users
    classes: tuple[str, ...]  # the treatment values, sorted


def fit_propensity_head(
    features: np.ndarray,
    user_ids: pd.Index,
    log: pd.DataFrame,
    treatment: str,
    covariates: Sequence[str],
    c: float,
    seed: int,
) -> PropensityHead:
    """A multinomial logistic of `log[treatment]` on [features, one-hots of covariates] per user (never an outcome).

    Every row of one user shares that user's features, so the fit runs on (user, treatment value) counts as
    sample weights: the same log-likelihood as one row per impression, at a few thousand rows instead of
    millions (50,000 impressions of 610 users: 8.5 s instead of 57 s; at C = 100 the objective is flat enough
    that the two lbfgs runs stop up to 0.033 apart in a predicted probability).
    `text_logits` is features @ coef over the features' columns only: what the text says about the logger with
    the covariates' part (the user_activity the network already holds as its own node) left out.
    """
    from sklearn.linear_model import LogisticRegression

    missing = [name for name in ("user_id", treatment, *covariates) if name not in log.columns]
    if missing:
        raise InputError(
            f"the propensity head ('propensity', 'text_logit') needs columns {missing} in treatment_log (columns: "
            f"{sorted(map(str, log.columns))}); fix: pass the log with user_id, {treatment!r} and {list(covariates)}"
        )
    rows = log.assign(user_id=log["user_id"].astype(str))
    rows = rows[rows["user_id"].isin(user_ids)]
    if rows[treatment].nunique() < 2:
        raise InputError(
            f"the propensity head ('propensity', 'text_logit') needs at least two values of {treatment!r} among the "
            f"described users' rows; found {rows[treatment].nunique()}; fix: use representation='mean'"
        )
    # A user's covariates are their first row's: pre-treatment user_* columns do not change within a user.
    first = rows.drop_duplicates("user_id").set_index("user_id").reindex(user_ids)
    dummies = pd.get_dummies(first[list(covariates)].astype(str), dtype=float).to_numpy()
    x_user = np.hstack([features, dummies])  # (users, features + one-hots)
    counts = rows.groupby(["user_id", rows[treatment].astype(str)], sort=True).size()
    users = counts.index.get_level_values(0)
    labels = counts.index.get_level_values(1)
    model = LogisticRegression(C=c, max_iter=5_000, random_state=seed).fit(
        x_user[user_ids.get_indexer(users)], np.asarray(labels), sample_weight=counts.to_numpy(dtype=np.float64)
    )
    coef = model.coef_ if len(model.classes_) > 2 else np.vstack([-model.coef_, model.coef_]) / 2
    text = features @ coef[:, : features.shape[1]].T  # (users, T)
    return PropensityHead(
        proba=model.predict_proba(x_user),
        text_logits=text - text.mean(axis=0),
        classes=tuple(str(v) for v in model.classes_),
    )
