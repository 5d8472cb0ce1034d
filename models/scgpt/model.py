"""scGPT: binned values, gene + value embeddings, masked value regression (in-repo implementation)."""

from models.foundation.plugin import FoundationPlugin


class ScGPT(FoundationPlugin):
    family = "scgpt"
