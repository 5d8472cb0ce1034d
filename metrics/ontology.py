"""The Cell Ontology as a networkx DiGraph (edges parent -> child), from an OBO file or CELLxGENE's JSON.

Sources:
- an ``.obo`` path or URL (read with obonet): ``is_a`` edges, optionally ``part_of`` too;
- a CELLxGENE ontology-guide JSON (``.json``, ``.json.gz`` or ``.json.zst``): parents at distance 1,
  which are ``is_a`` plus a few ``part_of`` links that the JSON does not tell apart;
- ``None``: the CL release bundled in the PyPI package ``cellxgene-ontology-guide`` (offline).
"""

import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from benchmark.errors import ConfigError

CL_PREFIX = "CL:"


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


def _from_obo(path: str, include_part_of: bool) -> CellOntology:
    import obonet

    relations = {"is_a", "part_of"} if include_part_of else {"is_a"}
    raw = obonet.read_obo(path, ignore_obsolete=False)
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


def _bundled() -> CellOntology:
    from cellxgene_ontology_guide.supported_versions import CXGSchema

    schema = CXGSchema()
    terms = schema.ontology("CL")
    version = schema.supported_ontologies["CL"]["version"]
    return _from_cxg_json(terms, "cellxgene-ontology-guide (bundled CL)", version)


def load_cell_ontology(source: str | None = None, include_part_of: bool = False) -> CellOntology:
    """Load CL from ``source`` (see the module docstring); errors name the source and the fix."""
    if source is None:
        return _bundled()
    name = source.lower()
    try:
        if name.endswith(".obo") or name.startswith(("http://", "https://")):
            return _from_obo(source, include_part_of)
        if any(name.endswith(s) for s in (".json", ".json.gz", ".json.zst")):
            path = Path(source)
            version = path.name.split("ontology-")[-1].split(".json")[0]
            return _from_cxg_json(_read_json(path), f"CELLxGENE JSON {path}", version)
    except (OSError, ValueError) as error:
        raise ConfigError(f"config key `ontology.source`: cannot read {source} ({error})") from error
    raise ConfigError(
        f"config key `ontology.source`: {source} is neither an .obo file/URL nor a CELLxGENE .json(.gz/.zst); "
        "set it to one of these or to null for the bundled release"
    )
