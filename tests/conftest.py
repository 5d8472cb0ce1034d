"""Shared fixtures: tiny seeded datasets (cached, returned as copies), the shared data folder, the golden
fixtures of the published models, and the two shared end-to-end runs: the CI test config (read by the
workflow tests) and a mini config (the reference of the reliability and SLURM tests), each run once per session."""

import os

# One thread per library in the test process, as Snakemake gives each job (OMP_NUM_THREADS = its `threads`):
# on shared cores, PyTorch's and BLAS's spinning worker threads made small training steps 10-20x slower.
# Set before NumPy and PyTorch are imported; a test that needs more sets it itself.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import functools
import http.server
import importlib
import subprocess
import sys
import threading
import time
from functools import cache
from pathlib import Path

import anndata as ad
import pytest
import yaml

from benchmark.data.prepare import prepare_dataset
from benchmark.paths import REPO_ROOT

SIM_ENTRY = {
    "source": "builtin",
    "builtin": "simulated_immune",
    "description": "tiny simulation",
    "params": {"n_cells": 300, "n_batches": 3, "seed": 3},
    "counts": True,
    "keys": {"batch": "batch", "label": "cell_type", "ontology_id": "cell_type_ontology_term_id"},
}
PBMC68K_ENTRY = {
    "source": "builtin",
    "builtin": "pbmc68k_reduced",
    "description": "bundled",
    "counts": False,
    "keys": {"batch": None, "label": "bulk_labels"},
}
QC = {"min_genes": 5, "min_cells": 1}


def shared_dir(variable: str, folder: str, marker: str) -> Path | None:
    """$``variable``, else ../shared/``folder`` beside the checkout, else None (a candidate counts only
    if it holds ``marker``)."""
    for candidate in (os.environ.get(variable), REPO_ROOT.parent / "shared" / folder):
        if candidate and Path(candidate, marker).exists():
            return Path(candidate).resolve()
    return None


# The session fixtures that run Snakemake end to end: under pytest-xdist (pyproject: `-n 2 --dist loadgroup`) the
# tests of each share one worker, so that each run happens once; they are scheduled first (the longest chains).
SHARED_RUNS = ("test_config_run", "mini_run")


def xdist_group(item: pytest.Item) -> str | None:
    """The worker group of a test: its `xdist_group` mark, else the shared run it reads, else its module when it
    uses a module-scoped fixture of the tests (computed once per worker: the module's tests that use one stay
    together), else none."""
    marks = item.iter_markers("xdist_group")
    names = sorted(str(mark.args[0] if mark.args else mark.kwargs.get("name", "default")) for mark in marks)
    if names:
        return "_".join(names)
    for name in SHARED_RUNS:
        if name in item.fixturenames:
            return name
    for definitions in item._fixtureinfo.name2fixturedefs.values():
        if definitions[-1].scope == "module" and definitions[-1].baseid.endswith(".py"):
            return item.module.__name__
    return None


def schedule_rank(item: pytest.Item, group: str | None) -> int:
    """Longest first, so that no long run starts last: the shared runs, the other workflow and SLURM tests,
    the browser tests, the tests sharing a module fixture, then the rest (collection order within each)."""
    if group in SHARED_RUNS:
        return SHARED_RUNS.index(group)
    if item.get_closest_marker("workflow") or item.get_closest_marker("slurm"):
        return 2
    if item.get_closest_marker("browser"):
        return 3
    return 4 if group else 5


