"""Structure learning: local scores equal pgmpy's, recdo's HillClimb is pgmpy's search, knowledge, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections import deque
from math import lgamma, log
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from pgmpy.base import DAG
from pgmpy.causal_discovery import HillClimbSearch
from pgmpy.sampling import BayesianModelSampling
from pgmpy.structure_score import BIC, K2, BDeu

from causal.network.constraint import mmpc_skeleton, orient_skeleton, orient_to_dag
from causal.network.hillclimb import hill_climb
from causal.network.knowledge import Knowledge
from causal.network.learn import ALGORITHMS, learn
from causal.network.scores import LocalScore
from recdo.cli.structure import main

REPO = Path(__file__).resolve().parents[3]


def _network(name: str):
    from pgmpy.utils import get_example_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return get_example_model(name)


def _sample(name: str, n: int, seed: int = 0) -> pd.DataFrame:
    return BayesianModelSampling(_network(name)).forward_sample(size=n, seed=seed, show_progress=False)


@pytest.fixture(scope="module")
def asia() -> pd.DataFrame:
    return _sample("asia", 10_000)


@pytest.fixture(scope="module")
def sachs() -> pd.DataFrame:
    return _sample("sachs", 3_000)


def _shd(learned: set, true: set) -> int:
    pairs = {frozenset(e) for e in learned | true}
    return sum(1 for p in pairs if {e for e in learned if frozenset(e) == p} != {e for e in true if frozenset(e) == p})


# -- local scores ----------------------------------------------------------------------------------

PARENT_SETS = [
    ("dysp", ()),
    ("dysp", ("bronc",)),
    ("dysp", ("bronc", "either")),
    ("dysp", ("either", "bronc")),
    ("either", ("tub", "lung")),
    ("either", ("tub", "lung", "asia")),  # asia = yes is rare: parent configurations go unobserved
    ("xray", ("asia", "tub", "smoke", "lung")),
    ("asia", ()),
]


@pytest.mark.parametrize(
    "name, pgmpy_score",
    [("bic", BIC), ("bdeu", lambda d: BDeu(d, equivalent_sample_size=10)), ("k2", K2)],
)
@pytest.mark.slow
def test_local_scores_equal_pgmpy_on_asia(asia, name, pgmpy_score):
    small = asia.iloc[:500]
    ours, theirs = LocalScore(small, name), pgmpy_score(small)
    for node, parents in PARENT_SETS:
        assert ours.local_score(node, parents) == pytest.approx(theirs.local_score(node, parents), abs=1e-6), (
            node,
            parents,
        )
    # Cached by parent set: listing the parents in another order is a cache hit, not a new count.
    computed = ours.n_computed
    assert ours.local_score("dysp", ("either", "bronc")) == ours.local_score("dysp", ("bronc", "either"))
    assert ours.n_computed == computed


@pytest.mark.slow
def test_bdeu_uses_the_equivalent_sample_size(asia):
    small = asia.iloc[:500]
    one, fifty = LocalScore(small, "bdeu", 1.0), LocalScore(small, "bdeu", 50.0)
    args = ("either", ("tub", "lung"))
    assert one.local_score(*args) == pytest.approx(BDeu(small, equivalent_sample_size=1).local_score(*args), abs=1e-6)
    assert fifty.local_score(*args) == pytest.approx(
        BDeu(small, equivalent_sample_size=50).local_score(*args), abs=1e-6
    )
    assert one.local_score(*args) != pytest.approx(fifty.local_score(*args))


def test_bic_by_hand():
    # x | y on four rows: y=0 -> x = a, a; y=1 -> x = b, a. ll = 2 log(2/2) + 2 log(1/2);
    # penalty 0.5 * log(n=4) * q=2 * (r-1)=1 = log 4.
    data = pd.DataFrame({"x": ["a", "a", "b", "a"], "y": ["0", "0", "1", "1"]})
    assert LocalScore(data, "bic").local_score("x", ["y"]) == pytest.approx(2 * log(0.5) - log(4))


def test_k2_counts_unobserved_parent_configurations_as_zero_where_pgmpy_does_not():
    # A three-state child with parent configurations that never occur: pgmpy 1.1's K2 adds
    # q * lgamma(r) over all q configurations but subtracts lgamma(N_ij + r) only over observed ones.
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 400)
    b = np.where(a == 0, 0, rng.integers(0, 3, 400))  # (a=0, b!=0) never occurs
    c = (a + b + (rng.random(400) < 0.2)) % 3
    data = pd.DataFrame({"a": a, "b": b, "c": c}).astype(str)
    ours = LocalScore(data, "k2")
    counts = pd.crosstab([data["a"], data["b"]], data["c"]).to_numpy()  # observed configurations only
    q, q_observed, r = 9, counts.shape[0], 3
    assert q_observed == 7
    textbook = sum(lgamma(r) - lgamma(row.sum() + r) + sum(lgamma(k + 1) for k in row) for row in counts)
    assert ours.local_score("c", ["a", "b"]) == pytest.approx(textbook, abs=1e-9)
    pgmpy_k2 = K2(data).local_score("c", ("a", "b"))
    assert pgmpy_k2 - textbook == pytest.approx((q - q_observed) * lgamma(r), abs=1e-6)
    assert pgmpy_k2 != pytest.approx(textbook, abs=0.1)
    # Where every configuration occurs the two agree.
    assert ours.local_score("c", ["a"]) == pytest.approx(K2(data).local_score("c", ("a",)), abs=1e-6)


# -- the search ------------------------------------------------------------------------------------


def _reference_hill_climb(data, max_indegree=None, forbidden=(), required=()):
    """pgmpy 1.1's own legal operations and score deltas, with recdo's deterministic tie-break."""
    search = HillClimbSearch(scoring_method="bic-d")
    search.variables_ = list(data.columns)
    score = BIC(data)
    order = {c: i for i, c in enumerate(data.columns)}
    rank = {"+": 0, "-": 1, "flip": 2}
    model = DAG()
    model.add_nodes_from(data.columns)
    model.add_edges_from(required)
    tabu: deque = deque(maxlen=100)
    tol = 1e-10 * len(data)
    while True:
        ops = list(
            search._legal_operations_dag(
                model=model,
                scoring_method=score,
                tabu_list=tabu,
                max_indegree=float("inf") if max_indegree is None else max_indegree,
                forbidden_edges=set(forbidden),
                required_edges=set(required),
            )
        )
        best = max((d for _, d in ops), default=None)
        if best is None or best < 1e-4:
            break
        kind, (x, y) = min(
            (op for op, d in ops if d >= best - tol), key=lambda op: (rank[op[0]], order[op[1][0]], order[op[1][1]])
        )
        if kind == "+":
            model.add_edge(x, y)
            tabu.append(("-", (x, y)))
        elif kind == "-":
            model.remove_edge(x, y)
            tabu.append(("+", (x, y)))
        else:
            model.remove_edge(x, y)
            model.add_edge(y, x)
            tabu.append(("flip", (x, y)))
    return {(str(u), str(v)) for u, v in model.edges()}


@pytest.mark.slow
def test_hill_climb_is_pgmpys_search_with_deterministic_ties(sachs):
    # sachs has three-state nodes and many score-equivalent ties; the search applies ~20 operations.
    result = hill_climb(sachs, "bic")
    assert result.stopped == "converged" and result.n_iter >= 15
    assert set(result.edges) == _reference_hill_climb(sachs)
    parents = {n: [u for u, v in result.edges if v == n] for n in sachs.columns}
    assert result.score == pytest.approx(sum(BIC(sachs).local_score(n, tuple(p)) for n, p in parents.items()), abs=1e-6)


@pytest.mark.slow  # pgmpy's own search on a sampled network: seconds
def test_hill_climb_with_knowledge_and_max_indegree_is_pgmpys_search(sachs):
    tiers = (("PKC", "PKA"), tuple(c for c in sachs.columns if c not in ("PKC", "PKA")))
    forbidden = {(b, a) for a in tiers[0] for b in tiers[1]} | {("Raf", "Mek")}
    required = {("PKA", "Akt")}
    result = hill_climb(sachs, "bic", tiers=tiers, forbidden=[("Raf", "Mek")], required=required, max_indegree=2)
    edges = set(result.edges)
    assert edges == _reference_hill_climb(sachs, max_indegree=2, forbidden=forbidden, required=required)
    assert max(sum(1 for _, v in edges if v == n) for n in sachs.columns) <= 2
    assert ("PKA", "Akt") in edges and not edges & forbidden


@pytest.mark.slow
def test_hill_climb_matches_pgmpy_on_asia(asia):
    true = {(str(u), str(v)) for u, v in _network("asia").edges()}
    theirs = {
        (str(u), str(v))
        for u, v in HillClimbSearch(scoring_method="bic-d", return_type="dag", show_progress=False)
        .fit(asia)
        .causal_graph_.edges()
    }
    ours = set(hill_climb(asia, "bic").edges)
    assert ours == theirs or _shd(ours, true) <= _shd(theirs, true)
    assert _shd(ours, true) <= 2


@pytest.mark.slow  # pgmpy's own search on a sampled network: seconds
def test_tiers_required_and_forbidden_edges_are_respected(asia):
    free = set(hill_climb(asia, "bic").edges)
    # Without knowledge the data draw edges into dysp, keep either -> xray and leave out asia -> tub.
    assert {("either", "dysp"), ("bronc", "dysp"), ("either", "xray")} <= free
    assert ("asia", "tub") not in free
    rest = tuple(c for c in asia.columns if c != "dysp")
    knowledge = Knowledge(tiers=[["dysp"], rest], required=[("asia", "tub")], forbidden=[("either", "xray")])
    for algorithm in ALGORITHMS:
        edges = set(learn(asia, algorithm, "bic", knowledge).edges)
        assert not [e for e in edges if e[1] == "dysp"], algorithm  # nothing points into the first tier
        assert ("asia", "tub") in edges, algorithm
        assert ("either", "xray") not in edges, algorithm
        assert nx.is_directed_acyclic_graph(nx.DiGraph(list(edges))), algorithm


def test_knowledge_errors_name_the_rule_and_the_fix(asia):
    with pytest.raises(ValueError, match="point into an earlier tier; reverse them"):
        Knowledge(tiers=[["asia"], ["tub"]], required=[("tub", "asia")])
    with pytest.raises(ValueError, match="both required and forbidden"):
        Knowledge(required=[("asia", "tub")], forbidden=[("asia", "tub")])
    with pytest.raises(ValueError, match=r"columns \['dysp'\] are in no tier"):
        learn(asia, "hc", knowledge=Knowledge(tiers=[[c for c in asia.columns if c != "dysp"]]))
    with pytest.raises(ValueError, match="form a cycle"):
        hill_climb(asia, required=[("asia", "tub"), ("tub", "asia")])
    with pytest.raises(ValueError, match=r"algorithm must be one of \['hc', 'pc', 'ges', 'mmhc'\]"):
        learn(asia, "tabu")


@pytest.mark.slow  # fresh interpreters, one per hash seed
def test_learn_is_deterministic_across_hash_seeds(tmp_path, sachs):
    # On this data pgmpy's HillClimbSearch (score ties) and PC's orientation phase (conflicting
    # colliders) both follow set order, so their DAGs change with PYTHONHASHSEED; recdo's do not.
    path = tmp_path / "sachs.parquet"
    sachs.to_parquet(path)
    algorithms = ("hc", "mmhc", "pc", "ges")
    code = (
        "import sys, json, pandas as pd; from causal.network.learn import learn; d = pd.read_parquet(sys.argv[1]); "
        f"print(json.dumps([learn(d, a).edges for a in {algorithms!r}]))"
    )
    procs = [  # two at once: each spends most of its time importing pgmpy
        subprocess.Popen(
            [sys.executable, "-c", code, str(path)],
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "2")
    ]
    here = [[list(e) for e in learn(sachs, a).edges] for a in algorithms]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert json.loads(out) == here


# -- one interface ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_learn_returns_a_dag_for_each_algorithm(asia, algorithm):
    result = learn(asia, algorithm, "bic")
    assert result.algorithm == algorithm and result.score == "bic" and result.seconds > 0
    graph = nx.DiGraph(list(result.edges))
    assert nx.is_directed_acyclic_graph(graph)
    assert set(graph.nodes) <= set(asia.columns)
    true = {frozenset(e) for e in _network("asia").edges()}
    found = {frozenset(e) for e in result.edges}
    precision, recall = len(found & true) / len(found), len(found & true) / len(true)
    assert precision >= 0.8 and recall >= 0.6, (algorithm, result.edges)
    if algorithm in ("pc", "ges"):
        assert any("PDAG" in note for note in result.notes)


def test_a_constant_column_gets_no_edges(asia):
    # pgmpy 1.1's PC alone would join it to every column: its chi-square gives p = NaN for a
    # constant and PC reads NaN as dependence.
    data = asia.iloc[:3000].assign(site="A")
    for algorithm in ALGORITHMS:
        result = learn(data, algorithm, "bic")
        assert not [e for e in result.edges if "site" in e], algorithm
        assert len(result.edges) >= 4, algorithm
    assert any("['site'] hold a single value" in n for n in learn(data, "pc").notes)


@pytest.mark.parametrize("score", ["bdeu", "k2"])
def test_learn_hc_with_other_scores(asia, score):
    result = learn(asia, "hc", score)
    assert nx.is_directed_acyclic_graph(nx.DiGraph(list(result.edges)))
    assert {frozenset(("either", "xray")), frozenset(("smoke", "lung"))} <= {frozenset(e) for e in result.edges}


def test_mmpc_finds_a_chain_without_its_shortcut():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, 5000)
    y = np.where(rng.random(5000) < 0.85, x, 1 - x)
    z = np.where(rng.random(5000) < 0.85, y, 1 - y)
    w = rng.integers(0, 2, 5000)
    data = pd.DataFrame({"x": x, "y": y, "z": z, "w": w})
    assert mmpc_skeleton(data) == {frozenset(("x", "y")), frozenset(("y", "z"))}


def test_orient_skeleton_draws_colliders_then_meeks_rule_1():
    # a - c - b with a, b separated by the empty set: collider a -> c <- b; then c - d, d not
    # adjacent to a: Meek's rule 1 gives c -> d. e - f stays undirected (nothing orients it).
    skeleton = [("a", "c"), ("b", "c"), ("c", "d"), ("e", "f")]
    seps = {frozenset(("a", "b")): set(), frozenset(("a", "d")): {"c"}, frozenset(("b", "d")): {"c"}}
    directed, undirected = orient_skeleton(list("abcdef"), skeleton, seps, Knowledge())
    assert directed == [("a", "c"), ("b", "c"), ("c", "d")]
    assert undirected == [("e", "f")]
    # With c in the separating set there is no collider, and tiers orient what they can.
    seps[frozenset(("a", "b"))] = {"c"}
    directed, undirected = orient_skeleton(list("abcdef"), skeleton, seps, Knowledge(tiers=[["f"], list("abcde")]))
    assert ("f", "e") in directed and ("a", "c") not in directed


def test_orient_to_dag_adds_no_v_structure_and_applies_knowledge():
    nodes = ["a", "b", "c", "d"]
    edges, notes = orient_to_dag(nodes, [], [("a", "b"), ("b", "c")], banned=set(), required=())
    assert not ({("a", "b"), ("c", "b")} <= set(edges))  # a -> b <- c would be a new v-structure
    assert {frozenset(e) for e in edges} == {frozenset(("a", "b")), frozenset(("b", "c"))}
    edges, notes = orient_to_dag(nodes, [("d", "c")], [("a", "b")], banned={("d", "c")}, required=[("a", "d")])
    assert set(edges) == {("c", "d"), ("a", "b"), ("a", "d")}
    assert "reversed d -> c: the knowledge forbids that direction" in notes
    assert "added required edge a -> d" in notes


# -- CLI -------------------------------------------------------------------------------------------


def test_cli_prints_json_edges_and_seconds(asia, tmp_path, capsys):
    path = tmp_path / "asia.csv"
    asia.to_csv(path, index=False)
    assert main(["--data", str(path), "--algorithm", "hc", "--score", "bic", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"edges", "seconds"}
    assert [tuple(e) for e in payload["edges"]] == list(learn(asia, "hc", "bic").edges)
    assert payload["seconds"] > 0

    assert main(["--data", str(path), "--algorithm", "mmhc", "--max-indegree", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines and all(len(line.split(" -> ")) == 2 for line in lines)


def test_cli_refuses_continuous_columns(tmp_path, capsys):
    path = tmp_path / "cont.csv"
    pd.DataFrame({"a": [0.5, 1.25, 2.0], "b": [1, 2, 3]}).to_csv(path, index=False)
    assert main(["--data", str(path)]) == 2
    assert "column 'a' holds non-integer numbers" in capsys.readouterr().err
