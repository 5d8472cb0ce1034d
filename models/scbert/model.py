"""scBERT-style: expression-bin tokens over the whole gene panel, gene-position embedding, bin MLM."""

from models.foundation.plugin import FoundationPlugin


class ScBERT(FoundationPlugin):
    family = "scbert"