@pytest.hookimpl(trylast=True)  # after xdist's own hook
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group and order the tests. On an xdist worker, a group is a `@group` suffix of the test's id, which the
    controller's loadgroup scheduler reads; xdist 3.8.0 writes it where pytest 9.2 no longer looks (pytest-xdist
    issue 1386), so it is written here into the structured id, as the fix proposed upstream does."""
    on_worker = hasattr(config, "workerinput") and config.getvalue("loadgroup")
    ranks = {}
    for item in items:
        group = xdist_group(item)
        if group and on_worker and not item.nodeid.endswith(f"@{group}"):
            item._id = type(item.id).parse(f"{item.nodeid}@{group}")
            if not item.nodeid.endswith(f"@{group}"):
                raise pytest.UsageError(f"cannot give {item.nodeid} its xdist group {group}: check pytest-xdist")
        ranks[item.nodeid] = schedule_rank(item, group)
    items.sort(key=lambda item: ranks[item.nodeid])  # stable: collection order within a rank


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Each test starts on one PyTorch thread, as the OMP setting above intends: a test that raises torch's
    thread count process-wide (the encoder speed script's ``--threads``) would slow every later test on its worker."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    yield


@pytest.fixture
def data_dir() -> Path:
    """The shared real data; a skip locally when absent, an error when SCFM_REQUIRE_DATA=1 (CI)."""
    found = shared_dir("SCFM_DATA_DIR", "data", "MANIFEST.sha256")
    if found is None:
        if os.environ.get("SCFM_REQUIRE_DATA") == "1":
            pytest.fail("SCFM_REQUIRE_DATA=1 but no shared data folder: set SCFM_DATA_DIR")
        pytest.skip("shared data folder not found (set SCFM_DATA_DIR)")
    return found


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """The published models' golden fixtures (outputs of the original code); a skip locally when absent,
    an error when SCFM_REQUIRE_GOLDEN=1 (CI)."""
    found = shared_dir("SCFM_GOLDEN_DIR", "golden", "README.md")
    if found is None:
        if os.environ.get("SCFM_REQUIRE_GOLDEN") == "1":
            pytest.fail("SCFM_REQUIRE_GOLDEN=1 but no golden fixtures folder: set SCFM_GOLDEN_DIR")
        pytest.skip("golden fixtures folder not found (set SCFM_GOLDEN_DIR)")
    return found


def import_or_skip(module: str, switch: str):
    """``module``, imported; when it is missing a skip locally, an error when the ``switch`` variable is 1 (CI)."""
    if os.environ.get(switch) == "1":
        try:
            return importlib.import_module(module)
        except ImportError as error:
            pytest.fail(f"{switch}=1 but {module} cannot be imported ({error}); pip install -e '.[test]'")
    return pytest.importorskip(module)


@cache
def _prepared(name: str) -> ad.AnnData:
    entry = {"sim": SIM_ENTRY, "pbmc68k": PBMC68K_ENTRY}[name]
    return prepare_dataset(name, entry, None, Path("/nonexistent"), QC, seed=0)


@pytest.fixture
def sim() -> ad.AnnData:
    """A prepared 300-cell simulated dataset (3 batches, counts, CL ids)."""
    return _prepared("sim").copy()


@pytest.fixture
def pbmc68k() -> ad.AnnData:
    """scanpy's pbmc68k_reduced prepared: log-normalised, one batch."""
    return _prepared("pbmc68k").copy()


@cache
def _bundled_ontology():
    from metrics.cell_ontology import bundled_cell_ontology

    return bundled_cell_ontology()


def small_ontology_view(terms: list[str]):
    """An OntologyView on the bundled CL restricted to ``terms`` and their ancestors (fast DCA)."""
    import networkx as nx
    import pandas as pd

    from benchmark.ontology import OntologyView
    from metrics.cell_ontology import CellOntology
    from metrics.lcad import LCAD
    from metrics.scgraph import ontology_vectors

    full = _bundled_ontology()
    nodes = set(terms).union(*(nx.ancestors(full.graph, t) for t in terms))
    graph = nx.DiGraph(full.graph.subgraph(nodes))
    order, vectors = ontology_vectors(graph, dims=16)
    names = {n: full.names[n] for n in graph}
    return OntologyView(
        CellOntology(graph, names, set(), full.source, full.version), pd.DataFrame(vectors, index=order), LCAD(graph)
    )


