"""The base class of the in-repo scFM plugins: pretrain on a corpus, embed from a checkpoint."""

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from benchmark.errors import NotApplicable
from benchmark.model import Model
from models.foundation.architectures import reinitialise
from models.foundation.checkpoint import load_checkpoint
from models.foundation.corpus import Corpus
from models.foundation.extract import embed_cells, gene_embeddings, tokenize_cells
from models.foundation.families import family_of
from models.foundation.finetune import FinetuneSettings, finetune_split
from models.foundation.pretrain import pretrain
from models.foundation.published import Published, load_published
from models.foundation.vocabulary import GeneMap, map_genes


class FoundationPlugin(Model):
    """Subclasses set ``family`` (a name registered in ``models/foundation/families.py``); pooling, layer
    and sizes come from model.yaml params."""

    family = ""

    @classmethod
    def pretrain(cls, corpus: Corpus, params: dict, seed: int, output_dir: str | Path, progress_dir: str | Path,
                 device: str = "cpu") -> dict:  # fmt: skip
        return pretrain(cls.family, corpus, params, seed, output_dir, progress_dir, device)

    def _load(self) -> Published:
        """A published checkpoint (``checkpoints.<id>`` settings) or our own pretrained folder. A random-init
        twin of a published scFM loads its architecture and vocabulary and replaces the weights by a seeded
        initialisation; an in-repo twin's folder already holds the initial weights (pretraining with no step)."""
        if isinstance(self.checkpoint, dict):
            published = load_published(self.checkpoint, self.device)
            if self.params.get("random_init"):
                reinitialise(published.model, self.seed)
                self.notes["random_init"] = {"seed": self.seed}
            return published
        if self.checkpoint is None:
            raise ValueError(f"{self.family}: no checkpoint was given (model.yaml `checkpoint`)")
        model, tokenizer, _ = load_checkpoint(self.checkpoint, self.device)
        return Published(model, tokenizer, self._params_extraction())

    def _extraction(self, published: Published) -> dict:
        """The published way to make a cell embedding, unless the config asks for model.yaml's."""
        if isinstance(self.checkpoint, dict) and self.checkpoint.get("extraction") == "model":
            return self._params_extraction()
        return published.extraction

    def _params_extraction(self) -> dict:
        return {k: self.params[k] for k in ("pooling", "layer", "normalize")}

    def _setup(self, adata: ad.AnnData) -> tuple[Published, GeneMap, dict]:
        """The loaded model, the dataset's genes mapped onto its vocabulary, and the extraction."""
        published = self._load()
        gene_map = map_genes(published.tokenizer.vocabulary, dataset_gene_ids(adata, published.gene_key), self.family)
        self.notes["gene_overlap"] = gene_map.report()
        extraction = self._extraction(published)
        self.notes["extraction"] = extraction
        return published, gene_map, extraction

    def embed(self, adata: ad.AnnData) -> np.ndarray:
        published, gene_map, extraction = self._setup(adata)
        own = "initialised in this run (no pretraining)" if self.params.get("random_init") else "pretrained in this run"
        self.notes["checkpoint"] = self.checkpoint if isinstance(self.checkpoint, dict) else own
        self.notes["origin"] = checkpoint_origin(self.checkpoint, self.family)
        return embed_cells(
            published.model, published.tokenizer, adata, gene_map, str(extraction["pooling"]),
            int(extraction["layer"]), int(self.params["embed_batch_size"]), self.seed, self.device,
            bool(extraction["normalize"]),
        )  # fmt: skip

    def finetune(self, adata: ad.AnnData, labels: np.ndarray, splits: list, settings: dict) -> pd.DataFrame:
        """Fine-tune on each split's training cells; the test cells' predictions, one row per cell."""
        published, gene_map, extraction = self._setup(adata)
        cells = tokenize_cells(published.tokenizer, adata, gene_map, np.arange(adata.n_obs), self.seed)
        classes, codes = np.unique(labels, return_inverse=True)
        options = FinetuneSettings.from_config(settings)
        rows, logs = [], []
        for split, (train, test) in enumerate(splits):
            predicted, log = finetune_split(published.model, published.tokenizer, cells, codes, train, test,
                                            extraction, options, self.seed + split, self.device)  # fmt: skip
            rows.append(pd.DataFrame({"cell": adata.obs_names[test], "split": split, "true": labels[test],
                                      "predicted": classes[predicted]}))  # fmt: skip
            logs.append({"split": split, "epochs_run": log["epochs_run"], "best_val_loss": log["best_val_loss"]})
        self.notes["finetune"] = {"settings": options.__dict__, "splits": logs}
        return pd.concat(rows, ignore_index=True)

    def gene_embeddings(self) -> tuple[list[str], np.ndarray]:
        published = self._load()
        return gene_embeddings(published.model, published.tokenizer)


def checkpoint_origin(checkpoint: str | Path | dict, family: str) -> dict:
    """How the model was obtained, for the report: a published checkpoint (its name and the sha256 of its
    weights) or our own pretraining (corpus cells, steps and minutes from the checkpoint's config.json)."""
    if isinstance(checkpoint, dict):
        from benchmark.checksums import sha256_file
        from models.foundation.published.files import CheckpointFiles

        name = checkpoint.get("name") or Path(str(checkpoint.get("path") or "")).name or checkpoint["format"]
        entry = (checkpoint.get("files") or {}).get("weights")
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if digest is None:
            files = CheckpointFiles(checkpoint, checkpoint.get("model", family))
            digest = sha256_file(files.find("weights", family_of(family).weight_files))
        return {"source": "published", "name": name, "format": checkpoint["format"], "sha256": digest}
    summary = json.loads((Path(checkpoint) / "config.json").read_text())
    seconds = summary.get("seconds")
    return {"source": "in-repo", "corpus_cells": summary.get("corpus_cells"), "steps": summary.get("steps"),
            "minutes": None if seconds is None else round(float(seconds) / 60, 2)}  # fmt: skip


def dataset_gene_ids(adata: ad.AnnData, gene_key: str) -> list[str]:
    """The dataset's gene symbols (var_names), or its Ensembl ids without version suffix."""
    if gene_key == "symbol":
        return list(adata.var_names)
    if gene_key == "symbol_upper":  # UCE matches upper-case symbols
        return [str(g).upper() for g in adata.var_names]
    if "gene_id" not in adata.var:
        raise NotApplicable(
            "this checkpoint's vocabulary holds Ensembl gene ids but the dataset has none; "
            "set `keys.gene_id` in its catalog entry"
        )
    return [str(g).split(".")[0] for g in adata.var["gene_id"]]
