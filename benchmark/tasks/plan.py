"""Which (dataset, model) embeddings and (dataset, task, model) jobs exist.

Each task declares the datasets and models it applies to, and each model's ``needs`` (model.yaml) are
checked against the catalog facts known before anything runs (no counts, one batch, no labels, no
Cell Ontology ids, another organism), so only jobs that can run are scheduled. The others still reach
the report as *not applicable*, with the reason (``unscheduled``). Problems found in the data itself
(e.g. a declared batch column with one value) still give not-applicable rows at run time.
"""

from benchmark.registry import ModelSpec


def task_applies(task: str, entry: dict, spec: ModelSpec) -> bool:
    keys = entry.get("keys", {})
    if entry.get("only_tasks") is not None and task not in entry["only_tasks"]:  # the catalog restricts the tasks
        return False
    if task == "cancer":  # datasets with a malignant flag and tumour/patient groups; every embedding
        return bool(keys.get("malignant") and keys.get("group"))
    if task == "drug":  # datasets with drug responses and cell-line groups (or per-cell labels); every embedding
        drug = entry.get("drug_response") or {}
        return bool(drug and (keys.get("group") or drug.get("protocol") == "within_line"))
    if task == "perturbation":  # datasets with a condition (control vs perturbed) and cell types; every embedding
        return bool(keys.get("condition") and keys.get("label"))
    if task == "gene_function":  # models that export gene embeddings; any dataset (its genes are scored)
        return "gene_embed" in spec.capabilities
    if task == "finetune":  # models that can be fine-tuned; labelled datasets
        return "finetune" in spec.capabilities and bool(keys.get("label"))
    return True  # integration, annotation: every dataset and embedding


def single_batch(entry: dict) -> bool:
    """The catalog declares no batch column, or a simulation with one batch."""
    keys = entry.get("keys", {})
    simulated_batches = entry.get("params", {}).get("n_batches") if entry.get("source") == "builtin" else None
    return not keys.get("batch") or simulated_batches == 1


def unmet_need(entry: dict, spec: ModelSpec, dataset: str) -> str:
    """Why the model cannot run on the dataset, from the catalog alone ('' when it may run)."""
    needs, keys = spec.needs, entry.get("keys", {})
    if needs.get("counts") and not entry.get("counts", True):
        return f"{spec.name} needs raw counts; dataset '{dataset}' has log-normalised values (catalog `counts: false`)"
    if needs.get("batches") and single_batch(entry):
        return f"{spec.name} corrects batches; dataset '{dataset}' has a single batch (catalog `keys.batch`)"
    if needs.get("labels") and not keys.get("label"):
        return f"{spec.name} needs cell-type labels; dataset '{dataset}' has none (catalog `keys.label`)"
    if needs.get("ontology") and not (keys.get("ontology_id") or entry.get("label_ontology_ids")):
        return (f"{spec.name} needs Cell Ontology labels: dataset '{dataset}' has no Cell Ontology ids "
                "(catalog `keys.ontology_id`)")  # fmt: skip
    organisms = needs.get("organism")
    if organisms and entry.get("organism") and entry["organism"] not in organisms:
        return f"{spec.name} supports {organisms}; dataset '{dataset}' is {entry['organism']}"
    return ""


def unscheduled(datasets: list[str], models: list[str], tasks: list[str], catalog: dict,
                specs: dict[str, ModelSpec]) -> list[dict]:  # fmt: skip
    """The (dataset, model) pairs left out of the plan: reason and the tasks they would have had."""
    rows = []
    for dataset in datasets:
        for model in models:
            reason = unmet_need(catalog[dataset], specs[model], dataset)
            if reason:
                applying = [t for t in tasks if task_applies(t, catalog[dataset], specs[model])]
                rows.append({"dataset": dataset, "model": model, "reason": reason, "tasks": applying})
    return rows