@pytest.fixture
def sim_ontology(sim):
    """A small ontology view covering the simulated dataset's cell types."""
    return small_ontology_view(sorted(sim.obs["cell_type_ontology_term_id"].unique()))


HTML_PAGE = b"<!DOCTYPE html><html><body>Please sign in to download this file</body></html>"


@pytest.fixture
def http_faults() -> dict[str, str]:
    """URL path -> how :func:`http_server` misbehaves for it: ``truncate`` (half the body, full
    Content-Length), ``truncate_no_length`` (half the body, no Content-Length), ``html`` (a sign-in page
    as text/html), ``html_as_file`` (the page as application/octet-stream), ``404``, ``trickle`` (a few
    bytes every 50 ms), ``500_once`` (one HTTP 500, then the file). Delete an entry to serve normally."""
    return {}


@pytest.fixture
def http_server(tmp_path, http_faults):
    """A loopback HTTP server serving tmp_path/www; yields (base URL, folder, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def log_request(self, *args):  # once per request, errors included
            requests.append(self.path)

        def do_GET(self):  # noqa: N802 - the http.server API
            fault = http_faults.get(self.path)
            if fault is None:
                return super().do_GET()
            if fault == "500_once":
                del http_faults[self.path]
                return self.send_error(500)
            if fault == "404":
                return self.send_error(404)
            html = fault.startswith("html")
            body = HTML_PAGE if html else (root / self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if fault == "html" else "application/octet-stream")
            if fault != "truncate_no_length":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.close_connection = True
            try:
                if fault == "trickle":
                    for start in range(0, len(body), 10):
                        self.wfile.write(body[start : start + 10])
                        self.wfile.flush()
                        time.sleep(0.05)
                else:
                    self.wfile.write(body if html else body[: len(body) // 2])
            except (BrokenPipeError, ConnectionResetError):  # the client gave up: as it should
                pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root, requests
    server.shutdown()


def snakemake(
    workdir: Path, configfile: Path, *args: str, env: dict | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """Run the workflow in ``workdir`` (2 cores); fail with the end of its log unless it succeeds."""
    command = [
        str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO_ROOT / "workflow" / "Snakefile"),
        "--directory", str(workdir), "--cores", "2", "--configfile", str(configfile), *args,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    assert result.returncode == 0, result.stderr[-5000:]
    return result


@pytest.fixture(scope="session")
def test_config_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """config/test.yaml run locally once (minutes): its working directory and the Snakemake call.
    Tests read it and may rerun it (nothing to do), never change it."""
    workdir = tmp_path_factory.mktemp("test_config")
    return workdir, snakemake(workdir, REPO_ROOT / "config" / "test.yaml")


def mini_config(folder: Path) -> Path:
    """The test config cut to one dataset and four models (a control, two baselines, one scFM pretrained
    here with checkpoints to resume from), a few metrics: what reruns, resumes and SLURM are compared on."""
    config = yaml.safe_load((REPO_ROOT / "config" / "test.yaml").read_text())
    config.update(run="mini", datasets=["sim_small"], models=["random", "hvg_pca", "scvi", "geneformer"])
    config["model_params"] = {"scvi": {"max_epochs": 5}, "geneformer": {"steps": 40, "checkpoint_every": 10}}
    config["tasks"] = {
        "integration": {"metrics": ["kmeans_nmi", "silhouette_label", "ilisi", "scgraph_ontorwr", "rogi_pca"],
                        "rogi_cells": 300},
        "annotation": {"n_splits": 2, "train_fraction": 0.3},
    }  # fmt: skip
    path = folder / "mini.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def mini_run(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """The mini config run locally once: its working directory, its config file and the Snakemake call.
    Tests compare other runs of the same config with it, never change it."""
    folder = tmp_path_factory.mktemp("mini")
    configfile = mini_config(folder)
    return folder / "run", configfile, snakemake(folder / "run", configfile)
