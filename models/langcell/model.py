"""LangCell: the published cell encoder and projection, loaded into the in-repo BERT."""

from models.foundation.plugin import FoundationPlugin
from models.geneformer.family import FAMILY as BERT  # its checkpoints are BERT models of the Geneformer family


class LangCell(FoundationPlugin):
    family = BERT.name
