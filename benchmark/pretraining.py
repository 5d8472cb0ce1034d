"""Does pretraining help? Each scFM against its random-init twin, and each pretraining run's held-out check.

- Gains: per dataset, task and scFM whose twin ran too, the scFM's scaled task score minus its twin's
  (and for integration the bio and batch parts), per seed, then mean and sd over seeds. A gain near 0
  says the pretrained weights add nothing over the architecture, tokenizer and pooling alone.
- Checks: per model pretrained (or initialised) in this run, the held-out masked-prediction loss and
  accuracy before and after training against the marginal baseline (``models/foundation/heldout.py``),
  the training cost and a downsampled loss curve, read from the checkpoint's config.json.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.registry import ModelSpec

MEASURES = {"integration": ("score", "bio", "batch")}  # other tasks: their score only
CURVE_POINTS = 40


def twin_pairs(models: list[str], specs: dict[str, ModelSpec]) -> dict[str, str]:
    """scFM -> its random-init twin, for the pairs that both ran."""
    return {specs[m].twin_of: m for m in models if specs[m].twin_of in models}


def pretraining_gains(tasks: pd.DataFrame, pairs: dict[str, str]) -> list[dict]:
    """Long rows (dataset, task, model, twin, measure, value, twin_value, gain, gain_sd, n_seeds), means over
    the seeds where both have a number."""
    rows = []
    keyed = tasks.set_index(["dataset", "task", "model", "seed"]).sort_index()
    for model, twin in sorted(pairs.items()):
        for (dataset, task), group in tasks[tasks["model"] == model].groupby(["dataset", "task"], sort=True):
            for measure in MEASURES.get(task, ("score",)):
                if measure not in group:
                    continue
                ours = group.set_index("seed")[measure]
                theirs = pd.Series(
                    {s: keyed[measure].get((dataset, task, twin, s), np.nan) for s in ours.index}, dtype=float
                )
                both = ours.notna() & theirs.notna()
                gain = (ours - theirs)[both]
                rows.append({
                    "dataset": dataset, "task": task, "model": model, "twin": twin, "measure": measure,
                    "value": _mean(ours[both]), "twin_value": _mean(theirs[both]), "gain": _mean(gain),
                    "gain_sd": float(gain.std()) if len(gain) > 1 else None, "n_seeds": int(both.sum()),
                })  # fmt: skip
    return rows


def pretraining_checks(checkpoints: dict[str, str]) -> list[dict]:
    """One row per checkpoint folder made in this run (model -> folder)."""
    rows = []
    for model, folder in sorted(checkpoints.items()):
        failure = pretraining_failure(folder)
        if failure is None and not (Path(folder) / "config.json").is_file():
            failure = f"{folder} holds no config.json"
        if failure is not None:
            rows.append({"model": model, "status": "failed", "message": failure, "steps": None, "random_init": False,
                         "initial": None, "final": None, "learned": None, "loss_curve": []})  # fmt: skip
            continue
        config = json.loads((Path(folder) / "config.json").read_text())
        check = config.get("check") or {}
        losses = config.get("losses") or []
        rows.append({
            "model": model,
            "status": "ok",
            "steps": config.get("steps"),
            "random_init": bool(config.get("pretraining", {}).get("random_init", False)),
            "corpus_cells": config.get("corpus_cells"),
            "train_cells": config.get("train_cells"),
            "seconds": config.get("seconds"),
            "cpu_seconds": config.get("cpu_seconds"),
            "steps_per_second": config.get("steps_per_second"),
            "initial": check.get("initial"),
            "final": check.get("final"),
            "learned": _learned(check.get("final")),
            "loss_curve": downsample(losses, CURVE_POINTS),
        })  # fmt: skip
    return rows


def pretraining_failure(checkpoint: str | Path | dict | None) -> str | None:
    """Why our own pretraining failed, when its manifest records a failure (benchmark.failures); else None."""
    if not isinstance(checkpoint, str | Path):
        return None
    try:
        manifest = json.loads((Path(checkpoint) / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest.get("message", "unknown reason") if manifest.get("status") == "failed" else None


def _learned(final: dict | None) -> bool | None:
    """Whether the held-out masked loss is below the marginal baseline's (None without a check)."""
    if not final:
        return None
    return bool(final["loss"] < final["baseline_loss"])


def downsample(values: list[float], points: int) -> list[float]:
    """Means over ``points`` consecutive, nearly equal windows (all values when there are fewer)."""
    if len(values) <= points:
        return [float(v) for v in values]
    return [float(np.mean(chunk)) for chunk in np.array_split(np.asarray(values, dtype=float), points)]


def _mean(values: pd.Series) -> float | None:
    value = float(values.mean()) if len(values) else math.nan
    return value if math.isfinite(value) else None


def pretraining_summary(tasks: pd.DataFrame, models: list[str], specs: dict[str, ModelSpec],
                        checkpoints: dict[str, str] | None) -> dict:  # fmt: skip
    """results.json's ``pretraining`` section."""
    pairs = twin_pairs(models, specs)
    return {
        "pairs": [{"model": m, "twin": t} for m, t in sorted(pairs.items())],
        "gains": pretraining_gains(tasks, pairs),
        "checks": pretraining_checks(checkpoints or {}),
    }
