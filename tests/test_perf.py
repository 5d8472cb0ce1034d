"""The measuring scripts: the scaling exponent fit, the stage runner and the encoder comparison."""

import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from benchmark.io import write_h5ad
from benchmark.perf import scale
from models.foundation import perf_encoder


def test_exponent_of_a_power_law_is_recovered():
    sizes = ["50k", "200k", "1m"]
    cells = np.array([5e4, 2e5, 1e6])
    table = pd.DataFrame(
        {"size": sizes * 2, "stage": ["evaluate"] * 6, "model": ["a"] * 3 + ["b"] * 3,
         "wall_s": np.r_[3e-4 * cells**1.5, 2e-3 * cells], "cpu_s": np.r_[1e-4 * cells**2, 1e-3 * cells],
         "peak_with_workers_gb": np.r_[1e-5 * cells, 1e-5 * cells**0.5]}
    )  # fmt: skip
    fitted = scale.exponents(table).set_index("model")
    assert fitted.loc["a", ["k_wall_s", "k_cpu_s", "k_peak_with_workers_gb"]].tolist() == [1.5, 2.0, 1.0]
    assert fitted.loc["b", ["k_wall_s", "k_cpu_s", "k_peak_with_workers_gb"]].tolist() == [1.0, 1.0, 0.5]
    assert scale.exponents(table.iloc[:1]).empty  # one size: nothing to fit


@pytest.mark.slow
def test_scib_functions_stage_reproduces_the_benchmarker_as_shipped(sim, tmp_path):
    """The per-metric timing of scib-metrics' functions computes what the Benchmarker computes."""
    folder = tmp_path / "toy"
    (folder / "emb").mkdir(parents=True)
    write_h5ad(sim, folder / "dataset.h5ad")
    embedding = ad.AnnData(obs=pd.DataFrame(index=sim.obs_names))
    rng = np.random.default_rng(0)
    embedding.obsm["X_emb"] = (sim.obsm["X_pca_unintegrated"][:, :10] + rng.normal(0, 0.5, (sim.n_obs, 10))).astype(
        np.float32
    )
    write_h5ad(embedding, folder / "emb" / "embedding.h5ad")
    functions = scale.stage_scib_functions(tmp_path, "toy", "emb")
    shipped = scale.stage_benchmarker(tmp_path, "toy", "emb", "pynndescent")
    assert set(functions["seconds"]) == {"neighbours", *scale.BENCHMARKER_ROW} - {"kmeans_ari"}
    for metric, value in shipped["values"].items():
        assert functions["values"][metric] == pytest.approx(value, abs=1e-6), metric


def test_encoder_equals_bert_in_states_and_gradients_and_a_difference_is_caught():
    import argparse

    import torch

    args = argparse.Namespace(
        layers=2, hidden=32, heads=4, ffn=64, length=24, batch=3, vocab=120, device="cpu", activation="relu"
    )
    theirs, ours = perf_encoder.build(args)
    batch = perf_encoder.batch_for(args)
    hidden, gradient = perf_encoder.differences(theirs, ours, batch, args.layers)
    assert hidden < perf_encoder.TOLERANCE and gradient < perf_encoder.TOLERANCE
    with torch.no_grad():
        ours.encoder.layers[1].ffn_in.weight[0, 0] += 0.05  # one weight off
    hidden, gradient = perf_encoder.differences(theirs, ours, batch, args.layers)
    assert hidden > perf_encoder.TOLERANCE and gradient > perf_encoder.TOLERANCE


def test_encoder_script_runs_and_prints_both_ratios(monkeypatch, capsys):
    argv = ["perf_encoder", "--preset", "small", "--layers", "1", "--length", "32", "--batch", "4", "--repeats", "1"]
    monkeypatch.setattr(sys, "argv", [*argv, "--vocab", "200"])
    perf_encoder.main()
    out = capsys.readouterr().out
    assert "1 layers, d=64, ffn 128" in out
    assert "inference:" in out and "training step:" in out and out.count("x CPU") == 2
