"""The pretraining check: masked prediction on corpus cells the model never trained on, against the
marginal baseline, so that a pretraining run shows whether it learned anything beyond gene frequencies.

A seeded share of the corpus is held out of training. On those cells, positions are masked as in
training (a fixed random stream; for the token families only the positions replaced by <mask> are
scored, since the kept 10% show their answer) and the model's loss (cross-entropy or squared error, without scGPT's
MVC term) and accuracy are compared with the *marginal* predictor, estimated on the training cells,
which knows everything about a masked position except the rest of the cell (what it conditions on is the
family's ``baseline_key``):

- Geneformer (which gene sits at a masked rank?): the genes' frequencies among the training cells' tokens;
- scBERT (which expression bin has this gene?): the gene's bin frequencies;
- scGPT, scFoundation (which value has this gene?): the gene's mean value.

Accuracy: top-1 for the token families; for the value families the share of masked values predicted
within ±0.5 (scGPT: the right integer bin; scFoundation: within a factor e^0.5 of the expression).
Beating the baseline means the model predicts a gene from its cell's other genes: co-expression.
"""

from dataclasses import dataclass

import numpy as np
import torch

from models.foundation.architectures import FoundationModel
from models.foundation.corpus import Corpus
from models.foundation.families import family_of
from models.foundation.family import Family
from models.foundation.masking import reconstruct
from models.foundation.tokenizers import Tokenizer

VALUE_TOLERANCE = 0.5
BASELINE_CELLS = 2000  # training cells the marginal baseline is estimated on (a seeded sample)


def heldout_split(n_cells: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training cells, held-out cells), sorted; at least one cell on each side when ``fraction`` > 0."""
    n_held = 0 if fraction <= 0 else min(max(int(round(fraction * n_cells)), 1), n_cells - 1)
    order = np.random.default_rng([seed, 2]).permutation(n_cells)
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def tokenize(tokenizer: Tokenizer, corpus: Corpus, cells: np.ndarray, seed: int) -> list:
    """Tokens of corpus cells; cell c draws from a stream seeded by (seed, c): the same in every call."""
    dense = np.asarray(corpus.counts[cells].todense(), dtype=np.float64)
    return [tokenizer.cell(dense[i], corpus.totals[c], np.random.default_rng([seed, int(c), 3]))
            for i, c in enumerate(cells)]  # fmt: skip


def _batches(tokenizer: Tokenizer, cells: list, batch_size: int):
    for start in range(0, len(cells), batch_size):
        yield tokenizer.collate(cells[start : start + batch_size])


@dataclass
class MarginalBaseline:
    """Per key: class log-probabilities (token families, add-one smoothed) or the mean value."""

    family: str
    table: torch.Tensor  # (keys, classes) log-probabilities, or (keys,) means
    fallback: torch.Tensor  # for keys never seen in training: the pooled distribution or mean

    @property
    def spec(self) -> Family:
        return family_of(self.family)

    @classmethod
    def fit(cls, family: str, tokenizer: Tokenizer, batches) -> "MarginalBaseline":
        spec = family_of(family)
        keys, targets = [], []
        for batch in batches:
            where = spec.maskable(batch)
            keys.append(spec.baseline_key(batch)[where])
            targets.append(spec.target(batch)[where])
        key, target = torch.cat(keys), torch.cat(targets)
        n_keys = int(max(key.max().item() + 1, 1))
        if spec.predicts_tokens:
            n_classes = int(getattr(tokenizer, "n_tokens", len(tokenizer.vocabulary)))
            counts = torch.zeros(n_keys, n_classes, dtype=torch.float64)
            counts.index_put_((key, target), torch.ones(len(key), dtype=torch.float64), accumulate=True)
            # add-one over every class a masked position can hold: one that no sampled training cell showed
            # keeps a pseudo-count (else a held-out cell holding it would give the baseline an infinite loss)
            possible = (counts.sum(0) > 0).to(torch.float64)
            possible[spec.target_classes(tokenizer)] = 1.0
            smoothed = counts + possible
            pooled = counts.sum(0) + possible
            return cls(family, (smoothed / smoothed.sum(1, keepdim=True)).log(), (pooled / pooled.sum()).log())
        sums = torch.zeros(n_keys, dtype=torch.float64).index_add_(0, key, target.double())
        counts = torch.zeros(n_keys, dtype=torch.float64).index_add_(0, key, torch.ones(len(key), dtype=torch.float64))
        pooled = sums.sum() / counts.sum().clamp(min=1)
        return cls(family, torch.where(counts > 0, sums / counts.clamp(min=1), pooled), pooled)

    def predict(self, key: torch.Tensor) -> torch.Tensor:
        inside = key < len(self.table)
        rows = self.table[key.clamp(max=len(self.table) - 1)]
        if self.spec.predicts_tokens:
            return torch.where(inside[:, None], rows, self.fallback)
        return torch.where(inside, rows, self.fallback)


def _score(spec: Family, output: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """(summed loss, number correct) of one batch's masked positions."""
    loss = float(spec.reconstruction_loss(output, target)) * len(target)
    if spec.predicts_tokens:
        correct = (output.argmax(-1) == target).sum()
    else:
        correct = ((output.float() - target).abs() < VALUE_TOLERANCE).sum()
    return loss, float(correct)


