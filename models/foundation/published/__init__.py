"""Load the official published scFM checkpoints into the in-repo models (no original packages needed).

``load_published(settings)`` reads a ``checkpoints.<model>`` entry of the config (see README,
"Benchmark the published models") and returns the model, its tokenizer and the published way to
extract a cell embedding. Key maps are explicit and strict: missing or unexpected keys are an error
that lists them. Only scFoundation's pickled ``models.ckpt`` needs ``weights_only=False``, allowed
only with ``trusted: true``.
"""

from dataclasses import dataclass

from models.foundation.architectures import FoundationModel
from models.foundation.tokenizers import Tokenizer


@dataclass
class Published:
    model: FoundationModel
    tokenizer: Tokenizer
    extraction: dict  # pooling, layer, normalize: how the published code makes a cell embedding
    gene_key: str = "symbol"  # which gene identifiers the vocabulary holds: "symbol" or "ensembl"


def load_published(settings: dict, device: str = "cpu") -> Published:
    from models.foundation.published import bert_family, scfoundation, scgpt, uce

    loaders = {
        "geneformer": bert_family.load_geneformer,
        "langcell": bert_family.load_langcell,
        "sccello": bert_family.load_sccello,
        "scgpt": scgpt.load_scgpt,
        "scfoundation": scfoundation.load_scfoundation,
        "uce": uce.load_uce,
    }
    published = loaders[settings["format"]](settings)
    published.model.to(device).eval()
    return published
