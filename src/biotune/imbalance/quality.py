"""Quality control of synthetic embeddings, written with every oversampling run.

Three views, each answering one question:

- **Classifier two-sample test** (Lopez-Paz & Oquab, 2017): can a logistic regression tell real from
  generated points? Cross-validated accuracy on a balanced real-vs-generated set, overall and per
  class; 0.5 = indistinguishable, 1.0 = trivially separable.
- **Nearest-real cosine**: for every generated point, the cosine similarity to its nearest real
  point, next to the same statistic for real points (nearest *other* real point). Values near 1 mean
  copies (memorisation); much lower than real-to-real means off-manifold points. Cosines are taken
  after centring on the real points' mean: pooled PLM embeddings share a large common component
  that otherwise puts every cosine near 1.
- **Projection plot**: UMAP (umap-learn) or t-SNE (scikit-learn) of real vs generated, one panel per
  class, saved as PNG.

:func:`write_quality_report` writes ``<prefix>.json`` and ``<prefix>.png``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, normalize

from biotune.threads import limited_threads


def two_sample_accuracy(real: np.ndarray, fake: np.ndarray, *, folds: int = 5, seed: int = 0) -> float | None:
    """Cross-validated accuracy of a real-vs-generated logistic regression (balanced by subsampling)."""
    n = min(len(real), len(fake))
    if n < folds:
        return None
    rng = np.random.default_rng(seed)
    X = np.vstack([real[rng.choice(len(real), n, replace=False)], fake[rng.choice(len(fake), n, replace=False)]])
    y = np.r_[np.zeros(n), np.ones(n)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(clf, X, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed)).mean())


def nearest_cosine(query: np.ndarray, reference: np.ndarray, *, exclude_self: bool = False, block: int = 2048) -> np.ndarray:
    """For each query row, the largest cosine similarity to a reference row (itself excluded if asked;
    then ``query`` is ``reference``). Computed in row blocks so memory stays bounded."""
    q, r = normalize(query).astype(np.float32), normalize(reference).astype(np.float32)
    best = np.empty(len(q), dtype=np.float64)
    for start in range(0, len(q), block):
        sims = q[start : start + block] @ r.T
        if exclude_self:
            rows = np.arange(len(sims))
            sims[rows, start + rows] = -np.inf
        best[start : start + block] = sims.max(axis=1)
    return best


def _summary(values: np.ndarray) -> dict[str, Any]:
    if len(values) == 0:
        return {"n": 0}
    q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    hist, edges = np.histogram(values, bins=20, range=(min(-1.0, float(values.min())), 1.0))
    return {
        "n": int(len(values)),
        "mean": float(values.mean()),
        **{f"q{int(p * 100):02d}": float(v) for p, v in zip([0.05, 0.25, 0.5, 0.75, 0.95], q)},
        "histogram": {"counts": hist.tolist(), "edges": edges.tolist()},
    }


def quality_metrics(real: np.ndarray, real_class: Sequence[str], fake: np.ndarray, fake_class: Sequence[str], *, seed: int = 0) -> dict[str, Any]:
    """Two-sample accuracy and nearest-real cosine, overall and for each generated class."""
    real_class, fake_class = np.asarray(real_class), np.asarray(fake_class)
    centre = real.mean(axis=0) if len(real) else 0.0
    real, fake = real - centre, fake - centre
    report: dict[str, Any] = {
        "n_real": int(len(real)),
        "n_generated": int(len(fake)),
        "two_sample_accuracy": two_sample_accuracy(real, fake, seed=seed) if len(fake) else None,
        "nearest_real_cosine": _summary(nearest_cosine(fake, real)) if len(fake) else {"n": 0},
        "real_to_real_cosine": _summary(nearest_cosine(real, real, exclude_self=True)) if len(real) > 1 else {"n": 0},
        "per_class": {},
    }
    for c in sorted(set(fake_class.tolist())):
        r, f = real[real_class == c], fake[fake_class == c]
        report["per_class"][str(c)] = {
            "n_real": int(len(r)),
            "n_generated": int(len(f)),
            "two_sample_accuracy": two_sample_accuracy(r, f, seed=seed),
            "nearest_real_cosine_median": float(np.median(nearest_cosine(f, r))) if len(r) else None,
            "real_to_real_cosine_median": float(np.median(nearest_cosine(r, r, exclude_self=True))) if len(r) > 1 else None,
        }
    return report


def project_2d(X: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """2-d projection of ``X`` with UMAP or t-SNE (PCA to ≤50 dimensions first for t-SNE)."""
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(X) - 1)).fit_transform(X)
    if method == "tsne":
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE

        Z = PCA(n_components=min(50, X.shape[1], len(X)), random_state=seed).fit_transform(X)
        return TSNE(n_components=2, perplexity=min(30.0, (len(X) - 1) / 3), random_state=seed, init="pca", max_iter=500).fit_transform(Z)
    raise ValueError(f"unknown projection {method!r}; expected 'umap' or 'tsne'")


def _subsample(labels: np.ndarray, classes: Sequence[str], max_points: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices to plot: up to ``max_points // (len(classes) + 1)`` of each class in ``classes``,
    the rest of the budget drawn from the other rows — so rare classes stay visible."""
    per_class = max(1, max_points // (len(classes) + 1))
    keep = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    others = np.flatnonzero(~np.isin(labels, classes))
    budget = max(0, max_points - sum(len(k) for k in keep))
    keep.append(rng.permutation(others)[:budget])
    return np.sort(np.concatenate(keep)).astype(int)


def plot_real_vs_generated(real: np.ndarray, real_class: Sequence[str], fake: np.ndarray, fake_class: Sequence[str], path: str | Path, *, method: str = "tsne", seed: int = 0, max_points: int = 1500) -> Path:
    """One panel per generated class: its real points, its generated points, all other points in grey."""
    import matplotlib.pyplot as plt

    from biotune.evaluate.plots import _save

    rng = np.random.default_rng(seed)
    real_class, fake_class = np.asarray(real_class), np.asarray(fake_class)
    classes = sorted(set(fake_class.tolist()))
    keep_r = _subsample(real_class, classes, max_points, rng)
    keep_f = _subsample(fake_class, classes, max_points, rng)
    xy = project_2d(np.vstack([real[keep_r], fake[keep_f]]), method, seed)
    xy_r, xy_f, cr, cf = xy[: len(keep_r)], xy[len(keep_r) :], real_class[keep_r], fake_class[keep_f]
    cols = min(4, max(1, len(classes)))
    rows = int(np.ceil(len(classes) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, c in zip(axes.flat, classes):
        ax.set_axis_on()
        ax.scatter(xy_r[:, 0], xy_r[:, 1], s=2, c="lightgrey", label="other real")
        ax.scatter(*xy_r[cr == c].T, s=6, c="tab:blue", label="real")
        ax.scatter(*xy_f[cf == c].T, s=6, c="tab:orange", marker="x", label="generated")
        ax.set_title(str(c), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    axes.flat[0].legend(fontsize=6, loc="best")
    fig.suptitle(f"real vs generated embeddings ({method.upper()})", fontsize=9)
    fig.tight_layout()
    return _save(fig, Path(path))


def write_quality_report(prefix: str | Path, real: np.ndarray, real_class: Sequence[str], fake: np.ndarray, fake_class: Sequence[str], *, projection: str = "tsne", seed: int = 0, extra: dict[str, Any] | None = None, num_threads: int | None = 1) -> dict[str, Any]:
    """Compute :func:`quality_metrics`, draw the projection plot, write ``prefix.json`` + ``prefix.png``.

    Runs with ``num_threads`` BLAS/OpenMP threads (:mod:`biotune.threads`).
    """
    prefix = Path(prefix)
    with limited_threads(num_threads):
        report = quality_metrics(real, real_class, fake, fake_class, seed=seed)
        report.update(extra or {})
        if len(fake):
            report["plot"] = plot_real_vs_generated(real, real_class, fake, fake_class, prefix.with_suffix(".png"), method=projection, seed=seed).name
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(report, indent=2, sort_keys=True, default=float) + "\n")
    return report
