"""A deterministic simulated immune atlas that stands in for a real one.

Cell types are real Cell Ontology terms (an immune subtree). Each ontology node owns an
expression program (log-fold changes on a set of genes, seeded with its known markers), and a
cell type's expression is the sum of the programs on its path from the root, so types that are
close in the ontology are close in expression. Batches add gene-wise effects and differ in
sequencing depth; counts are negative binomial (gamma-Poisson).

``biology_seed`` fixes the biology (baseline expression and programs) and ``seed`` the draw (batch
effects, composition, cells): datasets with different ``seed`` and the same ``biology_seed`` are
different samples of one biology, as a pretraining corpus and an evaluation atlas should be.
"""

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from scipy import sparse


@dataclass(frozen=True)
class OntologyNode:
    term_id: str
    name: str
    parent: str | None
    markers: tuple[str, ...] = ()


# Every parent is a true is_a ancestor of its child in CL (tests check this against CL 2026-03-26).
IMMUNE_TREE: tuple[OntologyNode, ...] = (
    OntologyNode("CL:0000738", "leukocyte", None, ("PTPRC", "CD52", "CD37")),
    OntologyNode("CL:0000542", "lymphocyte", "CL:0000738", ("CD247", "LCK", "CCL5")),
    OntologyNode("CL:0000084", "T cell", "CL:0000542", ("CD3D", "CD3E", "CD3G", "CD2", "IL7R")),
    OntologyNode("CL:0000624", "CD4-positive, alpha-beta T cell", "CL:0000084", ("CD4", "CCR7")),
    OntologyNode("CL:0000625", "CD8-positive, alpha-beta T cell", "CL:0000084", ("CD8A", "CD8B", "GZMK")),
    OntologyNode("CL:0000236", "B cell", "CL:0000542", ("CD79A", "CD79B", "MS4A1", "BANK1")),
    OntologyNode("CL:0000788", "naive B cell", "CL:0000236", ()),
    OntologyNode("CL:0000787", "memory B cell", "CL:0000236", ("CD27",)),
    OntologyNode("CL:0000623", "natural killer cell", "CL:0000542", ("NKG7", "GNLY", "PRF1", "GZMB")),
    OntologyNode("CL:0000766", "myeloid leukocyte", "CL:0000738", ("TYROBP", "FCER1G", "AIF1", "LST1")),
    OntologyNode("CL:0000576", "monocyte", "CL:0000766", ("LYZ", "FCN1", "S100A9")),
    OntologyNode("CL:0000860", "classical monocyte", "CL:0000576", ("S100A8",)),
    OntologyNode("CL:0000875", "non-classical monocyte", "CL:0000576", ("FCGR3A",)),
    OntologyNode("CL:0000451", "dendritic cell", "CL:0000738", ("HLA-DRA", "HLA-DPB1", "CD74", "CST3")),
    OntologyNode("CL:0000784", "plasmacytoid dendritic cell", "CL:0000451", ("IRF7", "IRF8")),
    OntologyNode("CL:0000990", "conventional dendritic cell", "CL:0000451", ("FCER1A", "CLEC10A")),
)

CHUNK_CELLS = 10_000  # cells drawn at a time; fixed, so the data never depend on memory settings


def gene_symbols(n_genes: int | None = None) -> list[str]:
    """Real human gene symbols (the 765 genes of scanpy's bundled ``pbmc68k_reduced``), cut or extended
    to ``n_genes`` with synthetic names ``SIM00766``, ``SIM00767``, ... (they match no real gene)."""
    import scanpy as sc  # here: importing scanpy takes seconds (benchmark.data.sources imports this module)

    real = list(sc.datasets.pbmc68k_reduced().raw.var_names)
    if n_genes is None:
        return real
    return real[:n_genes] + [f"SIM{i:05d}" for i in range(len(real) + 1, n_genes + 1)]


def _path_from_root(nodes: dict[str, OntologyNode], term_id: str) -> list[str]:
    path = []
    node: str | None = term_id
    while node is not None:
        path.append(node)
        node = nodes[node].parent
    return path[::-1]


def _leaves(tree: tuple[OntologyNode, ...]) -> list[OntologyNode]:
    parents = {n.parent for n in tree}
    return [n for n in tree if n.term_id not in parents]


@dataclass(frozen=True)
class _Draw:
    """Everything but the counts: cells' batch and type, and their expression logits' parts."""

    obs: pd.DataFrame
    genes: list[str]
    type_logit: np.ndarray  # leaf types x genes
    batch_logit: np.ndarray  # batches x genes
    batch_depth: np.ndarray
    batch_of_cell: np.ndarray
    type_of_cell: np.ndarray
    dispersion: float
    seed: int
    rng: np.random.Generator  # the stream the first chunk continues


