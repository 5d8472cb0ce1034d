"""Every registered model against the plugin contract, on tiny seeded data."""

import numpy as np
import pytest

from benchmark.embedding import check_needs
from benchmark.errors import NotApplicable
from benchmark.registry import discover, load_class
from tests.conftest import small_ontology_view

SPECS = discover()
# Plugin rules are tested in tests/test_extending.py, published-checkpoint-only models in tests/test_published.py.
CLASSES = sorted(m for m, spec in SPECS.items() if not spec.plugin_rule and spec.checkpoint != "published")
TINY_SCFM = {"hidden": 16, "layers": 1, "heads": 2, "ffn": 32, "context": 64, "steps": 2, "batch_size": 8,
             "warmup": 1, "checkpoint_every": 2}  # fmt: skip
FAST = {"scvi": {"max_epochs": 2, "n_top_genes": 200},
        **{m: TINY_SCFM for m, spec in SPECS.items() if spec.checkpoint == "pretrain"}}  # fmt: skip
CHECKPOINTS: dict[str, str] = {}


def checkpoint_of(model_id: str, tmp_root) -> str | None:
    """A tiny pretrained checkpoint for plugins that declare `checkpoint: pretrain` (built once)."""
    spec = SPECS[model_id]
    if spec.checkpoint != "pretrain":
        return None
    if model_id not in CHECKPOINTS:
        from models.foundation.corpus import build_corpus
        from tests.conftest import _prepared

        out = tmp_root / model_id
        load_class(spec).pretrain(build_corpus([_prepared("sim")]), spec.params_with(FAST[model_id]), 0, out,
                                  tmp_root / "progress" / model_id)  # fmt: skip
        CHECKPOINTS[model_id] = str(out)
    return CHECKPOINTS[model_id]


@pytest.fixture(scope="module")
def checkpoint_root(tmp_path_factory):
    return tmp_path_factory.mktemp("contract-checkpoints")


def make(model_id: str, seed: int = 0, ontology=None, checkpoint_root=None):
    spec = SPECS[model_id]
    checkpoint = checkpoint_of(model_id, checkpoint_root) if checkpoint_root is not None else None
    return load_class(spec)(spec.params_with(FAST.get(model_id)), seed=seed, ontology=ontology, checkpoint=checkpoint)


@pytest.mark.parametrize("model_id", CLASSES)
def test_embed_contract_and_determinism(model_id, sim, sim_ontology, checkpoint_root):
    check_needs(SPECS[model_id], sim, sim_ontology)
    first = np.asarray(make(model_id, ontology=sim_ontology, checkpoint_root=checkpoint_root).embed(sim.copy()))
    second = np.asarray(make(model_id, ontology=sim_ontology, checkpoint_root=checkpoint_root).embed(sim.copy()))
    assert first.ndim == 2 and first.shape[0] == sim.n_obs and first.shape[1] > 0
    assert np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, second)  # same seed, same embedding on CPU
    other_seed = np.asarray(make(model_id, 1, sim_ontology, checkpoint_root).embed(sim.copy()))
    if SPECS[model_id].stochastic:
        assert not np.array_equal(first, other_seed), "the seed never changes it: declare `stochastic: false`"
    else:  # embedded once for every seed: the seed must not matter
        np.testing.assert_array_equal(first, other_seed)


@pytest.mark.parametrize("model_id", CLASSES)
def test_declared_needs_match_what_the_model_handles(model_id, pbmc68k, checkpoint_root):
    """On log-normalised single-batch data a model either declares a need that fails or embeds."""
    spec = SPECS[model_id]
    try:
        check_needs(spec, pbmc68k)
    except NotApplicable as reason:
        assert spec.needs.get("counts") or spec.needs.get("batches") or spec.needs.get("ontology"), reason
        return
    embedding = np.asarray(make(model_id, checkpoint_root=checkpoint_root).embed(pbmc68k.copy()))
    assert embedding.shape[0] == pbmc68k.n_obs and np.all(np.isfinite(embedding))


def test_needs_messages(pbmc68k):
    with pytest.raises(NotApplicable, match="scVI needs raw counts; dataset 'pbmc68k' has log_normalized values"):
        check_needs(SPECS["scvi"], pbmc68k)
    with pytest.raises(NotApplicable, match="Harmony corrects batches; dataset 'pbmc68k' has a single batch"):
        check_needs(SPECS["harmony"], pbmc68k)
    with pytest.raises(NotApplicable, match=r"needs Cell Ontology labels: the dataset has no Cell Ontology ids"):
        check_needs(SPECS["ontology_oracle"], pbmc68k, small_ontology_view(["CL:0000236"]))


def test_oracle_knows_labels_and_batch_only_knows_batches(sim):
    oracle = make("label_oracle").embed(sim)
    batch_only = make("batch_only").embed(sim)
    assert np.array_equal(oracle.argmax(axis=1), sim.obs["cell_type"].cat.codes.to_numpy())
    assert np.array_equal(batch_only.argmax(axis=1), sim.obs["batch"].cat.codes.to_numpy())


def test_harmony_reduces_batch_separation(sim):
    from sklearn.metrics import silhouette_score

    batches = sim.obs["batch"].to_numpy()
    before = silhouette_score(make("hvg_pca").embed(sim.copy()), batches)
    after = silhouette_score(make("harmony").embed(sim.copy()), batches)
    assert after < before
