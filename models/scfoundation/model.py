"""scFoundation-style: auto-discretised continuous values, read-depth tokens, masked regression."""

from models.foundation.plugin import FoundationPlugin


class ScFoundation(FoundationPlugin):
    family = "scfoundation"
