"""`recdo structure` reads CSV states as labels ("None" is a state), refuses repeated columns, detects delimiters."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recdo.cli.structure import main


def _damage_log(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Accident -> Damage with states named like pgmpy's insurance network's, "None" and "NA" among them."""
    rng = np.random.default_rng(seed)
    accident = rng.choice(["None", "Mild", "Severe"], size=n, p=[0.6, 0.3, 0.1])
    same = rng.random(n) < 0.9
    damage = np.where(same, np.where(accident == "None", "NA", accident), rng.choice(["NA", "Mild", "Severe"], n))
    driver = rng.choice(["null", "Expert"], size=n)  # independent of both
    return pd.DataFrame({"Driver": driver, "Accident": accident, "Damage": damage})


def test_states_named_none_na_null_are_labels_and_a_structure_is_learned(tmp_path: Path, capsys) -> None:
    path = tmp_path / "damage.csv"
    _damage_log().to_csv(path, index=False)
    assert pd.read_csv(path)["Accident"].isna().any()  # what pandas' reader did with the state "None"
    assert main(["--data", str(path), "--json"]) == 0
    edges = {frozenset(e) for e in json.loads(capsys.readouterr().out)["edges"]}
    assert edges == {frozenset({"Accident", "Damage"})}


def test_a_semicolon_delimited_csv_is_read_and_the_note_says_so(tmp_path: Path, capsys) -> None:
    path = tmp_path / "damage.csv"
    _damage_log().to_csv(path, index=False, sep=";")
    assert main(["--data", str(path)]) == 0
    captured = capsys.readouterr()
    assert {frozenset(line.split(" -> ")) for line in captured.out.splitlines()} == {frozenset({"Accident", "Damage"})}
    assert "note: the comma as the CSV delimiter: the header splits into 3 columns at ';'" in captured.err


def test_a_column_named_twice_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    csv_path = tmp_path / "twice.csv"
    csv_path.write_text("Accident,Damage,Accident\nNone,NA,None\nMild,Mild,Mild\n")
    assert main(["--data", str(csv_path)]) == 2
    err = capsys.readouterr().err
    assert "names the column 'Accident' twice in its header; rename one of them" in err and err.count("\n") == 1

    parquet_path = tmp_path / "twice.parquet"
    table = pa.Table.from_arrays(
        [pa.array(["None", "Mild"]), pa.array(["NA", "Mild"]), pa.array(["a", "b"])],
        names=["Accident", "Damage", "Accident"],
    )
    pq.write_table(table, parquet_path)
    assert main(["--data", str(parquet_path)]) == 2
    err = capsys.readouterr().err
    assert "holds more than one column named 'Accident'" in err and "rename one of them" in err
    assert err.count("\n") == 1


@pytest.mark.slow
def test_a_sample_of_pgmpys_insurance_network_is_learned_from_csv(tmp_path: Path, capsys) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # get_example_model goes in pgmpy 1.3 (DESIGN.md)
        from pgmpy.sampling import BayesianModelSampling
        from pgmpy.utils import get_example_model

        model = get_example_model("insurance")
    sample = BayesianModelSampling(model).forward_sample(size=3000, seed=7, show_progress=False)
    path = tmp_path / "insurance.csv"
    sample.to_csv(path, index=False)
    held = pd.read_csv(path)[["ThisCarDam", "Accident"]].isna().sum()
    assert (held > 0).all()  # pandas reads the state "None" as missing: the reason recdo used to refuse this file

    assert main(["--data", str(path), "--json"]) == 0
    edges = {frozenset(e) for e in json.loads(capsys.readouterr().out)["edges"]}
    assert frozenset({"Accident", "ThisCarDam"}) in edges  # a true edge, Accident -> ThisCarDam
    true_edges = {frozenset(e) for e in model.edges()}
    assert len(edges & true_edges) >= len(edges) // 2  # mostly the network's own adjacencies
