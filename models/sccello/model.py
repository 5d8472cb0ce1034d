"""scCello: the published ontology-aligned BERT, loaded into the in-repo encoder."""

from models.foundation.plugin import FoundationPlugin


class ScCello(FoundationPlugin):
    family = "geneformer"
