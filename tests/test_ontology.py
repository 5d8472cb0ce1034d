import gzip
import json

import networkx as nx
import numpy as np
import pytest

from benchmark.checksums import sha256_file
from benchmark.config import read_yaml
from benchmark.errors import ConfigError
from benchmark.ontology import (
    OntologyView,
    build_ontology,
    load_cell_ontology,
    load_view,
    ontology_problem,
    read_ontology,
    term_vectors,
)
from benchmark.paths import REPO_ROOT
from metrics.cell_ontology import OntologyFileError, bundled_cell_ontology, read_cell_ontology
from metrics.lcad import LCAD
from metrics.scgraph import ontology_vectors
from tests.conftest import _bundled_ontology

CL_2026 = "cell-ontology/cl-simple_v2026-03-26.obo"


def test_obo_is_a_graph(data_dir):
    ontology = read_cell_ontology(data_dir / CL_2026)
    assert ontology.version == "cl/releases/2026-03-26/cl-simple.owl"
    assert ontology.graph.number_of_nodes() == 3324 and ontology.graph.number_of_edges() == 4630
    assert nx.is_directed_acyclic_graph(ontology.graph)
    assert ontology.graph.has_edge("CL:0000576", "CL:0000860")  # monocyte -> classical monocyte (parent -> child)
    assert ontology.names["CL:0000084"] == "T cell"


TINY_OBO = """format-version: 1.2
data-version: tiny/2026

[Term]
id: CL:0000000
name: cell

[Term]
id: CL:0000001
name: child
is_a: CL:0000000

[Term]
id: CL:0000002
name: part
relationship: part_of CL:0000001

[Term]
id: CL:0000003
name: retired
is_obsolete: true
"""


def test_part_of_edges_are_optional_and_obsolete_terms_known(tmp_path):
    path = tmp_path / "tiny.obo"
    path.write_text(TINY_OBO)
    is_a, with_part_of = read_cell_ontology(path), read_cell_ontology(path, include_part_of=True)
    assert set(is_a.graph.edges()) == {("CL:0000000", "CL:0000001")}
    assert set(with_part_of.graph.edges()) == {("CL:0000000", "CL:0000001"), ("CL:0000001", "CL:0000002")}
    assert is_a.obsolete == {"CL:0000003"} and "CL:0000003" not in is_a.graph and is_a.version == "tiny/2026"


def test_cellxgene_json_matches_obo_plus_part_of(data_dir):
    folder = data_dir / "cell-ontology"
    obo = read_cell_ontology(folder / "cl-simple_v2026-03-26.obo")
    cxg = read_cell_ontology(folder / "cellxgene-ontology-guide_CL-ontology-v2026-03-26.json.gz")
    assert cxg.version == "v2026-03-26" and set(cxg.graph) == set(obo.graph)
    assert len(set(cxg.graph.edges()) - set(obo.graph.edges())) == 3  # the JSON's part_of parents


def test_bundled_release_is_the_offline_default():
    ontology = _bundled_ontology()
    assert ontology.source == "cellxgene-ontology-guide (bundled CL)" and ontology.version.startswith("v20")
    assert "CL:0000236" in ontology.graph and len(ontology.obsolete) > 0


def test_obsolete_and_unknown_terms_are_listed():
    ontology = _bundled_ontology()
    obsolete = sorted(ontology.obsolete)[0]
    known, old, unknown = ontology.check_terms(["CL:0000236", obsolete, "CL:9999999"])
    assert (known, old, unknown) == (["CL:0000236"], [obsolete], ["CL:9999999"])
    message = ontology.problems(["CL:0000236", obsolete, "CL:9999999"])
    assert f"obsolete CL terms ['{obsolete}'] (replace them with their current terms)" in message
    assert "ids not in cellxgene-ontology-guide (bundled CL)" in message and "['CL:9999999']" in message


def test_unreadable_source_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config key `ontology.source`: .*neither an .obo"):
        load_cell_ontology({"source": str(tmp_path / "cl.txt")})
    broken = tmp_path / "cl.json.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(ConfigError, match="config key `ontology.source`: cannot read"):
        load_cell_ontology({"source": str(broken)})


