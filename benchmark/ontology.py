"""The run's Cell Ontology: built once (graph + DCA vectors), then read by every evaluate job."""

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist

from benchmark.io import atomic_write
from metrics.lcad import LCAD
from metrics.ontology import CellOntology, load_cell_ontology
from metrics.scgraph import DCA_DIMS, ontology_vectors

ONTOLOGY_COLUMN = "cell_type_ontology_term_id"


def build_ontology(settings: dict, graph_path: str | Path, vectors_path: str | Path) -> CellOntology:
    """Load CL as configured, embed every term with RWR + DCA, and write both artefacts."""
    ontology = load_cell_ontology(settings.get("source"), bool(settings.get("include_part_of", False)))
    nodes, vectors = ontology_vectors(ontology.graph, int(settings.get("dca_dims", DCA_DIMS)))
    atomic_write(graph_path, lambda tmp: tmp.write_bytes(gzip.compress(json.dumps(ontology.to_json()).encode())))
    atomic_write(vectors_path, lambda tmp: np.savez_compressed(tmp.open("wb"), nodes=np.array(nodes), vectors=vectors))
    return ontology


def read_ontology(graph_path: str | Path) -> CellOntology:
    return CellOntology.from_json(json.loads(gzip.decompress(Path(graph_path).read_bytes())))


@dataclass
class OntologyView:
    """What the ontology metrics need for one dataset: CL id per cell, distances and LCAD."""

    ontology: CellOntology
    vectors: pd.DataFrame  # DCA vector per term
    lcad: LCAD

    def distances(self, terms: list[str]) -> pd.DataFrame:
        block = self.vectors.loc[terms].to_numpy()
        return pd.DataFrame(cdist(block, block), index=terms, columns=terms)


def load_view(
    graph_path: str | Path, vectors_path: str | Path, lcad_method: str = "lowest", lcad_drop_zero: bool = False
) -> OntologyView:
    ontology = read_ontology(graph_path)
    with np.load(vectors_path) as saved:
        vectors = pd.DataFrame(saved["vectors"], index=saved["nodes"].astype(str))
    return OntologyView(ontology, vectors, LCAD(ontology.graph, lcad_method, lcad_drop_zero))


def ontology_problem(dataset: ad.AnnData, view: OntologyView | None) -> str:
    """'' when the dataset's labels are live CL terms of the run's ontology, else the reason they aren't."""
    if view is None:
        return "no Cell Ontology was configured for this run"
    if ONTOLOGY_COLUMN not in dataset.obs:
        return "the dataset has no Cell Ontology ids (catalog key `keys.ontology_id`)"
    terms = dataset.obs[ONTOLOGY_COLUMN].astype(str).unique().tolist()
    not_cl = sorted(t for t in terms if not t.startswith("CL:"))
    if not_cl:
        return f"labels are not Cell Ontology ids: {not_cl[:10]}"
    return view.ontology.problems(terms)
