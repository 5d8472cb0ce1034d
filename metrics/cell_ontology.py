"""The Cell Ontology as a networkx DiGraph (edges parent -> child), from an OBO file or CELLxGENE's JSON.

Files (local; downloads and checks of a configured source are in ``benchmark/ontology.py``):
- ``.obo`` (read with obonet): ``is_a`` edges, optionally ``part_of`` too;
- a CELLxGENE ontology-guide JSON (``.json``, ``.json.gz`` or ``.json.zst``): parents at distance 1,
  which are ``is_a`` plus a few ``part_of`` links that the JSON does not tell apart;
- :func:`bundled_cell_ontology`: the CL release in the PyPI package ``cellxgene-ontology-guide`` (offline).

A file whose terms name parents it does not define (a truncated download) is refused.
"""

import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

CL_PREFIX = "CL:"
JSON_SUFFIXES = (".json", ".json.gz", ".json.zst")


class OntologyFileError(ValueError):
    """A file that is not a (complete) Cell Ontology."""


@dataclass
class CellOntology:
    """Live CL terms, their names, the obsolete ids, and the parent -> child graph."""

    graph: nx.DiGraph
    names: dict[str, str]
    obsolete: set[str] = field(default_factory=set)
    source: str = ""
    version: str = ""

    def check_terms(self, terms: list[str]) -> tuple[list[str], list[str], list[str]]:
        """Split ``terms`` into (known, obsolete, unknown) lists, each sorted."""
        unique = sorted(set(terms))
        obsolete = [t for t in unique if t in self.obsolete]
        unknown = [t for t in unique if t not in self.graph and t not in self.obsolete]
        known = [t for t in unique if t in self.graph]
        return known, obsolete, unknown

    def problems(self, terms: list[str]) -> str:
        """'' when every term is a live CL term, else a message listing the obsolete and unknown ones."""
        _, obsolete, unknown = self.check_terms(terms)
        parts = []
        if obsolete:
            parts.append(f"obsolete CL terms {obsolete} (replace them with their current terms)")
        if unknown:
            parts.append(f"ids not in {self.source} {self.version}: {unknown}")
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "version": self.version,
            "names": self.names,
            "obsolete": sorted(self.obsolete),
            "edges": sorted(self.graph.edges()),
        }

    @classmethod
    def from_json(cls, data: dict) -> "CellOntology":
        graph = nx.DiGraph()
        graph.add_nodes_from(data["names"])
        graph.add_edges_from(map(tuple, data["edges"]))
        return cls(graph, data["names"], set(data["obsolete"]), data["source"], data["version"])


def _refuse_undefined_parents(undefined: set[str], path: str | Path) -> None:
    if undefined:
        raise OntologyFileError(
            f"{path}: {len(undefined)} CL terms are named as parents but not defined (e.g. "
            f"{', '.join(sorted(undefined)[:5])}); the file is truncated or not a complete release"
        )


def _from_obo(path: str | Path, include_part_of: bool) -> CellOntology:
    import obonet

    relations = {"is_a", "part_of"} if include_part_of else {"is_a"}
    raw = obonet.read_obo(str(path), ignore_obsolete=False)
    _refuse_undefined_parents({t for t, data in raw.nodes(data=True) if t.startswith(CL_PREFIX) and not data}, path)
    names, obsolete = {}, set()
    for term, data in raw.nodes(data=True):
        if not term.startswith(CL_PREFIX):
            continue
        if str(data.get("is_obsolete", "false")).lower() == "true":
            obsolete.add(term)
        else:
            names[term] = data.get("name", term)
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    for child, parent, relation in raw.edges(keys=True):
        if relation in relations and child in names and parent in names:
            graph.add_edge(parent, child)
    version = str(raw.graph.get("data-version", ""))
    return CellOntology(graph, names, obsolete, f"OBO {path}", version)


def _from_cxg_json(data: dict, source: str, version: str) -> CellOntology:
    names = {t: v["label"] for t, v in data.items() if t.startswith(CL_PREFIX) and not v.get("deprecated")}
    obsolete = {t for t, v in data.items() if t.startswith(CL_PREFIX) and v.get("deprecated")}
    ancestors = {a for t in names for a in data[t].get("ancestors", {}) if a.startswith(CL_PREFIX)}
    _refuse_undefined_parents(ancestors - set(data), source)
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    for term in names:
        for ancestor, distance in data[term].get("ancestors", {}).items():
            if distance == 1 and ancestor in names:
                graph.add_edge(ancestor, term)
    return CellOntology(graph, names, obsolete, source, version)


def _read_json(path: Path) -> dict:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    elif path.suffix == ".zst":
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    return json.loads(raw)


def bundled_cell_ontology() -> CellOntology:
    """The CL release bundled in ``cellxgene-ontology-guide`` (no file, no network)."""
    from cellxgene_ontology_guide.supported_versions import CXGSchema

    schema = CXGSchema()
    terms = schema.ontology("CL")
    version = schema.supported_ontologies["CL"]["version"]
    return _from_cxg_json(terms, "cellxgene-ontology-guide (bundled CL)", version)


def read_cell_ontology(path: str | Path, include_part_of: bool = False, obo: bool | None = None) -> CellOntology:
    """CL from a local file: OBO, or CELLxGENE JSON (by suffix unless ``obo`` says which).

    Raises :class:`OntologyFileError` (or ``OSError``) for a file that is not a complete ontology.
    """
    path = Path(path)
    name = path.name.lower()
    is_json = any(name.endswith(s) for s in JSON_SUFFIXES)
    if obo is None and not is_json and not name.endswith(".obo"):
        raise OntologyFileError(f"{path} is neither an .obo file nor a CELLxGENE .json(.gz/.zst)")
    if obo or (obo is None and not is_json):
        return _from_obo(path, include_part_of)
    version = path.name.split("ontology-")[-1].split(".json")[0]
    return _from_cxg_json(_read_json(path), f"CELLxGENE JSON {path}", version)
