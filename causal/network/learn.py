"""Structure learning under one interface: HillClimb (recdo's), PC and GES (pgmpy's), MMHC (recdo's)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from causal.network.constraint import mmpc_skeleton, orient_skeleton, orient_to_dag
from causal.network.hillclimb import hill_climb
from causal.network.knowledge import Knowledge, LearnedStructure
from causal.network.scores import SCORES, LocalScore, ScoreName, encode

Algorithm = Literal["hc", "pc", "ges", "mmhc"]
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)


def learn(
    data: pd.DataFrame,
    algorithm: Algorithm = "hc",
    score: ScoreName = "bic",
    knowledge: Knowledge | None = None,
    max_indegree: int | None = None,
    seed: int = 0,
    *,
    equivalent_sample_size: float = 10.0,
    significance_level: float = 0.01,
    max_cond_vars: int = 3,
) -> LearnedStructure:
    """Learn a DAG over the discrete columns of `data`.

    - ``hc``: recdo's hill climber (`causal.network.hillclimb`): pgmpy's search, deterministic, many times faster.
    - ``pc``: pgmpy 1.1's PC-stable skeleton and separating sets (chi-square tests at
      `significance_level`, up to 5 conditioning variables; a constant column is independent of
      everything), then colliders and Meek's rules in column order (`orient_skeleton`: pgmpy's own
      orientation follows set order and changes with PYTHONHASHSEED), then a DAG in the PDAG's class.
    - ``ges``: pgmpy 1.1's GES driven by recdo's cached score; it knows no domain knowledge and no
      in-degree limit, so knowledge is applied to its equivalence class afterwards (see notes).
    - ``mmhc``: recdo's MMPC skeleton (G-test at `significance_level`, conditioning sets of at most
      `max_cond_vars`) then recdo's hill climber restricted to it. pgmpy 1.1 ships MMHC only in
      its legacy `estimators.MmhcEstimator`, which is wrong (see `mmpc_skeleton`).

    Every algorithm is deterministic; `seed` is accepted for the interface and changes nothing.
    The returned DAG never holds an edge the knowledge forbids and always holds the required ones;
    where PC or GES had to be corrected to get there, `notes` says which edges changed.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {list(ALGORITHMS)}; got {algorithm!r}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {list(SCORES)}; got {score!r}")
    bad_indegree = isinstance(max_indegree, bool) or not isinstance(max_indegree, int) or max_indegree < 1
    if max_indegree is not None and bad_indegree:
        raise ValueError(f"max_indegree must be None or a positive integer; got {max_indegree!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer; got {seed!r}")
    if not 0 < significance_level < 1:
        raise ValueError(f"significance_level must lie strictly between 0 and 1; got {significance_level!r}")
    knowledge = knowledge or Knowledge()
    start = time.perf_counter()
    enc = encode(data)
    knowledge.check_columns(enc.names)
    scorer = LocalScore(enc, score, equivalent_sample_size)
    notes: list[str] = []

    if algorithm in ("hc", "mmhc"):
        allowed = None
        if algorithm == "mmhc":
            banned = knowledge.banned(enc.names)
            excluded = {frozenset((u, v)) for u, v in banned if (v, u) in banned}
            allowed = mmpc_skeleton(enc, significance_level, max_cond_vars, excluded)
            notes.append(
                f"MMPC skeleton: {len(allowed)} adjacencies (G-test, alpha={significance_level}, "
                f"conditioning sets of at most {max_cond_vars}); pgmpy 1.1's MmhcEstimator is not used: "
                "its hill climb forbids only one direction of each non-skeleton pair and its MMPC "
                "forward phase admits every variable (1 - p > 0)"
            )
            allowed |= {frozenset(e) for e in knowledge.required}
        result = hill_climb(
            scorer,
            tiers=knowledge.tiers,
            required=knowledge.required,
            forbidden=knowledge.forbidden,
            allowed_pairs=allowed,
            max_indegree=max_indegree,
        )
        if result.stopped == "max_iter":
            notes.append(f"hill climbing stopped at max_iter={result.n_iter} before converging")
        edges = result.edges
    else:
        from pgmpy.causal_discovery import GES, PC, ExpertKnowledge

        frame = data.astype(str)  # pgmpy's discrete tests and scores want categorical columns
        if algorithm == "pc":
            notes.append(f"pc decides adjacencies by chi-square independence tests; the {score!r} score is not used")
            expert = ExpertKnowledge(
                forbidden_edges=set(knowledge.forbidden),
                required_edges=set(knowledge.required),
                temporal_order=[list(t) for t in knowledge.tiers] if knowledge.tiers else None,
            )
            constants = {name for name, card in zip(enc.names, enc.cards) if card == 1}
            chi_square = _chi_square_constants_independent(frame, constants)
            pc = PC(
                variant="stable",
                ci_test=chi_square,
                return_type="pdag",
                significance_level=significance_level,
                max_cond_vars=5,
                expert_knowledge=expert,
                enforce_expert_knowledge=False,
                n_jobs=1,
                show_progress=False,
            )
            pc.fit(frame)
            directed, undirected = orient_skeleton(
                enc.names,
                [(str(u), str(v)) for u, v in pc.skeleton_.edges()],
                {frozenset(map(str, k)): {str(z) for z in sep} for k, sep in pc.separating_sets_.items()},
                knowledge,
            )
            if constants:
                notes.append(
                    f"pc: columns {sorted(constants)} hold a single value and get no edges (pgmpy 1.1's "
                    "chi-square gives p = NaN for them, which its PC reads as dependence)"
                )
            notes.append(
                "pc: pgmpy's PC-stable skeleton and separating sets; colliders and Meek's rules applied by "
                "recdo in column order (pgmpy 1.1 orients in set order, which changes with PYTHONHASHSEED "
                "when collider orientations conflict)"
            )
        else:
            ges = GES(scoring_method=_pgmpy_score(frame, scorer), return_type="pdag")
            pdag = ges.fit(frame).causal_graph_
            if knowledge != Knowledge():
                notes.append(
                    "pgmpy 1.1's GES takes no domain knowledge: it was applied to GES's equivalence class afterwards"
                )
            directed = sorted((str(u), str(v)) for u, v in pdag.directed_edges)
            undirected = sorted(tuple(sorted((str(u), str(v)))) for u, v in pdag.undirected_edges)
        notes.append(
            f"the {algorithm} PDAG has {len(directed)} directed and {len(undirected)} undirected edges; "
            "undirected edges were oriented by the Dor-Tarsi consistent extension, nodes in column order"
        )
        edges, more = orient_to_dag(enc.names, directed, undirected, knowledge.banned(enc.names), knowledge.required)
        notes.extend(more)
        if max_indegree is not None:
            indeg: dict[str, int] = {}
            for _, v in edges:
                indeg[v] = indeg.get(v, 0) + 1
            over = sorted(n for n, k in indeg.items() if k > max_indegree)
            if over:
                notes.append(f"{algorithm} has no in-degree limit: {over} have more than {max_indegree} parents")
    return LearnedStructure(
        edges=tuple(edges),
        seconds=time.perf_counter() - start,
        algorithm=algorithm,
        score=score,
        notes=tuple(notes),
    )


