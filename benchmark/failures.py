"""The outputs of a model step that died: every file the step promises, saying ``failed`` and why.

Written by the step's supervisor (benchmark.supervisor) when its child process ends badly, and by the
workflow's ``onerror`` for jobs that no process of theirs survived to record (a cluster job killed as a
whole, a plugin rule that failed). Which record a file gets follows from its path, so plugin rules
(models/<id>/rules.smk) writing the standard outputs are covered too. Evaluation then scores the
failure as ``failed`` rows with the reason, and the leaderboard lists it.
"""

import re
from collections.abc import Callable
from pathlib import Path

from benchmark.supervisor import REASON_PREFIX, last_tagged

RUN = r"(?P<dataset>[^/]+)/(?P<model>[^/]+)/seed(?P<seed>\d+)"
BENCHMARK_COLUMNS = ["s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load",
                     "cpu_time"]  # fmt: skip


def _run_record(match: re.Match, reason: str, seconds: float, peak_rss_mb: float) -> dict:
    return {"model": match["model"], "dataset": match["dataset"], "seed": int(match["seed"]), "status": "failed",
            "message": reason, "device": "unknown", "wall_time_s": seconds, "cells_per_s": 0.0,
            "peak_rss_mb": peak_rss_mb, "peak_gpu_mb": 0.0, "n_dims": 0, "notes": "{}"}  # fmt: skip


def _embedding(path: str, match: re.Match, reason: str, params: dict, seconds: float, peak_rss_mb: float) -> None:
    import anndata as ad

    from benchmark.io import write_h5ad

    out = ad.AnnData()
    out.uns["status"] = {"status": "failed", "message": reason}
    out.uns["run"] = _run_record(match, reason, seconds, peak_rss_mb)
    write_h5ad(out, path)


def _run_info(path: str, match: re.Match, reason: str, params: dict, seconds: float, peak_rss_mb: float) -> None:
    from benchmark.io import write_json

    write_json(_run_record(match, reason, seconds, peak_rss_mb), path)


def _predictions(path: str, match: re.Match, reason: str, params: dict, seconds: float, peak_rss_mb: float) -> None:
    import pandas as pd

    from benchmark.finetuning import PREDICTION_COLUMNS
    from benchmark.io import write_tsv

    write_tsv(pd.DataFrame(columns=PREDICTION_COLUMNS), path)


def _scores(path: str, match: re.Match, reason: str, params: dict, seconds: float, peak_rss_mb: float) -> None:
    """Every metric of every task the evaluate job was to score (its `tasks` param)."""
    import pandas as pd

    from benchmark.io import write_tsv
    from benchmark.tasks import METRICS, SCORE_COLUMNS

    rows = [
        {"dataset": match["dataset"], "task": task, "model": match["model"], "seed": int(match["seed"]),
         "metric": metric.name, "value": float("nan"), "status": "failed", "message": reason, "seconds": 0.0}
        for task, job in params["tasks"].items()
        for metric in METRICS[task](job["config"])
    ]  # fmt: skip
    write_tsv(pd.DataFrame(rows, columns=SCORE_COLUMNS), path)


def _details(path: str, match: re.Match, reason: str, params: dict, seconds: float, peak_rss_mb: float) -> None:
    import pandas as pd

    from benchmark.io import write_tsv

    write_tsv(pd.DataFrame({"note": [f"failed: {reason}"]}), path)


def _manifest(path: str, match: re.Match, reason: str, params: dict, seconds: float, peak_rss_mb: float) -> None:
    from benchmark.io import write_json

    write_json({"model": match["model"], "status": "failed", "message": reason}, path)


def _maps(path: str, match: re.Match, reason: str, params: dict, seconds: float, peak_rss_mb: float) -> None:
    from benchmark.io import write_json

    write_json({"legend": {}, "maps": {}, "n_cells": 0, "failed": reason}, path)


Writer = Callable[[str, re.Match, str, dict, float, float], None]
RECORDS: list[tuple[re.Pattern, Writer]] = [
    (re.compile(rf"results/embed/{RUN}\.h5ad$"), _embedding),
    (re.compile(rf"results/embed/{RUN}\.json$"), _run_info),
    (re.compile(rf"results/finetune/{RUN}\.tsv\.gz$"), _predictions),
    (re.compile(rf"results/finetune/{RUN}\.json$"), _run_info),
    (re.compile(rf"results/scores/{RUN}\.tsv$"), _scores),
    (re.compile(rf"results/details/{RUN}\.tsv\.gz$"), _details),
    (re.compile(r"results/checkpoints/(?P<model>[^/]+)/manifest\.json$"), _manifest),
    (re.compile(r"results/maps/(?P<dataset>[^/]+)\.json$"), _maps),
]  # fmt: skip


def _writer(path: str) -> tuple[Writer, re.Match] | None:
    for pattern, writer in RECORDS:
        match = pattern.search(Path(path).as_posix())
        if match:
            return writer, match
    return None


def recordable(outputs: list[str]) -> bool:
    """True when every output is one a failure record exists for (the outputs of a model step)."""
    return bool(outputs) and all(_writer(path) for path in outputs)


def write_failure_outputs(
    outputs: list[str], reason: str, params: dict, seconds: float = 0.0, peak_rss_mb: float = 0.0
) -> None:
    """Write each output as the record of a failed step with ``reason`` (see the module docstring)."""
    if not recordable(outputs):
        raise ValueError(f"no failure record is defined for some of {outputs}")
    for path in outputs:
        writer, match = _writer(path)
        writer(path, match, reason, params, seconds, peak_rss_mb)


def last_reason(log_path: str | None) -> str | None:
    """The reason the step's supervisor wrote at the end of its log, if any."""
    return last_tagged(log_path, REASON_PREFIX)


def record_lost_jobs(jobs: list[dict]) -> list[str]:
    """For failed jobs of model steps (dicts with ``outputs``, ``log``, ``benchmark``): write their failure
    records and a benchmark file, so that the next run scores them as failed; return their outputs."""
    recorded = []
    for job in jobs:
        if not recordable(job["outputs"]) or all(Path(p).exists() for p in job["outputs"]):
            continue
        reason = last_reason(job.get("log")) or (
            "the job ended without its outputs and no process of it could record why (killed as a whole: "
            "the memory or time limit of a cluster, a lost node; or a plugin rule that failed)"
        )
        log = f"; log: {job['log']}" if job.get("log") else ""
        write_failure_outputs(job["outputs"], reason + log, job.get("params") or {})
        if job.get("benchmark") and not Path(job["benchmark"]).exists():
            Path(job["benchmark"]).parent.mkdir(parents=True, exist_ok=True)
            Path(job["benchmark"]).write_text("\t".join(BENCHMARK_COLUMNS) + "\n" + "\t".join(["NA"] * 10) + "\n")
        recorded += job["outputs"]
    return recorded


def lost_jobs_message(recorded: list[str]) -> str:
    files = "\n".join(f"  {path}" for path in recorded)
    return (
        f"{len(recorded)} outputs of model steps that ended without them are now recorded as failed:\n{files}\n"
        "Run the same command again to write the leaderboard with these failures (only evaluation and the "
        "report run). To retry a step instead, delete its files listed above first."
    )
