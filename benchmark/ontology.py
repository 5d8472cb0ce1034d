"""The run's Cell Ontology: loaded from the configured source (downloaded once, checked), built once
(graph + DCA vectors), then read by every evaluate job."""

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist

from benchmark.checksums import sha256_file
from benchmark.config import section_settings
from benchmark.data.contract import labelled_mask
from benchmark.data.sources import resolve_cache_dir
from benchmark.download import download
from benchmark.errors import ConfigError
from benchmark.io import atomic_write
from metrics.cell_ontology import CellOntology, OntologyFileError, bundled_cell_ontology, read_cell_ontology
from metrics.lcad import LCAD

ONTOLOGY_COLUMN = "cell_type_ontology_term_id"
ROOT_TERMS = ("CL:0000000",)  # 'cell': the root of every CL release
KEY = "config key `ontology.source`"


def load_cell_ontology(settings: dict | None = None, cache_dir: Path | None = None) -> CellOntology:
    """CL from ``settings`` (the config's ``ontology`` section): ``source`` an .obo / CELLxGENE JSON path,
    an URL (downloaded once into ``cache_dir``/ontology) or null (the bundled release); ``sha256``
    optional; ``min_terms``. A truncated or foreign file is refused before it is used or cached."""
    settings = section_settings("ontology", settings)
    source, sha256 = settings["source"], settings["sha256"]
    include_part_of, min_terms = bool(settings["include_part_of"]), int(settings["min_terms"])
    if source is None:
        return _sane(bundled_cell_ontology(), min_terms, "the bundled release")
    if source.lower().startswith(("http://", "https://")):
        obo = not any(source.lower().endswith(s) for s in (".json", ".json.gz", ".json.zst"))

        def read(path: Path) -> CellOntology:
            return _sane(_read(path, include_part_of, obo), min_terms, source)

        cache = (cache_dir or resolve_cache_dir(None)) / "ontology"
        ontology = read(download(source, sha256, cache, KEY, check=read)[0])
        ontology.source = f"{'OBO' if obo else 'CELLxGENE JSON'} {source}"
        return ontology
    if sha256 and Path(source).is_file() and sha256_file(source) != sha256:
        raise ConfigError(
            f"{KEY}: {source} has sha256 {sha256_file(source)} but `ontology.sha256` is {sha256}; "
            "point `ontology.source` at the right file or update `ontology.sha256`"
        )
    return _sane(_read(Path(source), include_part_of, None), min_terms, source)


def _read(path: Path, include_part_of: bool, obo: bool | None) -> CellOntology:
    try:
        return read_cell_ontology(path, include_part_of, obo)
    except OntologyFileError as error:
        raise ConfigError(f"{KEY}: {error}; set it to a complete CL release (.obo or CELLxGENE .json(.gz/.zst)), "
                          "or to null for the bundled release") from error  # fmt: skip
    except (OSError, ValueError) as error:
        raise ConfigError(f"{KEY}: cannot read {path} ({error})") from error


def _sane(ontology: CellOntology, min_terms: int, source: str) -> CellOntology:
    """The ontology, unless it lacks CL's root term or has fewer than ``min_terms`` live terms."""
    missing = [t for t in ROOT_TERMS if t not in ontology.graph]
    if missing:
        raise ConfigError(f"{KEY}: {source} lacks CL's root term(s) {missing}; it is not a complete Cell Ontology")
    if len(ontology.names) < min_terms:
        raise ConfigError(
            f"{KEY}: {source} has only {len(ontology.names):,} live CL terms, fewer than `ontology.min_terms` "
            f"({min_terms:,}); the file is truncated or a subset: use a full release, or lower `ontology.min_terms`"
        )
    return ontology


def build_ontology(
    settings: dict, graph_path: str | Path, vectors_path: str | Path, cache_dir: Path | None = None
) -> CellOntology:
    """Load CL as configured, embed every term with RWR + DCA, and write both artefacts."""
    ontology = load_cell_ontology(settings, cache_dir)
    dims = int(section_settings("ontology", settings)["dca_dims"])
    nodes, vectors = term_vectors(ontology, dims, (cache_dir or resolve_cache_dir(None)) / "ontology")
    atomic_write(graph_path, lambda tmp: tmp.write_bytes(gzip.compress(json.dumps(ontology.to_json()).encode())))
    atomic_write(vectors_path, lambda tmp: np.savez_compressed(tmp.open("wb"), nodes=np.array(nodes), vectors=vectors))
    return ontology


def term_vectors(ontology: CellOntology, dims: int, cache: Path) -> tuple[list[str], np.ndarray]:
    """Every term's DCA vector (``metrics.scgraph.ontology_vectors``: seconds on CL, an eigendecomposition of
    a 3k x 3k matrix), computed once per graph: kept in ``cache`` under a key of the graph's terms and edges,
    ``dims``, the code that computes them and the versions of the libraries it calls."""
    import networkx
    import scipy

    from metrics import scgraph  # here: it imports scipy.stats (a second), for the ontology step only

    versions = [networkx.__version__, np.__version__, scipy.__version__]
    graph = json.dumps([sorted(ontology.graph.nodes), sorted(ontology.graph.edges()), dims, versions])
    key = hashlib.sha256(graph.encode() + Path(scgraph.__file__).read_bytes()).hexdigest()[:16]
    path = cache / f"dca_vectors-{key}.npz"
    if not path.exists():
        nodes, vectors = scgraph.ontology_vectors(ontology.graph, dims)
        atomic_write(path, lambda tmp: np.savez(tmp.open("wb"), nodes=np.array(nodes), vectors=vectors))
    with np.load(path) as saved:
        return saved["nodes"].astype(str).tolist(), saved["vectors"]


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
    terms = dataset.obs[ONTOLOGY_COLUMN].astype(str)[labelled_mask(dataset)].unique().tolist()
    not_cl = sorted(t for t in terms if not t.startswith("CL:"))
    if not_cl:
        return f"labels are not Cell Ontology ids: {not_cl[:10]}"
    return view.ontology.problems(terms)
