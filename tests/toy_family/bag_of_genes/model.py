"""Bag of genes: a toy scFM (the set of a cell's top genes, masked-gene prediction, mean pooling)."""

from models.foundation.plugin import FoundationPlugin


class BagOfGenes(FoundationPlugin):
    family = "bag_of_genes"
