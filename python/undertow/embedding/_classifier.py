"""The domain classifier: can a model tell reference rows from current rows?

L2-regularized logistic regression (penalty 1/2 |w|^2 on the summed log-loss, as
scikit-learn's default C=1; intercept unpenalized) fitted by Newton's method on standardized
features, scored out-of-fold over stratified folds; the ROC AUC of the out-of-fold scores is
about 0.5 when the two samples come from one distribution and 1 when they separate.
"""

from __future__ import annotations

import numpy as np


def _fit_logistic(x: np.ndarray, y: np.ndarray, iterations: int = 50) -> np.ndarray:
    n, p = x.shape
    design = np.hstack([np.ones((n, 1)), x])
    w = np.zeros(p + 1)
    penalty = np.ones(p + 1)
    penalty[0] = 0.0
    for _ in range(iterations):
        z = design @ w
        prob = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function without overflow
        grad = design.T @ (prob - y) + penalty * w
        weight = prob * (1.0 - prob)
        hessian = (design * weight[:, None]).T @ design + np.diag(penalty + 1e-12)
        step = np.linalg.solve(hessian, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return w


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = average_rank[inverse]
    positive = labels == 1
    n1 = int(positive.sum())
    n0 = len(labels) - n1
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def domain_auc(reference: np.ndarray, current: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    x = np.vstack([reference, current]).astype(np.float64)
    labels = np.concatenate([np.zeros(len(reference)), np.ones(len(current))])
    folds = max(2, min(folds, len(reference), len(current)))
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(labels), dtype=np.int64)
    for cls in (0, 1):
        index = np.flatnonzero(labels == cls)
        fold_of[rng.permutation(index)] = np.arange(len(index)) % folds
    scores = np.empty(len(labels))
    for f in range(folds):
        train, test = fold_of != f, fold_of == f
        mean = x[train].mean(axis=0)
        std = x[train].std(axis=0)
        std[std == 0] = 1.0
        w = _fit_logistic((x[train] - mean) / std, labels[train])
        scores[test] = w[0] + ((x[test] - mean) / std) @ w[1:]
    return roc_auc(scores, labels)