# Terms in id order, as releases write them; CL:0000004's parent comes last, so a cut file loses it.
LATE_PARENT_OBO = (
    TINY_OBO
    + """
[Term]
id: CL:0000004
name: late child
is_a: CL:0000005

[Term]
id: CL:0000005
name: late parent
is_a: CL:0000000
"""
)


def test_a_cut_obo_naming_parents_it_lacks_is_refused(tmp_path):
    full, cut = tmp_path / "full.obo", tmp_path / "cut.obo"
    full.write_text(LATE_PARENT_OBO)
    cut.write_text(LATE_PARENT_OBO.split("[Term]\nid: CL:0000005")[0])
    assert set(read_cell_ontology(full).graph) == {f"CL:000000{i}" for i in (0, 1, 2, 4, 5)}
    with pytest.raises(OntologyFileError, match=r"1 CL terms are named as parents but not defined \(e.g. CL:0000005\)"):
        read_cell_ontology(cut)
    with pytest.raises(ConfigError, match="config key `ontology.source`: .*cut.obo: 1 CL terms .*truncated"):
        load_cell_ontology({"source": str(cut), "min_terms": 1})


def test_the_issues_truncated_release_is_refused(data_dir, tmp_path):
    """CL 2026-03-26 cut after 1,849 of its term stanzas (the case that used to pass with the full version string)."""
    text = (data_dir / CL_2026).read_text()
    stanzas = text.split("\n[Term]\n")
    cut = tmp_path / "cl-simple.obo"
    cut.write_text("\n[Term]\n".join(stanzas[:1850]))
    with pytest.raises(ConfigError, match=r"cl-simple.obo: 150 CL terms are named as parents but not defined"):
        load_cell_ontology({"source": str(cut)})
    assert len(load_cell_ontology({"source": str(data_dir / CL_2026)}).names) == 3324


def test_too_few_terms_or_no_root_is_refused(tmp_path):
    path = tmp_path / "tiny.obo"
    path.write_text(TINY_OBO)
    with pytest.raises(ConfigError, match=r"has only 3 live CL terms, fewer than `ontology.min_terms` \(2,000\)"):
        load_cell_ontology({"source": str(path)})
    assert len(load_cell_ontology({"source": str(path), "min_terms": 3}).names) == 3
    path.write_text("format-version: 1.2\n\n[Term]\nid: CL:0000001\nname: orphan\n")
    with pytest.raises(ConfigError, match=r"lacks CL's root term\(s\) \['CL:0000000'\]"):
        load_cell_ontology({"source": str(path), "min_terms": 1})


def test_a_local_source_is_checked_against_its_sha256(tmp_path):
    path = tmp_path / "tiny.obo"
    path.write_text(TINY_OBO)
    settings = {"source": str(path), "min_terms": 1}
    assert load_cell_ontology({**settings, "sha256": sha256_file(path)}).version == "tiny/2026"
    with pytest.raises(ConfigError, match=f"has sha256 {sha256_file(path)} but `ontology.sha256` is f{{64}}"):
        load_cell_ontology({**settings, "sha256": "f" * 64})


def test_an_ontology_url_is_cached_and_a_cut_one_never_is(http_server, tmp_path):
    base, root, requests = http_server
    (root / "cl.obo").write_text(LATE_PARENT_OBO.split("[Term]\nid: CL:0000005")[0])  # the server holds a cut file
    settings, cache = {"source": f"{base}/cl.obo", "min_terms": 1}, tmp_path / "cache"
    with pytest.raises(ConfigError, match=r"`ontology.source`: the file downloaded from .*/cl.obo is not usable"):
        load_cell_ontology(settings, cache)
    assert [p for p in cache.rglob("*") if p.is_file()] == []
    (root / "cl.obo").write_text(LATE_PARENT_OBO)
    with pytest.warns(UserWarning, match="recorded [0-9a-f]{64}"):
        first = load_cell_ontology(settings, cache)
    again = load_cell_ontology(settings, cache)
    assert first.source == again.source == f"OBO {base}/cl.obo" and len(again.names) == 5
    assert requests == ["/cl.obo", "/cl.obo"]  # the cut file once, the full one once, then the cache
    with pytest.raises(ConfigError, match="config key `ontology.source`: download of .*expected 0{64}"):
        load_cell_ontology({**settings, "sha256": "0" * 64}, cache)


