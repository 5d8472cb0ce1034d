"""The base class of the in-repo scFM plugins: pretrain on a corpus, embed from a checkpoint."""

from pathlib import Path

import anndata as ad
import numpy as np

from benchmark.model import Model
from models.foundation.checkpoint import load_checkpoint
from models.foundation.corpus import Corpus
from models.foundation.extract import embed_cells, gene_embeddings
from models.foundation.pretrain import pretrain
from models.foundation.vocabulary import map_genes


class FoundationPlugin(Model):
    """Subclasses set ``family``; pooling, layer and sizes come from model.yaml params."""

    family = ""

    @classmethod
    def pretrain(cls, corpus: Corpus, params: dict, seed: int, output_dir: str | Path, progress_dir: str | Path,
                 device: str = "cpu") -> dict:  # fmt: skip
        return pretrain(cls.family, corpus, params, seed, output_dir, progress_dir, device)

    def _load(self):
        if self.checkpoint is None:
            raise ValueError(f"{self.family}: no checkpoint was given (model.yaml `checkpoint`)")
        return load_checkpoint(self.checkpoint, self.device)

    def embed(self, adata: ad.AnnData) -> np.ndarray:
        model, tokenizer, _ = self._load()
        gene_map = map_genes(tokenizer.vocabulary, list(adata.var_names), self.family)
        self.notes["gene_overlap"] = gene_map.report()
        return embed_cells(
            model, tokenizer, adata, gene_map, str(self.params["pooling"]), int(self.params["layer"]),
            int(self.params["embed_batch_size"]), self.seed, self.device, bool(self.params["normalize"]),
        )  # fmt: skip

    def gene_embeddings(self) -> tuple[list[str], np.ndarray]:
        model, tokenizer, _ = self._load()
        return gene_embeddings(model, tokenizer)
