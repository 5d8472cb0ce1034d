"""Fine-tune an scFM for cell-type annotation: a linear head on the pooled cell embedding.

The top ``unfrozen_layers`` encoder layers train with the head and the classifier then reads the last
layer (0 = a linear probe on the frozen model's published embedding, computed once); features are
standardised (BatchNorm without affine parameters) before the linear head; AdamW, class-weighted cross-entropy, gradient
clipping, early stopping on a stratified validation part of the training fold (the best epoch's
weights are kept). Each split starts again from the pretrained weights. Seeded: identical on CPU.
"""

import copy
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn
from tqdm import tqdm

from benchmark.config import task_settings
from models.foundation.architectures import FoundationModel
from models.foundation.extract import pool
from models.foundation.tokenizers import CellTokens, Tokenizer


@dataclass(frozen=True)
class FinetuneSettings:
    """`tasks.finetune` (defaults and meanings: workflow/schemas/config.schema.yaml)."""

    unfrozen_layers: int
    epochs: int
    lr: float  # encoder layers
    head_lr: float
    batch_size: int
    val_fraction: float
    patience: int
    class_weighting: bool

    @classmethod
    def from_config(cls, config: dict) -> "FinetuneSettings":
        """The settings of ``config`` (the `tasks.finetune` section), the schema's defaults for those it lacks."""
        filled = task_settings("finetune", config)
        return cls(**{k: filled[k] for k in cls.__dataclass_fields__})


class CellClassifier(nn.Module):
    """The scFM, its published pooling (and readout), and a linear head over the cell types."""

    def __init__(self, model: FoundationModel, extraction: dict, n_classes: int, dim: int) -> None:
        super().__init__()
        self.model, self.pooling, self.layer = model, str(extraction["pooling"]), int(extraction["layer"])
        self.normalize = bool(extraction["normalize"])
        # Pooled states differ between cells by little next to what they share: standardise them
        # (as scFoundation's fine-tuning head does), with statistics averaged over all training batches.
        self.head = nn.Sequential(nn.BatchNorm1d(dim, affine=False, momentum=None), nn.Linear(dim, n_classes))

    def features(self, batch) -> torch.Tensor:
        vectors = pool(self.model.hidden_states(batch)[self.layer], batch, self.pooling)
        if self.model.readout is not None:
            vectors = self.model.readout(vectors)
        return nn.functional.normalize(vectors, dim=1) if self.normalize else vectors


def _trainable(model: FoundationModel, unfrozen_layers: int) -> list[nn.Parameter]:
    """Freeze everything, then unfreeze the top ``unfrozen_layers`` layers (and what follows them)."""
    model.requires_grad_(False)
    if unfrozen_layers <= 0:
        return []
    encoder = model.encoder
    modules = list(encoder.layers[-unfrozen_layers:])
    modules += [m for m in (encoder.final_norm, model.readout) if m is not None]
    for module in modules:
        module.requires_grad_(True)
    return [p for m in modules for p in m.parameters()]


def finetune_split(model: FoundationModel, tokenizer: Tokenizer, cells: list[CellTokens], labels: np.ndarray,
                   train: np.ndarray, test: np.ndarray, extraction: dict, settings: FinetuneSettings, seed: int,
                   device: str = "cpu") -> tuple[np.ndarray, dict]:  # fmt: skip
    """Train on ``train`` (integer labels), predict ``test``; return the predictions and a training log."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = copy.deepcopy(model).to(device)
    trainable = _trainable(model, settings.unfrozen_layers)
    n_classes = int(labels.max()) + 1
    if trainable:  # the classifier reads the last layer, the one being trained
        extraction = {**extraction, "layer": -1}
    with torch.no_grad():
        dim = CellClassifier(model, extraction, 1, 1).features(tokenizer.collate(cells[:1]).to(device)).shape[1]
    classifier = CellClassifier(model, extraction, n_classes, dim).to(device)
    fit, validation = _validation_split(train, labels, settings.val_fraction, seed)

    def batch_of(indices: np.ndarray):
        return tokenizer.collate([cells[i] for i in indices]).to(device)

    cached = None
    if not trainable:  # a linear probe: the frozen features are computed once
        model.eval()
        with torch.no_grad():
            cached = torch.cat([classifier.features(batch_of(chunk)) for chunk in _chunks(np.arange(len(cells)), 64)])

    def logits(indices: np.ndarray) -> torch.Tensor:
        features = cached[torch.from_numpy(indices)] if cached is not None else classifier.features(batch_of(indices))
        return classifier.head(features)

    counts = np.bincount(labels[fit], minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32, device=device)
                                  if settings.class_weighting else None)  # fmt: skip
    groups = [{"params": list(classifier.head.parameters()), "lr": settings.head_lr}]
    if trainable:
        groups.append({"params": trainable, "lr": settings.lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    targets = torch.from_numpy(labels).to(device)
    best, best_loss, waited, log = None, float("inf"), 0, []
    for epoch in tqdm(range(settings.epochs), desc="fine-tune", leave=False):
        classifier.train(bool(trainable))
        for indices in _chunks(rng.permutation(fit), settings.batch_size):
            loss = loss_fn(logits(indices), targets[torch.from_numpy(indices)])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
            optimizer.step()
        val_loss = _loss(classifier, logits, loss_fn, targets, validation if len(validation) else fit, settings)
        log.append({"epoch": epoch, "train_loss": float(loss), "val_loss": val_loss})
        if val_loss < best_loss - 1e-6:
            best, best_loss, waited = copy.deepcopy(classifier.state_dict()), val_loss, 0
        else:
            waited += 1
            if waited >= settings.patience:
                break
    classifier.load_state_dict(best)
    classifier.eval()
    with torch.no_grad():
        predicted = torch.cat([logits(chunk).argmax(1) for chunk in _chunks(test, 64)]).cpu().numpy()
    return predicted, {"epochs_run": len(log), "best_val_loss": best_loss, "log": log}


def _loss(classifier, logits, loss_fn, targets, indices: np.ndarray, settings: FinetuneSettings) -> float:
    classifier.eval()
    with torch.no_grad():
        total = sum(float(loss_fn(logits(c), targets[torch.from_numpy(c)])) * len(c)
                    for c in _chunks(indices, settings.batch_size))  # fmt: skip
    return total / max(len(indices), 1)


def _validation_split(train: np.ndarray, labels: np.ndarray, fraction: float, seed: int):
    """A stratified validation part of the training fold (plain random when a type is too rare)."""
    if fraction <= 0 or len(train) < 10:
        return train, np.array([], dtype=train.dtype)
    try:
        fit, validation = train_test_split(train, test_size=fraction, random_state=seed, stratify=labels[train])
    except ValueError:  # a type with one cell, or fewer validation cells than types
        fit, validation = train_test_split(train, test_size=fraction, random_state=seed)
    return np.asarray(fit), np.asarray(validation)


def _chunks(indices: np.ndarray, size: int):
    for start in range(0, len(indices), size):
        yield indices[start : start + size]
