"""Users' text states (scoring.user_text) on a gated simulated log and a small history, MiniLM as encoder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from common.errors import InputError
from scoring.text_features import NO_HISTORY, USER_TEXT
from scoring.user_text import add_user_text

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # loads torch and MiniLM (about 5 s here), then each case is quick


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """A gated simulated log (the file the task reads in a run): 12 users, 300 impressions from 2024-03-01."""
    import expectations
    from causal.sim.simulator import SimulatorConfig, simulate

    where = tmp_path_factory.mktemp("gate")
    simulate(SimulatorConfig(users=12, impressions=300, seed=2, days=1)).log.to_parquet(where / "log.parquet")
    result = expectations.run_file_gate(where / "log.parquet", expectations.GateConfig(treatments=("strategy",)), where)
    return Path(result.clean_path)


@pytest.fixture(scope="module")
def history(clean: Path) -> pd.DataFrame:
    """Eight of the log's users rated 3-5 of 30 real MovieLens films, in 2015; four users have no history."""
    films = pd.read_csv(REPO / "data" / "ml-latest-small" / "movies.csv", nrows=30)
    texts = (films["title"] + " | " + films["genres"]).tolist()
    users = sorted(pd.read_parquet(clean, columns=["user_id"]).user_id.unique())
    rows = [
        (user, pd.Timestamp("2015-01-01", tz="UTC") + pd.Timedelta(days=d), texts[(7 * u + 3 * d) % len(texts)])
        for u, user in enumerate(users[:8])
        for d in range(3 + u % 3)
    ]
    return pd.DataFrame(rows, columns=["user_id", "ts", "text"])


def _run(clean: Path, history: pd.DataFrame, where: Path, cache: Path, name: str = "h.parquet"):
    history.to_parquet(where / name, index=False)
    ref = add_user_text(str(clean), str(where / name), str(where / f"out-{name}"), str(cache), say=lambda _: None)
    return ref, pd.read_parquet(ref.path)


def test_the_task_adds_user_text_and_a_second_run_encodes_nothing(clean, history, tmp_path):
    ref, out = _run(clean, history, tmp_path, tmp_path / "emb")
    before = pd.read_parquet(clean)
    # every column of the gated log is kept as it was; user_text is added
    pd.testing.assert_frame_equal(out.drop(columns=[USER_TEXT]), before)
    with_history = set(history.user_id)
    state = dict(zip(out.user_id, out[USER_TEXT]))
    assert {u for u, s in state.items() if s != NO_HISTORY} == with_history  # users absent from it get "none"
    assert {s for u, s in state.items() if u in with_history} <= {f"t{i}" for i in range(6)}
    assert out.groupby("user_id")[USER_TEXT].nunique().max() == 1  # a user's state, not a row's
    assert (ref.n_users, ref.n_with_text, ref.n_rows) == (12, 8, len(history))
    assert ref.backbone == "minilm"  # the pretrained encoder, installed here
    assert ref.n_encoded == ref.n_texts == history.text.nunique() and ref.n_cached == 0

    again, out2 = _run(clean, history, tmp_path, tmp_path / "emb", name="h2.parquet")
    assert (again.n_encoded, again.n_cached) == (0, ref.n_texts)  # WORK_DIR/embeddings held every vector
    pd.testing.assert_frame_equal(out2, out)
    assert f"8 of 12 users have a text state from {len(history)} history rows" in again.line()
    assert f"0 encoded, {ref.n_texts} cached" in again.line()


