"""Geneformer: rank-value encoding, BERT encoder, masked gene modelling (in-repo implementation)."""

from models.foundation.plugin import FoundationPlugin


class Geneformer(FoundationPlugin):
    family = "geneformer"