def _chi_square_constants_independent(frame: pd.DataFrame, constants: set[str]) -> Callable[..., bool]:
    """pgmpy's chi-square CI test, except that a column with a single state is independent of everything.

    pgmpy 1.1's test returns p = NaN when no stratum has degrees of freedom and its PC reads NaN as
    dependence (on purpose: an untestable pair keeps its edge, which keeps deterministic nodes such
    as asia's `either` connected). For a constant column that rule is wrong: it keeps an edge from
    the constant to every other column. Other NaN cases keep pgmpy's reading.
    """
    from pgmpy.ci_tests import get_ci_test

    test = get_ci_test("chi_square", frame)

    def chi_square(X: str, Y: str, Z: Iterable[str] = (), significance_level: float = 0.05) -> bool:
        if X in constants or Y in constants:
            return True
        return bool(test(X, Y, list(Z), significance_level=significance_level))

    return chi_square


def _pgmpy_score(frame: pd.DataFrame, scorer: LocalScore) -> Any:  # a pgmpy BaseStructureScore
    """recdo's cached local score behind pgmpy's score interface (pgmpy's GES calls `local_score`)."""
    from pgmpy.structure_score import BaseStructureScore

    class RecdoScore(BaseStructureScore):
        _tags = {"name": "recdo", "supported_datatype": "discrete", "default_for": None, "is_parameteric": False}

        def __init__(self, data: pd.DataFrame, local: LocalScore | None = None) -> None:
            self.local = local
            super().__init__(data)

        def _local_score(self, variable: str, parents: tuple[str, ...]) -> float:
            return self.local.local_score(variable, parents)

    return RecdoScore(frame, scorer)


def check_discrete(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` itself when every column is discrete; numbers must be whole (discretise continuous columns first).

    Reading the file is the loader's job (sources.load_table: CSV labels such as "None" stay labels).
    """
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_float_dtype(values) and not np.all(np.mod(values.dropna(), 1) == 0):
            raise ValueError(
                f"column {col!r} holds non-integer numbers; structure learning needs discrete columns: "
                "bin it first (causal.network.discretize) or drop it"
            )
    return frame
