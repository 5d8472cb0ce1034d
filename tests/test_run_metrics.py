"""Running a task's metrics: declared requirements and declared value ranges are enforced."""

import math

import pytest

from benchmark.tasks.common import run_metrics
from metrics.base import Metric


def metric(value: float, value_range=(0.0, 1.0), requires=("labels",)) -> Metric:
    return Metric("m", "M", "bio", True, value_range, lambda _: value, requires)


def test_a_value_outside_the_declared_range_is_kept_said_and_never_scored(caplog):
    (row,) = run_metrics([metric(1.5)], None, {})
    assert row["status"] == "failed" and row["value"] == 1.5  # failed rows are left out of every score
    assert row["message"] == "value 1.5 outside the declared range [0, 1] of m: check the metric"
    assert row["message"] in caplog.text  # and in the job's log
    (row,) = run_metrics([metric(1.0 + 1e-9)], None, {})
    assert row["status"] == "ok" and row["value"] == 1.0 + 1e-9 and row["message"] == ""  # rounding at the bound


def test_nan_and_unbounded_values_pass_and_unmet_needs_are_not_applicable():
    rows = run_metrics([metric(math.nan), metric(-7.0, (-math.inf, math.inf)), metric(0.5, requires=("batches",))],
                       None, {"batches": "one batch"})  # fmt: skip
    assert [r["status"] for r in rows] == ["ok", "ok", "not_applicable"] and rows[1]["value"] == -7.0


@pytest.mark.parametrize(("kind", "requires", "value_range", "message"), [
    ("bioo", ("labels",), (0.0, 1.0), "kind 'bioo' is not one of"),
    ("bio", ("label",), (0.0, 1.0), r"requirements \['label'\] are not among"),
    ("bio", ("labels",), (1.0, 0.0), r"range \(1.0, 0.0\) is empty"),
])  # fmt: skip
def test_a_metric_declaring_an_unknown_kind_requirement_or_empty_range_is_refused(kind, requires, value_range,
                                                                                 message):  # fmt: skip
    with pytest.raises(ValueError, match=message):
        Metric("m", "M", kind, True, value_range, lambda _: 0.0, requires)
