# Helpers only: config validation at start-up, the model registry, paths and per-job values.
# Nothing here writes or deletes a file: the package is installed (pip install -e .), so imports work
# without touching sys.path, and the integrity check of intermediates runs in `onstart` (workflow/Snakefile).
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

from benchmark.config import check_config, id_pattern
from benchmark.failures import lost_jobs_message, record_lost_jobs
from benchmark.fingerprint import Untracked, file_fingerprint, model_code, repo_code, source_fingerprint
from benchmark.integrity import damaged_message, remove_corrupted
from benchmark.paths import SCHEMA_DIR
from benchmark.registry import check_checkpoints, discover, require
from benchmark.seeds import derive_seed
from benchmark.supervisor import ATTEMPTS_ENV
from benchmark.tasks.plan import task_applies, unmet_need, unscheduled

REPO = Path(workflow.basedir).parent
# Snakemake's validate fills the schema's defaults into `config` itself (what every job's snakemake.config holds).
CONFIG, CATALOG = check_config(
    config,
    "config (config/config.yaml + --configfile/--config)",
    fill=lambda settings: validate(settings, str(SCHEMA_DIR / "config.schema.yaml"), set_default=True),
)
SPECS = discover(REPO / "models")
require(SPECS, CONFIG["models"], "config")
RUN = CONFIG["run"]
CHECKPOINTS = CONFIG["checkpoints"]  # published checkpoints, used instead of our own pretraining
check_checkpoints(SPECS, CONFIG["models"], CHECKPOINTS, "config")
# Plugins that cannot be a Python class ship models/<id>/rules.smk writing the same outputs.
PLUGIN_RULES = [str(REPO / "models" / m / "rules.smk") for m, spec in SPECS.items() if spec.plugin_rule]
CLASS_MODELS = "|".join(re.escape(m) for m, spec in SPECS.items() if not spec.plugin_rule)
ID = id_pattern()  # dataset, model and run ids (workflow/schemas/config.schema.yaml)


wildcard_constraints:
    dataset=ID,
    model=ID,
    run=ID,
    task="[A-Za-z0-9_]+",
    seed=r"\d+",


def embeds(dataset, model):
    """The model's needs are met by what the catalog says about the dataset (benchmark/tasks/plan.py)."""
    return not unmet_need(CATALOG[dataset], SPECS[model], dataset)


def applies(dataset, task, model):
    """Only valid combinations that can run become jobs (benchmark/tasks/plan.py)."""
    return embeds(dataset, model) and task_applies(task, CATALOG[dataset], SPECS[model])


def unscheduled_jobs():
    """The (dataset, model) pairs not planned, with the reason: the report lists them as not applicable."""
    return unscheduled(CONFIG["datasets"], CONFIG["models"], list(CONFIG["tasks"]), CATALOG, SPECS)


def score_paths():
    return [
        f"results/scores/{d}/{t}/{m}/seed{s}.tsv"
        for d in CONFIG["datasets"]
        for t in CONFIG["tasks"]
        for m in CONFIG["models"]
        for s in CONFIG["seeds"]
        if applies(d, t, m)
    ]


def benchmark_jobs():
    """Every job whose Snakemake benchmark file goes into the report, with its wildcards."""
    jobs = [{"stage": "ontology", "dataset": "", "path": "results/benchmarks/ontology.tsv"}]
    jobs += [
        {"stage": "pretrain", "dataset": "", "model": m, "path": f"results/benchmarks/pretrain/{m}.tsv"}
        for m in CONFIG["models"]
        if pretrained_here(m) and any(embeds(d, m) for d in CONFIG["datasets"])
    ]
    jobs += [
        {"stage": "prepare_dataset", "dataset": d, "path": f"results/benchmarks/prepare_dataset/{d}.tsv"}
        for d in CONFIG["datasets"]
    ]
    for d in CONFIG["datasets"]:
        for m in (m for m in CONFIG["models"] if embeds(d, m)):
            for s in CONFIG["seeds"]:
                jobs.append(
                    {"stage": "embed", "dataset": d, "model": m, "seed": s,
                     "path": f"results/benchmarks/embed/{d}/{m}/seed{s}.tsv"}
                )
                if "finetune" in CONFIG["tasks"] and applies(d, "finetune", m):
                    jobs.append(
                        {"stage": "finetune", "dataset": d, "model": m, "seed": s,
                         "path": f"results/benchmarks/finetune/{d}/{m}/seed{s}.tsv"}
                    )
                for t in (t for t in CONFIG["tasks"] if applies(d, t, m)):
                    jobs.append(
                        {"stage": "evaluate", "dataset": d, "model": m, "seed": s, "task": t,
                         "path": f"results/benchmarks/evaluate/{d}/{t}/{m}/seed{s}.tsv"}
                    )
    return jobs


def run_infos():
    """The embed step's run records (device, wall time, peak CPU/GPU memory, status)."""
    return [
        {"dataset": d, "model": m, "seed": s, "path": f"results/embed/{d}/{m}/seed{s}.json"}
        for d in CONFIG["datasets"]
        for m in CONFIG["models"]
        for s in CONFIG["seeds"]
        if embeds(d, m)
    ]


def dataset_summaries():
    return {d: f"results/data/{d}/dataset.json" for d in CONFIG["datasets"]}


def leaderboard():
    return f"reports/{RUN}/leaderboard.html"