def test_history_from_the_log_period_on_never_changes_a_state(clean, history, tmp_path):
    """The leakage rule through the task: rows at or after the log's first ts are never read."""
    first = pd.read_parquet(clean, columns=["ts"]).ts.min()
    users = sorted(pd.read_parquet(clean, columns=["user_id"]).user_id.unique())
    late = pd.DataFrame(
        {
            "user_id": [users[0], users[1], users[1], users[11]],  # users[11] has no earlier history
            "ts": [first, first + pd.Timedelta(hours=1), first + pd.Timedelta(days=400), first],
            "text": ["Leaked A | Horror", "Leaked B | Horror", "Leaked C | Musical", "Leaked D | War"],
        }
    )
    ref, out = _run(clean, history, tmp_path, tmp_path / "emb")
    leaky_ref, leaky = _run(clean, pd.concat([history, late]), tmp_path, tmp_path / "emb", name="leaky.parquet")
    pd.testing.assert_series_equal(leaky[USER_TEXT], out[USER_TEXT])
    assert (leaky[leaky.user_id == users[11]][USER_TEXT] == NO_HISTORY).all()
    assert (leaky_ref.n_rows, leaky_ref.n_texts, leaky_ref.n_encoded) == (ref.n_rows, ref.n_texts, 0)  # never read

    # one second earlier, the same row is history and is read: the cutoff, not the text, kept it out above
    early = late.assign(ts=first - pd.Timedelta(seconds=1))
    read_ref, _ = _run(clean, pd.concat([history, early]), tmp_path, tmp_path / "emb", name="early.parquet")
    assert (read_ref.n_rows, read_ref.n_with_text) == (ref.n_rows + 4, ref.n_with_text + 1)


def test_bad_history_files_and_logs_are_one_line(clean, history, tmp_path):
    with pytest.raises(InputError, match=r"lacks columns \['text'\].*fix: name them user_id, ts, text"):
        _run(clean, history.drop(columns=["text"]), tmp_path, tmp_path / "emb")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="cannot be read as CSV/Parquet"):
        add_user_text(str(clean), str(tmp_path / "bad.parquet"), str(tmp_path / "o.parquet"), str(tmp_path / "e"))
    # a log that already has user_text would lose it silently
    pq.write_table(
        pq.read_table(clean).append_column(USER_TEXT, [["x"] * pq.read_metadata(clean).num_rows]),
        tmp_path / "has.parquet",
    )
    with pytest.raises(InputError, match="already has a 'user_text' column"):
        _run(tmp_path / "has.parquet", history, tmp_path, tmp_path / "emb")


def test_a_csv_history_gives_the_same_states(clean, history, tmp_path):
    _, from_parquet = _run(clean, history, tmp_path, tmp_path / "emb")
    history.assign(ts=history.ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(tmp_path / "h.csv", index=False)
    ref = add_user_text(str(clean), str(tmp_path / "h.csv"), str(tmp_path / "c.parquet"), str(tmp_path / "emb"))
    pd.testing.assert_series_equal(pd.read_parquet(ref.path)[USER_TEXT], from_parquet[USER_TEXT])


@pytest.mark.parametrize("representation", ["propensity", "text_logit"])
def test_the_headed_representations_read_the_logged_treatment_and_the_user_columns(
    clean, history, tmp_path, representation
):
    from scoring.text_features import user_text_features
    from scoring.user_text import _treatment_log

    history.to_parquet(tmp_path / "h.parquet", index=False)
    out = tmp_path / "p.parquet"
    ref = add_user_text(
        str(clean),
        str(tmp_path / "h.parquet"),
        str(out),
        str(tmp_path / "emb"),
        say=lambda _: None,
        representation=representation,
        treatment="strategy",
    )
    got = pd.read_parquet(ref.path)
    assert got.groupby("user_id")[USER_TEXT].nunique().max() == 1
    assert {u for u, s in zip(got.user_id, got[USER_TEXT]) if s != NO_HISTORY} == set(history.user_id)
    logged = _treatment_log(str(clean), "strategy")
    assert "user_activity" in logged["covariates"] and "user_id" not in logged["covariates"]
    # the same states as scoring.text_features' own propensity summary of the same inputs
    from scoring.text_features import embed_items

    vectors = lambda texts: embed_items(texts, "minilm", tmp_path / "emb").vectors  # noqa: E731
    first = pd.read_parquet(clean, columns=["ts"]).ts.min()
    users = list(dict.fromkeys(pd.read_parquet(clean, columns=["user_id"]).user_id.astype(str)))
    direct = user_text_features(history, first, vectors, 6, 0, users=users, representation=representation, **logged)
    assert dict(zip(got.user_id, got[USER_TEXT])) == dict(zip(direct.frame.user_id, direct.frame[USER_TEXT]))
    with pytest.raises(InputError, match="needs the run's treatment"):
        add_user_text(
            str(clean), str(tmp_path / "h.parquet"), str(out), str(tmp_path / "emb"), representation=representation
        )
