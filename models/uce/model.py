"""UCE: the published model and token table, loaded into the in-repo encoder."""

from models.foundation.plugin import FoundationPlugin


class Uce(FoundationPlugin):
    family = "uce"
