"""Folds (group-aware: a tumour, patient or cell line is never on both sides; or stratified over cells)
and out-of-fold probes."""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def leave_one_group_out(groups: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """One fold per group: train on the others, test on it."""
    return list(LeaveOneGroupOut().split(np.zeros(len(groups)), groups=groups))


def stratified_folds(y: np.ndarray, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded stratified folds over cells (each fold keeps the class balance); the same for every model."""
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def binary_probe(seed: int):
    """Standardised logistic regression with balanced class weights (malignant and drug labels are skewed)."""
    return make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
    )


def out_of_fold_probabilities(X: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                              seed: int) -> tuple[np.ndarray, list[int]]:  # fmt: skip
    """P(y = 1) for every cell from the fold that held it out; folds whose training part has one class
    are returned by index (their cells stay NaN) so the caller can say why."""
    probabilities = np.full(len(y), np.nan)
    single_class = []
    for index, (train, test) in enumerate(folds):
        if len(np.unique(y[train])) < 2:
            single_class.append(index)
            continue
        probabilities[test] = binary_probe(seed).fit(X[train], y[train]).predict_proba(X[test])[:, 1]
    return probabilities, single_class
