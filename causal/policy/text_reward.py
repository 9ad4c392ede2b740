"""Cross-fitted reward models over user and item vectors (text embeddings) for item-level DM/DR over a catalogue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from causal.policy.item_support import ItemLevelLog, check_policy
from causal.policy.logged import OPEError

# A fitted model maps user indices (k,) to predicted rewards for every catalogue item, (k, I).
UserItemModel = Callable[[np.ndarray], np.ndarray]
_CHUNK = 256  # users per prediction block: a (256, I) float64 block is 20 MB at I = 9,742


@dataclass(frozen=True, eq=False)
class CrossFit:
    """Fold models of one reward model: row m is only ever predicted by the model fitted without fold_of[m]."""

    log: ItemLevelLog
    fold_of: np.ndarray  # (M,) fold of each row
    models: tuple[UserItemModel, ...]  # models[k] was fitted on the rows outside fold k
    q_logged: np.ndarray  # (M,) qhat_{fold(m)}(u_m, a_m)

    def predict(self, target: np.ndarray) -> np.ndarray:
        """q_target[m] = sum_a target[u_m, a] * qhat_{fold(m)}(u_m, a): (N, I) -> (M,)."""
        pi = check_policy(target, self.log, "target")
        out = np.empty(self.log.n_rows)
        for k, model in enumerate(self.models):
            mask = self.fold_of == k
            _fill(out, model, self.log, mask, lambda block, q, pos, rows: (pi[block] * q).sum(axis=1)[pos], pi.shape[1])
        return out


def cross_fit(
    fit: Callable[[np.ndarray], UserItemModel], log: ItemLevelLog, n_folds: int = 2, seed: int = 0
) -> CrossFit:
    """Fit `fit(train_rows)` once per fold and predict each fold's rows with the model that did not see them.

    Rows are split into n_folds folds of near-equal size by a seeded permutation. n_folds = 1 fits and
    predicts on all rows (no cross-fitting: DR then loses its protection against an overfitted model).
    """
    if not isinstance(n_folds, int) or not 1 <= n_folds <= log.n_rows:
        raise OPEError(f"n_folds must be an integer in [1, n_rows={log.n_rows}]; got {n_folds!r}; 2 is a fair default")
    fold_of = np.empty(log.n_rows, dtype=np.int64)
    fold_of[np.random.default_rng(seed).permutation(log.n_rows)] = np.arange(log.n_rows) % n_folds
    models = []
    q_logged = np.empty(log.n_rows)
    for k in range(n_folds):
        test = fold_of == k
        model = fit(np.flatnonzero(~test) if n_folds > 1 else np.arange(log.n_rows))
        models.append(model)
        _fill(q_logged, model, log, test, lambda block, q, pos, rows: q[pos, log.item[rows]])
    return CrossFit(log=log, fold_of=fold_of, models=tuple(models), q_logged=q_logged)


def _fill(
    out: np.ndarray,
    model: UserItemModel,
    log: ItemLevelLog,
    mask: np.ndarray,
    value: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    n_items: int | None = None,
) -> None:
    """out[rows] = value(block, model(block), pos, rows) for the rows in `mask`, one block of users at a time.

    pos holds each row's user position in the block; the model is called once per block of users.
    """
    idx = np.flatnonzero(mask)
    users = np.unique(log.user[idx])
    pos_all = np.searchsorted(users, log.user[idx])  # every selected row's user position in `users`
    for start in range(0, users.size, _CHUNK):
        block = users[start : start + _CHUNK]
        q = _checked(model(block), block.size, n_items, log)
        here = (pos_all >= start) & (pos_all < start + block.size)
        out[idx[here]] = value(block, q, pos_all[here] - start, idx[here])


def _checked(q: np.ndarray, n_users: int, n_items: int | None, log: ItemLevelLog) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    want = n_items if n_items is not None else int(log.item.max()) + 1
    if q.ndim != 2 or q.shape[0] != n_users or q.shape[1] < want or (n_items is not None and q.shape[1] != n_items):
        raise OPEError(
            f"a reward model must return one prediction per (user, catalogue item): ({n_users}, I >= {want}) for "
            f"{n_users} users; got {q.shape}"
        )
    if not np.isfinite(q).all():
        raise OPEError("a reward model returned non-finite predictions; check its inputs for NaN")
    return q


@dataclass(frozen=True)
class TextRewardModel:
    """Logistic regression of the reward on [u * v, u, v, extras] for user vector u and item vector v, cross-fitted.

    The vectors are first projected together onto their top `n_components` principal axes (one
    projection for users and items, so u * v stays an inner-product term; None keeps all of them).
    Features are standardised on the training rows; the fitted model is linear in them, so every
    (user, item) logit is the bilinear form U diag(w1) V^T + U w2 + V w3 + b, computed for a whole
    block of users at once instead of building (users * items) feature rows.
    """

    C: float = 1.0
    n_components: int | None = 32
    max_iter: int = 1000
    # Id-free features beside the text, as the pipeline's scorer sees item features beside item text: each enters
    # the logit linearly. extra_user (N, du) per user (e.g. activity one-hots), extra_item (I, di) per item (e.g.
    # popularity), extra_pair a tuple of (N, I) per (user, item) (e.g. whether the item is in a candidate pool).
    extra_user: np.ndarray | None = field(default=None, compare=False, repr=False)
    extra_item: np.ndarray | None = field(default=None, compare=False, repr=False)
    extra_pair: tuple[np.ndarray, ...] = field(default=(), compare=False, repr=False)

    def fit_predict_folds(
        self, user_vecs: np.ndarray, item_vecs: np.ndarray, log: ItemLevelLog, n_folds: int = 2, seed: int = 0
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """(q_logged (M,), predict(target (N, I)) -> q_target (M,)), each row scored by a model not fitted on it."""
        cf = self.cross_fit(user_vecs, item_vecs, log, n_folds, seed)
        return cf.q_logged, cf.predict

    def cross_fit(
        self, user_vecs: np.ndarray, item_vecs: np.ndarray, log: ItemLevelLog, n_folds: int = 2, seed: int = 0
    ) -> CrossFit:
        """The CrossFit object behind fit_predict_folds (its fold models are reusable for more targets)."""
        u, v = self._reduce(user_vecs, item_vecs, log)
        extras = self._extras(u.shape[0], v.shape[0])
        return cross_fit(lambda train: self._fit(u, v, log, train, seed, extras), log, n_folds, seed)

    def _extras(self, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
        """(extra_user (N, du), extra_item (I, di), extra_pair) as float arrays, checked; du = di = 0 when absent."""
        out = []
        for name, value, rows in (("extra_user", self.extra_user, n_users), ("extra_item", self.extra_item, n_items)):
            a = np.zeros((rows, 0)) if value is None else np.asarray(value, dtype=float)
            a = a[:, None] if a.ndim == 1 else a
            if a.ndim != 2 or a.shape[0] != rows or not np.isfinite(a).all():
                raise OPEError(
                    f"{name} must be a finite ({rows}, d) array, one row per {'user' if rows == n_users else 'item'} "
                    f"in the vectors' order; got shape {np.shape(value)}"
                )
            out.append(a)
        # Bool pairs (pool membership) stay bool: a float copy of three (610, 9,742) pools would be 140 MB.
        pairs = tuple(a if (a := np.asarray(p)).dtype == bool else a.astype(float) for p in self.extra_pair)
        for k, p in enumerate(pairs):
            if p.shape != (n_users, n_items) or not np.isfinite(p).all():
                raise OPEError(
                    f"extra_pair[{k}] must be a finite (N users, I items) = ({n_users}, {n_items}) array; got {p.shape}"
                )
        return out[0], out[1], pairs

    def _reduce(self, user_vecs: np.ndarray, item_vecs: np.ndarray, log: ItemLevelLog) -> tuple[np.ndarray, np.ndarray]:
        u = np.asarray(user_vecs, dtype=float)
        v = np.asarray(item_vecs, dtype=float)
        if u.ndim != 2 or v.ndim != 2 or u.shape[1] != v.shape[1]:
            raise OPEError(
                f"user_vecs (N, H) and item_vecs (I, H) must share H (u * v is elementwise); got {u.shape}, {v.shape}"
            )
        if log.user.max() >= u.shape[0] or log.item.max() >= v.shape[0]:
            raise OPEError(
                f"the log indexes user {int(log.user.max())} and item {int(log.item.max())} but there are "
                f"{u.shape[0]} user and {v.shape[0]} item vectors; build both from the same users and items"
            )
        if not (np.isfinite(u).all() and np.isfinite(v).all()):
            raise OPEError("user_vecs and item_vecs must be finite; an empty history should get a zero vector, not NaN")
        if self.n_components is not None and (not isinstance(self.n_components, int) or self.n_components < 1):
            raise OPEError(f"n_components must be a positive integer or None; got {self.n_components!r}")
        if self.n_components is None or self.n_components >= u.shape[1]:
            return u, v
        # Unsupervised and label-free (no rewards), so fitting it on all vectors leaks nothing across folds.
        stacked = np.vstack([u, v])
        centre = stacked.mean(axis=0)
        centred = stacked - centre
        # Principal axes from the (H, H) scatter matrix: far cheaper than an SVD of the (N + I, H) stack.
        eigval, eigvec = np.linalg.eigh(centred.T @ centred)
        order = np.argsort(eigval)[::-1]
        eigval, eigvec = eigval[order], eigvec[:, order]
        # Axes without variance would be pure rounding noise after standardising: keep only real ones.
        keep = min(self.n_components, int((eigval > 1e-12 * eigval[0]).sum()))
        axes = eigvec[:, :keep]  # (H, k)
        return (u - centre) @ axes, (v - centre) @ axes

    def _fit(
        self,
        u: np.ndarray,
        v: np.ndarray,
        log: ItemLevelLog,
        train: np.ndarray,
        seed: int,
        extras: tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]] | None = None,
    ) -> UserItemModel:
        from sklearn.linear_model import LogisticRegression

        y = log.reward[train]
        if not np.isin(y, (0.0, 1.0)).all():
            raise OPEError("TextRewardModel is a logistic regression: rewards must be 0/1 clicks; found other values")
        if np.unique(y).size < 2:  # one class in the training folds: the only sensible prediction is that value
            value = float(y[0]) if y.size else float(log.reward.mean())
            return lambda users: np.full((users.size, v.shape[0]), value)
        eu, ei, pairs = extras if extras is not None else (np.zeros((u.shape[0], 0)), np.zeros((v.shape[0], 0)), ())
        tu, ti = log.user[train], log.item[train]
        uu, vv = u[tu], v[ti]
        pair_cols = np.column_stack([p[tu, ti] for p in pairs]) if pairs else np.zeros((len(train), 0))
        x = np.hstack([uu * vv, uu, vv, eu[tu], ei[ti], pair_cols])  # (n_train, 3k + du + di + dp)
        mu, sd = x.mean(axis=0), x.std(axis=0)
        sd[sd == 0] = 1.0
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=seed).fit((x - mu) / sd, y)
        beta = model.coef_[0] / sd
        bias = float(model.intercept_[0] - (model.coef_[0] * mu / sd).sum())
        k, du, di = u.shape[1], eu.shape[1], ei.shape[1]
        w1, w2, w3 = beta[:k], beta[k : 2 * k], beta[2 * k : 3 * k]
        wu, wi, wp = beta[3 * k : 3 * k + du], beta[3 * k + du : 3 * k + du + di], beta[3 * k + du + di :]
        user_term = u @ w2 + eu @ wu  # (N,)
        item_term = v @ w3 + ei @ wi + bias  # (I,)

        def predict(users: np.ndarray) -> np.ndarray:
            logit = (u[users] * w1) @ v.T + user_term[users, None] + item_term[None, :]  # (k users, I)
            for b, p in zip(wp, pairs):
                logit = logit + b * p[users]
            return expit(logit)

        return predict


@dataclass(frozen=True, eq=False)
class ScoreItemRewardModel:
    """A scorer's (N, I) score matrix turned into P(click) by cross-fitted Platt scaling, as reward.ScoreRewardModel.

    On the training folds a logistic regression of the reward on logit(score) (or the raw score when
    it is not a probability) is fitted at the logged (user, item) pairs; it maps every (user, item) of
    the held-out fold to a probability. `calibrate=False` takes scores that already are P(click).
    """

    scores: np.ndarray  # (N, I) the scorer's output for every user and catalogue item
    calibrate: bool = True

    def fit_predict_folds(
        self, log: ItemLevelLog, n_folds: int = 2, seed: int = 0
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """(q_logged (M,), predict(target (N, I)) -> q_target (M,)), each row scored by a model not fitted on it."""
        s = np.asarray(self.scores, dtype=float)
        if s.ndim != 2 or log.user.max() >= s.shape[0] or log.item.max() >= s.shape[1] or not np.isfinite(s).all():
            raise OPEError(
                f"scores must be a finite (N users, I items) matrix covering the log's indices; got shape {s.shape}"
            )
        is_prob = bool(((s >= 0) & (s <= 1)).all())
        if not self.calibrate:
            if not is_prob:
                raise OPEError("calibrate=False needs scores that are probabilities in [0, 1]; pass calibrate=True")
            cf = cross_fit(lambda train: lambda users: s[users], log, n_folds, seed)
            return cf.q_logged, cf.predict
        feature = np.log(np.clip(s, 1e-6, 1 - 1e-6)) - np.log1p(-np.clip(s, 1e-6, 1 - 1e-6)) if is_prob else s

        def fit(train: np.ndarray) -> UserItemModel:
            from sklearn.linear_model import LogisticRegression

            y = log.reward[train]
            if np.unique(y).size < 2:
                return lambda users: np.full((users.size, s.shape[1]), float(y[0]))
            x = feature[log.user[train], log.item[train]][:, None]
            model = LogisticRegression(C=1e4, max_iter=10_000).fit(x, y)
            a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
            return lambda users: expit(a * feature[users] + b)

        cf = cross_fit(fit, log, n_folds, seed)
        return cf.q_logged, cf.predict
