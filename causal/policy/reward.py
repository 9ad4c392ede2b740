"""Reward models q(x, a, k) for every row, item and slot: logistic, scorer-based, fixed, cross-fitted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from causal.policy.logged import BanditLog, OPEError


class RewardModel(Protocol):
    """Predicts E[reward | x, a, k] for every row, action and slot, each row by a model not fitted on it."""

    def fit_predict(self, log: BanditLog, n_folds: int, seed: int) -> np.ndarray:  # (n, n_actions, len_list)
        ...


@dataclass(frozen=True)
class LogisticRewardModel:
    """obp's `RegressionModel(base_model=LogisticRegression(...), fitting_method="normal")`: one model per slot.

    Features of (x, a): the row's context followed by item a's features. With n_folds > 1 the rows
    are split by `KFold(n_folds, shuffle=True, random_state=seed)` and each fold is predicted by
    the models fitted on the others (cross-fitting); n_folds = 1 fits and predicts on all rows.
    C and max_iter are those of obp's example configuration for logistic regression (C=100).
    A slot whose training rows hold a single reward value gets that value as its prediction.
    """

    C: float = 100.0
    max_iter: int = 10_000

    def fit_predict(self, log: BanditLog, n_folds: int = 3, seed: int = 12345) -> np.ndarray:
        from sklearn.model_selection import KFold

        _check_folds(n_folds, log.n_rounds)
        q = np.zeros((log.n_rounds, log.n_actions, log.len_list))
        if n_folds == 1:
            splits = [(np.arange(log.n_rounds), np.arange(log.n_rounds))]
        else:
            splits = KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(log.context)
        for train, test in splits:
            for k in range(log.len_list):
                rows = train[log.position[train] == k]
                q[test, :, k] = self._fit_predict_slot(log, rows, test, seed)
        return q

    def _fit_predict_slot(self, log: BanditLog, rows: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression

        y = log.reward[rows]
        if rows.size == 0:
            return np.full((test.size, log.n_actions), float(log.reward.mean()))
        if np.unique(y).size < 2:
            return np.full((test.size, log.n_actions), float(y[0]))
        x = np.hstack([log.context[rows], log.action_context[log.action[rows]]])
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=seed)
        model.fit(x, y)
        # Every (test row, action) pair at once: (n_test * n_actions, d) with the action varying fastest.
        n_test, n_act = test.size, log.n_actions
        ctx = np.repeat(log.context[test], n_act, axis=0)
        act = np.tile(log.action_context, (n_test, 1))
        p = model.predict_proba(np.hstack([ctx, act]))[:, 1]
        return p.reshape(n_test, n_act)


@dataclass(frozen=True)
class ConstantRewardModel:
    """q(x, a, k) = value everywhere: a deliberately wrong model (DR must stay unbiased, DM must not)."""

    value: float = 0.0

    def fit_predict(self, log: BanditLog, n_folds: int = 1, seed: int = 0) -> np.ndarray:
        return np.full((log.n_rounds, log.n_actions, log.len_list), float(self.value))


@dataclass(frozen=True, eq=False)
class ScoreRewardModel:
    """A scorer's score for every (row, item) turned into P(click) by cross-fitted Platt scaling per slot.

    `scores` is (n_rows, n_actions) (e.g. the LLM scorer's P(click) or logit for every candidate
    item of each logged row, rows in the order of the log `bandit_log` built; resamples of that
    log pick their rows' scores). On the training folds a logistic regression
    of the reward on [logit(score) (or the raw score), one-hot slot] is fitted on the logged
    (row, shown item) pairs; it then maps every (row, item, slot) of the held-out fold to a
    calibrated probability. Pass `calibrate=False` for scores that already are calibrated P(click).
    """

    scores: np.ndarray
    calibrate: bool = True

    def fit_predict(self, log: BanditLog, n_folds: int = 3, seed: int = 0) -> np.ndarray:
        s = _rows_of(self.scores, log, "scores")
        if not self.calibrate:
            if (s < 0).any() or (s > 1).any():
                raise OPEError("calibrate=False needs scores that are probabilities in [0, 1]")
            return np.repeat(s[:, :, None], log.len_list, axis=2)
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import KFold

        _check_folds(n_folds, log.n_rounds)
        feature = _logit(s) if ((s >= 0) & (s <= 1)).all() else s
        slots = np.eye(log.len_list)
        q = np.zeros((log.n_rounds, log.n_actions, log.len_list))
        if n_folds == 1:
            splits = [(np.arange(log.n_rounds), np.arange(log.n_rounds))]
        else:
            splits = KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(s)
        for train, test in splits:
            y = log.reward[train]
            if np.unique(y).size < 2:
                q[test] = float(y[0])
                continue
            x = np.column_stack([feature[train, log.action[train]], slots[log.position[train]]])
            model = LogisticRegression(C=1e4, max_iter=10_000).fit(x, y)
            for k in range(log.len_list):
                slot = np.repeat(slots[k][None, :], test.size * log.n_actions, axis=0)
                grid = np.column_stack([feature[test].reshape(-1), slot])
                q[test, :, k] = model.predict_proba(grid)[:, 1].reshape(test.size, log.n_actions)
        return q


@dataclass(frozen=True, eq=False)
class FixedRewardModel:
    """Predictions computed elsewhere, (n_rows, n_actions, len_list) or (n_rows, n_actions) for every slot."""

    q: np.ndarray

    def fit_predict(self, log: BanditLog, n_folds: int = 1, seed: int = 0) -> np.ndarray:
        q = _rows_of(self.q, log, "q")
        if q.ndim == 2:
            q = np.repeat(q[:, :, None], log.len_list, axis=2)
        if q.shape[2] != log.len_list:
            raise OPEError(f"q must have len_list = {log.len_list} slots on its last axis; got {q.shape}")
        return q


def _rows_of(values: np.ndarray, log: BanditLog, name: str) -> np.ndarray:
    """values[i] for each of the log's source rows; values must have one entry per row of the built log."""
    v = np.asarray(values, dtype=float)
    n_source = int(log.rows.max()) + 1 if log.source_row is not None else log.n_rounds
    if (
        v.ndim not in (2, 3)
        or v.shape[0] < n_source
        or v.shape[1] != log.n_actions
        or (log.source_row is None and v.shape[0] != log.n_rounds)
    ):
        raise OPEError(
            f"{name} must be (n_rows, n_actions) = ({log.n_rounds}, {log.n_actions}), one value per logged row and "
            f"item (rows in the order of the log bandit_log built); got {v.shape}"
        )
    return v[log.rows]


def _check_folds(n_folds: int, n: int) -> None:
    if not isinstance(n_folds, int) or not 1 <= n_folds <= n:
        raise OPEError(f"n_folds must be an integer in [1, n_rows={n}]; got {n_folds!r}; obp cross-fits with 3")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)
