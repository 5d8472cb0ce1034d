"""LangCell: the published cell encoder and projection, loaded into the in-repo BERT."""

from models.foundation.plugin import FoundationPlugin


class LangCell(FoundationPlugin):
    family = "geneformer"