def test_artefacts_round_trip(tmp_path, data_dir):
    source = str(data_dir / "cell-ontology" / "cl-basic_v2022-12-15.obo")
    built = build_ontology({"source": source, "dca_dims": 8}, tmp_path / "g.json.gz", tmp_path / "v.npz", tmp_path)
    back = read_ontology(tmp_path / "g.json.gz")
    assert set(back.graph.edges()) == set(built.graph.edges()) and back.version == built.version
    view = load_view(tmp_path / "g.json.gz", tmp_path / "v.npz")
    assert view.vectors.shape == (built.graph.number_of_nodes(), 8)
    distances = view.distances(["CL:0000236", "CL:0000084", "CL:0000624"])
    assert distances.loc["CL:0000084", "CL:0000624"] < distances.loc["CL:0000236", "CL:0000624"]
    assert json.loads(gzip.decompress((tmp_path / "g.json.gz").read_bytes()))["source"].startswith("OBO ")


def test_term_vectors_are_computed_once_per_graph(tmp_path, data_dir):
    """Cached vectors are those of ``ontology_vectors``, on any BLAS thread count (CL's symmetric branches give
    repeated eigenvalues: without one thread inside the DCA, two threads moved some vectors by up to 3.2)."""
    from threadpoolctl import threadpool_limits

    ontology = read_cell_ontology(data_dir / "cell-ontology" / "cl-basic_v2022-12-15.obo")
    with threadpool_limits(2):
        nodes, vectors = term_vectors(ontology, 8, tmp_path)
    with threadpool_limits(1):
        expected_nodes, expected = ontology_vectors(ontology.graph, 8)
    assert nodes == expected_nodes and vectors.tobytes() == expected.tobytes()
    (cached,) = tmp_path.glob("dca_vectors-*.npz")
    with np.load(cached) as saved:  # a changed cached file is what comes back: nothing is recomputed
        np.savez(cached, nodes=saved["nodes"], vectors=saved["vectors"] + 1.0)
    assert np.array_equal(term_vectors(ontology, 8, tmp_path)[1], expected + 1.0)
    ontology.graph = nx.DiGraph(ontology.graph.subgraph(nx.ancestors(ontology.graph, "CL:0000236") | {"CL:0000236"}))
    term_vectors(ontology, 8, tmp_path)  # another graph (B cell and its ancestors), other dims: other entries
    term_vectors(ontology, 9, tmp_path)
    assert len(list(tmp_path.glob("dca_vectors-*.npz"))) == 3


def test_dataset_problems(sim, pbmc68k, sim_ontology):
    assert ontology_problem(sim, sim_ontology) == ""
    assert ontology_problem(sim, None) == "no Cell Ontology was configured for this run"
    assert (
        ontology_problem(pbmc68k, sim_ontology)
        == "the dataset has no Cell Ontology ids (catalog key `keys.ontology_id`)"
    )
    sim.obs["cell_type_ontology_term_id"] = sim.obs["cell_type"]
    assert ontology_problem(sim, sim_ontology).startswith("labels are not Cell Ontology ids: ['CD4-positive")
    view = OntologyView(sim_ontology.ontology, sim_ontology.vectors, LCAD(sim_ontology.ontology.graph))
    sim.obs["cell_type_ontology_term_id"] = "CL:0000540"  # neuron: not in the small immune view
    assert "ids not in" in ontology_problem(sim, view) and "['CL:0000540']" in ontology_problem(sim, view)


def test_catalog_label_to_cl_maps_use_live_terms_of_the_bundled_release():
    """The CL ids the catalog assigns to labels (published datasets without CL ids) all exist."""
    catalog = read_yaml(REPO_ROOT / "config" / "datasets.yaml")
    ontology = bundled_cell_ontology()
    mapped = {d: e["label_ontology_ids"] for d, e in catalog.items() if "label_ontology_ids" in e}
    assert {"pancreas_scib", "immune_scib"} <= set(mapped)
    for dataset, mapping in mapped.items():
        assert ontology.problems(list(mapping.values())) == "", dataset
    assert ontology.names[mapped["pancreas_scib"]["beta"]] == "type B pancreatic cell"