ONTOLOGY_FILES = {
    "ontology_graph": "results/ontology/cell_ontology.json.gz",
    "ontology_vectors": "results/ontology/dca_vectors.npz",
}


def embed_inputs(wildcards):
    """The dataset, plus the ontology for models that declare `needs: {ontology: true}`."""
    inputs = {"dataset": f"results/data/{wildcards.dataset}/dataset.h5ad"}
    if SPECS[wildcards.model].needs.get("ontology"):
        inputs.update(ONTOLOGY_FILES)
    if pretrained_here(wildcards.model):
        inputs["checkpoint"] = f"results/checkpoints/{wildcards.model}/manifest.json"
    return inputs


def pretrained_here(model):
    """True for scFMs that use our own pretraining (no published checkpoint configured)."""
    return SPECS[model].checkpoint == "pretrain" and model not in CHECKPOINTS


def published_checkpoint(wildcards):
    """The `checkpoints.<model>` settings (with the model id), or None."""
    settings = CHECKPOINTS.get(wildcards.model)
    return {"model": wildcards.model, **settings} if settings else None


def evaluate_inputs(wildcards):
    """The dataset, the ontology, and what the task scores: the embedding, or the fine-tune predictions;
    gene function also reads its label files (from the data directory)."""
    inputs = {"dataset": f"results/data/{wildcards.dataset}/dataset.h5ad", **ONTOLOGY_FILES}
    run = f"{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}"
    if wildcards.task == "finetune":
        inputs["embedding"] = f"results/finetune/{run}.tsv.gz"
    else:
        inputs["embedding"] = f"results/embed/{run}.h5ad"
    if wildcards.task == "gene_function":
        inputs.update(gene_function_files())
    return inputs


def gene_function_files():
    """The gene-function label files, resolved against the data directory."""
    from benchmark.data.sources import resolve_data_dir  # here: it imports scanpy (seconds per cluster job)

    settings = CONFIG["tasks"]["gene_function"]
    data_dir = resolve_data_dir(CONFIG["data_dir"])
    files = {}
    for key in ("go_annotations", "go_edges", "tissue"):
        if settings[key]:
            path = Path(settings[key]).expanduser()
            files[key] = str(path if path.is_absolute() or data_dir is None else data_dir / path)
    return files


def annotation_seed(wildcards):
    """The annotation task's seed for this dataset: fine-tuning uses the probes' exact splits."""
    return derive_seed(int(wildcards.seed), wildcards.dataset, "annotation")


def task_seed(wildcards):
    """Same for every model: identical folds and subsamples make models comparable."""
    return derive_seed(int(wildcards.seed), wildcards.dataset, wildcards.task)


def model_seed(wildcards):
    return derive_seed(int(wildcards.seed), wildcards.dataset, wildcards.model)


# Resources (read by the SLURM profile: gpu -> GRES, mem_mb, runtime, threads; locally only gpu counts).
# Memory and time grow with the attempt: a job retried after running out of memory or time gets more.
def model_resource(key, default, grow=False):
    """The model's `resources.<key>` from its model.yaml (times the attempt when `grow`)."""

    def value(wildcards, attempt):
        base = SPECS[wildcards.model].resources.get(key, default)
        return base * attempt if grow else base

    return value


# Rerun triggers (Snakemake's params trigger): content hashes of what a job reads besides its input files.
def dataset_source(wildcards):
    """The dataset's catalog fields except free text, and its source file's content (benchmark/fingerprint.py)."""
    return source_fingerprint(wildcards.dataset, CATALOG[wildcards.dataset], CONFIG["data_dir"])


def catalog_entry(wildcards):
    """The whole catalog entry for the job, untracked: its description may change without a rerun."""
    return Untracked(CATALOG[wildcards.dataset])


def code_of_model(model):
    """The model's code: its folder, model folders it imports, and models/foundation/ for scFMs."""
    return model_code(SPECS[model].directory, SPECS[model].kind)


def precomputed_source(wildcards):
    """A `precomputed` embedding's settings and its file's content hash."""
    source = CONFIG["precomputed"].get(wildcards.dataset)
    return source and {**source, "sha256": file_fingerprint(source["path"], CONFIG["data_dir"])}


DATA_CODE = repo_code("benchmark/data")  # builtin generators and the preparation itself
EVALUATE_CODE = repo_code("metrics", "benchmark/tasks")  # the metrics and the tasks that compute them


def failed_model_steps():
    """Jobs of model steps that failed for good, with their files (for `onerror`: benchmark/failures.py)."""
    failed = getattr(getattr(workflow, "scheduler", None), "failed", ())  # Snakemake's scheduler keeps them
    return [
        {
            "rule": job.rule.name,
            "outputs": [str(f) for f in job.output],
            "log": str(job.log[0]) if job.log else None,
            "benchmark": str(job.benchmark) if job.benchmark else None,
        }
        for job in failed
    ]


def attempt_number(wildcards, attempt):
    """Resource `attempt`: tells a model step's supervisor whether a retry follows (benchmark/supervisor.py)."""
    return attempt


def model_threads(wildcards):
    return SPECS[wildcards.model].resources.get("threads", 1)


def grows(base):
    """A memory (MB) or time (minutes) request for rules without a model: base times the attempt."""
    return lambda wildcards, attempt: base * attempt
