"""The catalog's obs_query: a small grammar over obs columns that never runs code."""

import ast

import numpy as np
import pandas as pd
import pytest

from benchmark.config import read_yaml
from benchmark.data.obs_query import QueryError, select
from benchmark.data.prepare import standardize
from benchmark.errors import ContractError
from benchmark.paths import REPO_ROOT
from tests.test_prepare import entry, raw_input

OBS = pd.DataFrame(
    {
        "donor": pd.Categorical(["d1", "d2", "d3", "d1", None]),
        "age": [30, 45, 60, 75, 20],
        "ethnicity": ["European", "Asian", "African", "Asian", "European"],
        "flag": [True, False, True, False, True],
    }
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("donor == 'd1'", [1, 0, 0, 1, 0]),
        ("donor != 'd1'", [0, 1, 1, 0, 1]),  # a missing value is not equal to 'd1', as in pandas
        ("age >= 45 and age < 75", [0, 1, 1, 0, 0]),
        ("45 <= age < 75", [0, 1, 1, 0, 0]),
        ("donor in ['d2', 'd3']", [0, 1, 1, 0, 0]),
        ("donor not in ('d2', 'd3')", [1, 0, 0, 1, 1]),
        ("ethnicity.isin(['Asian'])", [0, 1, 0, 1, 0]),
        ("not (ethnicity == 'European' or flag == False)", [0, 0, 1, 0, 0]),
        ("age > -1 and flag", None),  # a bare column is not a condition
    ],
)
def test_the_grammar(query, expected):
    if expected is None:
        with pytest.raises(QueryError, match="'flag' is not a condition"):
            select(OBS, query)
    else:
        assert select(OBS, query).astype(int).tolist() == expected


PAYLOADS = [
    "@pd.io.common.os.system('id > {marker}')",  # the issue's: pandas' python engine resolved @pd
    "__import__('os').system('id > {marker}')",
    "donor.str.contains('d').__class__.__init__.__globals__['sys'].modules['os'].system('id > {marker}')",
    "[open('{marker}', 'w') for donor in 'x']",
    "donor == open('{marker}', 'w').name",
    "(lambda: __import__('os').system('id > {marker}'))()",
    "donor.isin(__import__('os').system('id > {marker}'))",
    "donor[0] == 'd'",
    "age + 1 > 30",
    "donor.isin(['d1'], regex=True)",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_code_in_obs_query_is_refused_and_never_runs(payload, tmp_path):
    marker = tmp_path / "pwned"
    query = payload.format(marker=marker)
    with pytest.raises(ContractError, match=r"catalog field `obs_query` .* refused: .*"):
        standardize(raw_input(), "toy", entry(obs_query=query), "dataset 'toy'")
    assert not marker.exists()


def test_errors_say_what_is_allowed():
    with pytest.raises(QueryError, match=r"not a valid expression .*allowed: comparisons \(==, !="):
        select(OBS, "donor ==")
    with pytest.raises(QueryError, match="the only call allowed is column.isin"):
        select(OBS, "len(donor)")
    with pytest.raises(QueryError, match="'len[(]donor[)]' is neither an obs column nor a literal"):
        select(OBS, "len(donor) > 1")
    with pytest.raises(QueryError, match="'donor' is not a literal"):
        select(OBS, "donor in [donor]")
    with pytest.raises(QueryError, match="compares no obs column"):
        select(OBS, "1 == 1")


def test_every_catalog_obs_query_parses_and_selects():
    catalog = read_yaml(REPO_ROOT / "config" / "datasets.yaml")
    queries = {d: e["obs_query"] for d, e in catalog.items() if "obs_query" in e}
    assert "aida_v2" in queries
    for dataset, query in queries.items():
        names = sorted({n.id for n in ast.walk(ast.parse(query, mode="eval")) if isinstance(n, ast.Name)})
        obs = pd.DataFrame({name: ["SG_HEL_H262", "European", "x"] for name in names})
        mask = select(obs, query)
        assert mask.dtype == np.bool_ and len(mask) == 3, dataset
    aida = pd.DataFrame({"donor_id": ["SG_HEL_H262", "SG_HEL_B001", "SG_HEL_B002"],
                         "self_reported_ethnicity": ["European", "European", "Chinese"]})  # fmt: skip
    assert select(aida, queries["aida_v2"]).tolist() == [True, False, True]
