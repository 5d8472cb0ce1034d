# Helpers only: config validation at start-up, the model registry, paths and per-job values.
# Nothing here writes or deletes a file: the package is installed (pip install -e .), so imports work
# without touching sys.path, and the integrity check of intermediates runs in `onstart` (workflow/Snakefile).
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

from benchmark.config import check_config, id_pattern, task_settings
from benchmark.devices import local_gpu_count
from benchmark.failures import lost_jobs_message, record_lost_jobs
from benchmark.fingerprint import Untracked, file_fingerprint, model_code, repo_code, source_fingerprint
from benchmark.forkserver import start_servers, stop_servers
from benchmark.integrity import damaged_message, remove_corrupted
from benchmark.paths import SCHEMA_DIR
from benchmark.registry import check_checkpoints, discover, require, with_twin_settings
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
CONFIG = with_twin_settings(CONFIG, SPECS)  # random-init twins run with their scFM's params and checkpoint
require(SPECS, CONFIG["models"], "config")
RUN = CONFIG["run"]
CHECKPOINTS = CONFIG["checkpoints"]  # published checkpoints, used instead of our own pretraining
check_checkpoints(SPECS, CONFIG["models"], CHECKPOINTS, "config")
# Plugins that cannot be a Python class ship models/<id>/rules.smk writing the same outputs.
PLUGIN_RULES = [str(REPO / "models" / m / "rules.smk") for m, spec in SPECS.items() if spec.plugin_rule]
CLASS_MODELS = "|".join(re.escape(m) for m, spec in SPECS.items() if not spec.plugin_rule)
ID = id_pattern()  # dataset, model and run ids (workflow/schemas/config.schema.yaml)
# What a local run's warm server for each rule imports once for all its jobs (benchmark/forkserver.py).
WARM_IMPORTS = {  # never torch (benchmark/forkserver.py: NOT_BEFORE_FORK)
    "prepare_dataset": ["benchmark.data.prepare", "benchmark.io"],
    "embed": ["benchmark.embedding", "benchmark.data.preprocess"],
    "finetune": ["benchmark.finetuning", "benchmark.data.preprocess"],
    "pretrain": ["benchmark.data.contract", "benchmark.embedding", "models.foundation.corpus"],
    "evaluate": ["benchmark.tasks.evaluate", "benchmark.io"],
    "embedding_maps": ["benchmark.report.maps", "benchmark.data.contract", "benchmark.io"],
}


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


def evaluated_tasks(wildcards):
    """The tasks the evaluate job of (dataset, model, seed) scores: settings and seed of each. A task's seed is
    the same for every model: identical folds and subsamples make models comparable."""
    d, m, s = wildcards.dataset, wildcards.model, int(wildcards.seed)
    return {t: {"config": CONFIG["tasks"][t], "seed": derive_seed(s, d, t)} for t in CONFIG["tasks"] if applies(d, t, m)}


def evaluate_runtime(wildcards, attempt):
    """Minutes: 2 h per task scored, times the attempt."""
    return 120 * len(evaluated_tasks(wildcards)) * attempt


def embed_seed(model, seed):
    """The seed whose embedding serves replicate ``seed``: its own for a stochastic model; the first seed's
    for a deterministic one (model.yaml `stochastic: false`), embedded once for every seed."""
    return seed if SPECS[model].stochastic else CONFIG["seeds"][0]


def embedding_file(dataset, model, seed):
    return f"results/embed/{dataset}/{model}/seed{embed_seed(model, int(seed))}.h5ad"


def embed_seeds(model):
    """The seeds a model is embedded with: every seed, or the first only for a deterministic model."""
    return sorted({embed_seed(model, s) for s in CONFIG["seeds"]})


def evaluations():
    """(dataset, model, seed) of every evaluate job: each has at least one task that applies."""
    return [
        (d, m, s)
        for d in CONFIG["datasets"]
        for m in CONFIG["models"]
        for s in CONFIG["seeds"]
        if any(applies(d, t, m) for t in CONFIG["tasks"])
    ]


def score_paths():
    return [f"results/scores/{d}/{m}/seed{s}.tsv" for d, m, s in evaluations()]


