"""The finetune step: fine-tune one model for annotation on the annotation task's own splits."""

import json
import logging
import resource
import time
import traceback
from pathlib import Path

import pandas as pd

from benchmark.data.contract import read_dataset
from benchmark.embedding import check_needs, check_pretrained, device_name
from benchmark.errors import NotApplicable
from benchmark.io import write_json, write_tsv
from benchmark.registry import ModelSpec, load_class
from benchmark.tasks.annotation import annotation_cells

log = logging.getLogger(__name__)
PREDICTION_COLUMNS = ["cell", "split", "true", "predicted"]


def finetune_dataset(dataset_path: str | Path, spec: ModelSpec, params: dict, annotation_config: dict,
                     finetune_config: dict, seed: int, task_seed: int, predictions_path: str | Path,
                     run_info_path: str | Path, checkpoint: str | dict | None = None) -> str:  # fmt: skip
    """Write the test cells' predictions of every split and a run record; failures never propagate.

    ``task_seed`` is the annotation task's seed for this dataset, so the splits are the probes' splits.
    """
    adata = read_dataset(str(dataset_path))
    device, start = device_name(), time.perf_counter()
    predictions, status, message, model = pd.DataFrame(columns=PREDICTION_COLUMNS), "ok", "", None
    try:
        check_needs(spec, adata)
        check_pretrained(spec, checkpoint)
        cells = annotation_cells(adata, annotation_config, task_seed)
        if cells.problems["labels"]:
            raise NotApplicable(cells.problems["labels"])
        model = load_class(spec)(params=params, seed=seed, device=device, checkpoint=checkpoint)
        predictions = model.finetune(adata[cells.keep].copy(), cells.labels, cells.splits, finetune_config)
    except NotApplicable as reason:
        status, message = "not_applicable", str(reason)
    except Exception as error:  # one failed model never stops the others
        status, message = "failed", f"{type(error).__name__}: {error}"
        log.error("fine-tuning %s failed:\n%s", spec.id, traceback.format_exc())
    wall = time.perf_counter() - start
    write_tsv(predictions[PREDICTION_COLUMNS], predictions_path)
    write_json({"model": spec.id, "dataset": adata.uns["dataset"]["id"], "seed": seed, "status": status,
                "message": message, "device": device, "wall_time_s": wall,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "settings": finetune_config, "notes": json.dumps(getattr(model, "notes", {}), sort_keys=True)},
               run_info_path)  # fmt: skip
    return status