def _draw(
    n_cells: int,
    n_batches: int,
    seed: int,
    biology_seed: int,
    program_genes: int,
    program_lfc: float,
    batch_lfc_sd: float,
    dispersion: float,
    mean_depth: float,
    n_genes: int | None,
) -> _Draw:
    if n_batches < 1 or n_cells < 10 * n_batches:
        raise ValueError(f"simulate_immune needs n_batches >= 1 and n_cells >= 10 * n_batches, got {n_cells=}")
    biology = np.random.default_rng(biology_seed)
    rng = np.random.default_rng(seed)
    genes = gene_symbols(n_genes)
    gene_index = {g: i for i, g in enumerate(genes)}
    n_genes = len(genes)
    nodes = {n.term_id: n for n in IMMUNE_TREE}
    leaves = _leaves(IMMUNE_TREE)

    base = biology.normal(-1.0, 1.3, n_genes)  # log relative abundance of each gene
    programs: dict[str, np.ndarray] = {}
    for node in IMMUNE_TREE:
        effect = np.zeros(n_genes)
        markers = [gene_index[g] for g in node.markers if g in gene_index]
        others = biology.choice(n_genes, size=program_genes, replace=False)
        effect[others] = biology.normal(0.0, program_lfc, program_genes)
        effect[markers] = biology.normal(2.5 * program_lfc, 0.3, len(markers))
        programs[node.term_id] = effect
    type_logit = np.stack([base + sum(programs[t] for t in _path_from_root(nodes, leaf.term_id)) for leaf in leaves])

    batch_logit = rng.normal(0.0, batch_lfc_sd, (n_batches, n_genes))
    batch_depth = mean_depth * np.exp(rng.normal(0.0, 0.5, n_batches))
    type_share = biology.dirichlet(np.full(len(leaves), 3.0))

    batch_of_cell = np.sort(rng.integers(0, n_batches, n_cells))
    type_of_cell = np.empty(n_cells, dtype=int)
    for b in range(n_batches):
        in_batch = np.flatnonzero(batch_of_cell == b)
        share = rng.dirichlet(type_share * 40.0)  # batch-to-batch composition differences
        type_of_cell[in_batch] = rng.choice(len(leaves), size=len(in_batch), p=share)

    batches = np.array([f"batch{b + 1}" for b in range(n_batches)], dtype=object)
    names, ids = (np.array([getattr(leaf, k) for leaf in leaves], dtype=object) for k in ("name", "term_id"))
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical(batches[batch_of_cell]),
            "cell_type": pd.Categorical(names[type_of_cell]),
            "cell_type_ontology_term_id": pd.Categorical(ids[type_of_cell]),
        },
        index=[f"cell{i:06d}" for i in range(n_cells)],
    )
    return _Draw(obs, genes, type_logit, batch_logit, batch_depth, batch_of_cell, type_of_cell, dispersion, seed, rng)


def _count_chunks(draw: _Draw) -> Iterator[sparse.csr_matrix]:
    """The counts, :data:`CHUNK_CELLS` cells at a time (never a dense cells x genes matrix).

    The first chunk continues the seed's stream (so data of up to one chunk are as they were before
    chunking existed); chunk ``k > 0`` draws from its own generator seeded with ``(seed, k)``.
    """
    shape = 1.0 / draw.dispersion
    for k, start in enumerate(range(0, len(draw.obs), CHUNK_CELLS)):
        rng = draw.rng if k == 0 else np.random.default_rng([draw.seed, k])
        batch = draw.batch_of_cell[start : start + CHUNK_CELLS]
        logits = draw.type_logit[draw.type_of_cell[start : start + CHUNK_CELLS]] + draw.batch_logit[batch]
        proportions = np.exp(logits - logits.max(axis=1, keepdims=True))
        proportions /= proportions.sum(axis=1, keepdims=True)
        depth = draw.batch_depth[batch] * np.exp(rng.normal(0.0, 0.3, len(batch)))
        mean = proportions * depth[:, None]
        yield sparse.csr_matrix(rng.poisson(rng.gamma(shape, mean / shape)).astype(np.float32))


def simulate_immune(
    n_cells: int = 2000,
    n_batches: int = 3,
    seed: int = 0,
    biology_seed: int = 0,
    program_genes: int = 25,
    program_lfc: float = 1.2,
    batch_lfc_sd: float = 0.4,
    dispersion: float = 0.3,
    mean_depth: float = 2500.0,
    n_genes: int | None = None,
) -> ad.AnnData:
    """Simulate raw counts for the leaves of :data:`IMMUNE_TREE` across ``n_batches`` batches.

    ``n_genes`` (default: the 765 real symbols of :func:`gene_symbols`) sets the number of genes.
    """
    draw = _draw(n_cells, n_batches, seed, biology_seed, program_genes, program_lfc, batch_lfc_sd, dispersion,
                 mean_depth, n_genes)  # fmt: skip
    chunks = list(_count_chunks(draw))
    counts = chunks[0] if len(chunks) == 1 else sparse.vstack(chunks, format="csr")
    return ad.AnnData(counts, obs=draw.obs, var=pd.DataFrame(index=draw.genes))


def write_simulated_immune(path: str | Path, **params) -> None:
    """Write :func:`simulate_immune`'s data to an .h5ad chunk by chunk (memory: one chunk)."""
    arguments = inspect.signature(simulate_immune).bind(**params)
    arguments.apply_defaults()
    draw = _draw(**arguments.arguments)
    ad.AnnData(obs=draw.obs, var=pd.DataFrame(index=draw.genes)).write_h5ad(path)
    with h5py.File(path, "a") as handle:
        for k, chunk in enumerate(_count_chunks(draw)):
            if k == 0:
                ad.io.write_elem(handle, "X", chunk)
            else:
                ad.io.sparse_dataset(handle["X"]).append(chunk)
