"""Which (dataset, task, model) jobs exist: each task declares the datasets and models it applies to,
so only valid combinations are built (data problems found later still give not-applicable rows)."""

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
