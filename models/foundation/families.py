"""The registry of in-repo scFM families: family name -> the module holding its ``FAMILY`` object.

Adding a family is one folder (``models/<name>/`` with model.yaml, model.py and family.py) plus one line
here. Modules are imported on first use, so a job imports only the family it runs.
"""

import importlib
from functools import cache
from pathlib import Path

from models.foundation.family import Family

FAMILIES = {
    "geneformer": "models.geneformer.family",
    "scgpt": "models.scgpt.family",
    "scbert": "models.scbert.family",
    "scfoundation": "models.scfoundation.family",
    "uce": "models.uce.family",
}


@cache
def family_of(name: str) -> Family:
    """The family registered as ``name``."""
    if name not in FAMILIES:
        raise ValueError(
            f"unknown scFM family {name!r}: {Path(__file__)} registers {sorted(FAMILIES)}; add a line "
            f'"{name}": "models.{name}.family" there for a family module that defines FAMILY'
        )
    return importlib.import_module(FAMILIES[name]).FAMILY