def benchmark_jobs():
    """Every job whose Snakemake benchmark file and log go into the report, with its wildcards."""
    jobs = [{"stage": "ontology", "dataset": "", "path": "results/benchmarks/ontology.tsv"}]
    jobs += [
        {"stage": "pretrain", "dataset": "", "model": m, "path": f"results/benchmarks/pretrain/{m}.tsv"}
        for m in pretrainings()
    ]
    jobs += [
        {"stage": "prepare_dataset", "dataset": d, "path": f"results/benchmarks/prepare_dataset/{d}.tsv"}
        for d in CONFIG["datasets"]
    ]
    for d in CONFIG["datasets"]:
        for m in (m for m in CONFIG["models"] if embeds(d, m)):
            jobs += [
                {"stage": "embed", "dataset": d, "model": m, "seed": s,
                 "path": f"results/benchmarks/embed/{d}/{m}/seed{s}.tsv"}
                for s in embed_seeds(m)
            ]  # fmt: skip
            if "finetune" in CONFIG["tasks"] and applies(d, "finetune", m):
                jobs += [
                    {"stage": "finetune", "dataset": d, "model": m, "seed": s,
                     "path": f"results/benchmarks/finetune/{d}/{m}/seed{s}.tsv"}
                    for s in CONFIG["seeds"]
                ]  # fmt: skip
    jobs += [
        {"stage": "evaluate", "dataset": d, "model": m, "seed": s, "path": f"results/benchmarks/evaluate/{d}/{m}/seed{s}.tsv"}
        for d, m, s in evaluations()
    ]
    # A supervised step's log ends with its time and memory, its worker processes included (benchmark/supervisor.py).
    for job in jobs:
        job["log"] = f"results/logs/{job['path'].removeprefix('results/benchmarks/').removesuffix('.tsv')}.log"
    return jobs


def run_infos():
    """The embed step's run records (device, wall time, peak CPU/GPU memory, status), one per embed job."""
    return [
        {"dataset": d, "model": m, "seed": s, "path": f"results/embed/{d}/{m}/seed{s}.json"}
        for d in CONFIG["datasets"]
        for m in CONFIG["models"]
        for s in embed_seeds(m)
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


def pretrainings():
    """The scFMs pretrained in this run: those with our own pretraining that embed at least one dataset."""
    return [m for m in CONFIG["models"] if pretrained_here(m) and any(embeds(d, m) for d in CONFIG["datasets"])]


def pretrained_here(model):
    """True for scFMs that use our own pretraining (no published checkpoint configured)."""
    return SPECS[model].checkpoint == "pretrain" and model not in CHECKPOINTS


def published_checkpoint(wildcards):
    """The `checkpoints.<model>` settings (with the model id), or None."""
    settings = CHECKPOINTS.get(wildcards.model)
    return {"model": wildcards.model, **settings} if settings else None


def evaluate_inputs(wildcards):
    """The dataset, the ontology, and what the tasks score: the embedding (for a deterministic model the one
    made once for every seed), the fine-tune predictions; gene function also reads its label files."""
    inputs = {"dataset": f"results/data/{wildcards.dataset}/dataset.h5ad", **ONTOLOGY_FILES}
    tasks = evaluated_tasks(wildcards)
    if set(tasks) - {"finetune"}:
        inputs["embedding"] = embedding_file(wildcards.dataset, wildcards.model, wildcards.seed)
    if "finetune" in tasks:
        inputs["predictions"] = f"results/finetune/{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}.tsv.gz"
    if "gene_function" in tasks:
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


# NVIDIA devices of this machine: without one, "GPU" steps run on CPU, and counting them against the profile's
# gpu=1 would run every pretraining and scFM embedding one after another on one of the cores.
LOCAL_GPUS = local_gpu_count()


def gpu_resource(wildcards):
    """The model's `resources.gpu`; 0 for a local run on a machine without a GPU (cluster jobs keep it: GRES)."""
    gpus = SPECS[wildcards.model].resources.get("gpu", 0)
    return gpus if workflow.non_local_exec or LOCAL_GPUS else 0


def model_step_resources(mem_mb, runtime):
    """The resources of a model step (pretrain, embed, finetune): model.yaml's, else ``mem_mb`` (MB) and
    ``runtime`` (minutes); `attempt` tells its supervisor whether a retry follows."""
    return {
        "attempt": attempt_number,
        "gpu": gpu_resource,
        "mem_mb": model_resource("mem_mb", mem_mb, grow=True),
        "runtime": model_resource("runtime", runtime, grow=True),
    }


def model_step_params():
    """The params of a model step: the model's spec, its code (a rerun trigger) and its parameters (model.yaml,
    the chosen variant, then the config's `model_params.<model>`)."""
    return {
        "spec": lambda wildcards: SPECS[wildcards.model],
        "code": lambda wildcards: code_of_model(wildcards.model),
        "model_params": lambda wildcards: SPECS[wildcards.model].params_with(CONFIG["model_params"].get(wildcards.model)),
    }


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
            "params": dict(job.params.items()),
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


def start_warm_servers():
    """Warm servers for the rules this local run has jobs of (none for cluster jobs: each runs on its node)."""
    if not workflow.local_exec or workflow.remote_exec or workflow.subprocess_exec:
        return []
    rules = {job.rule.name for job in workflow.dag.needrun_jobs()}
    imports = {rule: modules for rule, modules in WARM_IMPORTS.items() if rule in rules}
    return start_servers(imports, Path("results/logs/warm"))
