"""scCello: the published ontology-aligned BERT, loaded into the in-repo encoder."""

from models.foundation.plugin import FoundationPlugin
from models.geneformer.family import FAMILY as BERT  # its checkpoints are BERT models of the Geneformer family


class ScCello(FoundationPlugin):
    family = BERT.name