@torch.no_grad()
def heldout_check(model: FoundationModel, tokenizer: Tokenizer, corpus: Corpus, train: np.ndarray,
                  heldout: np.ndarray, seed: int, device: str = "cpu", batch_size: int = 64,
                  rate: float | None = None) -> dict:  # fmt: skip
    """Masked-prediction loss and accuracy of ``model`` on the ``heldout`` cells and of the marginal
    baseline fitted on (a sample of) the ``train`` cells; positions are masked with a fixed seed, at
    ``rate`` (None: the family's masking rate)."""
    family, spec = model.family, model.spec
    sample = np.sort(np.random.default_rng([seed, 4]).permutation(train)[:BASELINE_CELLS])
    baseline = MarginalBaseline.fit(family, tokenizer, _batches(tokenizer, tokenize(tokenizer, corpus, sample, seed),
                                                                batch_size))  # fmt: skip
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    totals = {"loss": 0.0, "correct": 0.0, "baseline_loss": 0.0, "baseline_correct": 0.0, "n": 0}
    for batch in _batches(tokenizer, tokenize(tokenizer, corpus, heldout, seed), batch_size):
        result = reconstruct(model, batch.to(device), generator, tokenizer.mask_id, rate)
        if result is None:
            continue
        chosen = result.masked.chosen.cpu()
        hidden = (result.masked.batch.ids.cpu() == tokenizer.mask_id)[chosen] if spec.predicts_tokens else None
        output, target = result.output.cpu(), result.target.cpu()
        if hidden is not None:  # the kept and randomised tokens show (or mislead about) the answer: not scored
            output, target, chosen = (
                output[hidden],
                target[hidden],
                chosen & (result.masked.batch.ids.cpu() == tokenizer.mask_id),
            )
        loss, correct = _score(spec, output, target)
        guess = baseline.predict(spec.baseline_key(batch)[chosen])
        base_loss, base_correct = _score(spec, guess.float(), target)
        for name, value in (("loss", loss), ("correct", correct), ("baseline_loss", base_loss),
                            ("baseline_correct", base_correct), ("n", len(target))):  # fmt: skip
            totals[name] += value
    model.train(was_training)
    n = max(totals["n"], 1)
    return {
        "cells": int(len(heldout)),
        "masked_positions": int(totals["n"]),
        "loss": totals["loss"] / n,
        "accuracy": totals["correct"] / n,
        "baseline_loss": totals["baseline_loss"] / n,
        "baseline_accuracy": totals["baseline_correct"] / n,
        "metric": "cross-entropy" if spec.predicts_tokens else "mean squared error",
    }
