"""Evaluation plots as PNG files: confusion matrix, one-vs-rest ROC curves, reliability diagram.

matplotlib with the Agg backend through the object API (no pyplot state), so it is safe in worker
threads and on servers without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .metrics import ECE_BINS, expected_calibration_error, reliability_bins

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CONFUSION_PNG = "confusion_matrix.png"
ROC_PNG = "roc_curves.png"
RELIABILITY_PNG = "reliability_diagram.png"
_DPI = 120


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def plot_confusion_matrix(
    matrix: np.ndarray | Sequence[Sequence[int]], labels: Sequence[str], path: Path
) -> None:
    counts = np.asarray(matrix, dtype=np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=np.float64), where=rows > 0)
    fig, ax = _figure(5.5, 4.8)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true class")
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            colour = "white" if share[i, j] > 0.5 else "black"
            text = f"{counts[i, j]}\n{share[i, j]:.0%}"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    ax.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xlabel="Predicted",
        ylabel="True",
        title="Confusion matrix",
    )
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_yticklabels(labels)
    fig.tight_layout()
    fig.savefig(path)


def plot_roc_curves(y_true: np.ndarray, probabilities: np.ndarray, labels: Sequence[str], path: Path) -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _figure(5.5, 4.8)
    for index, label in enumerate(labels):
        positive = np.asarray(y_true) == index
        if positive.all() or not positive.any():
            continue  # one-vs-rest ROC is undefined without both positives and negatives
        fpr, tpr, _ = roc_curve(positive, probabilities[:, index])
        auc = roc_auc_score(positive, probabilities[:, index])
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate")
    ax.set_title("One-vs-rest ROC curves")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def plot_reliability(
    y_true: np.ndarray, probabilities: np.ndarray, path: Path, n_bins: int = ECE_BINS
) -> None:
    bins = reliability_bins(y_true, probabilities, n_bins)
    ece = expected_calibration_error(y_true, probabilities, n_bins)
    centres = (np.asarray(bins["lower"]) + np.asarray(bins["upper"])) / 2
    accuracy = np.nan_to_num(np.asarray(bins["accuracy"]))
    counts = np.asarray(bins["count"])
    fig, ax = _figure(5.0, 4.8)
    ax.bar(centres, accuracy, width=1 / n_bins, edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for x, y, count in zip(centres, accuracy, counts, strict=True):
        if count:
            ax.text(x, y + 0.01, f"{int(count)}", ha="center", va="bottom", fontsize=6)
    ax.set(xlim=(0, 1), ylim=(0, 1.05), xlabel="Confidence (calibrated)", ylabel="Accuracy")
    ax.set_title(f"Reliability diagram ({n_bins} bins, ECE {ece:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def save_evaluation_plots(
    y_true: np.ndarray | Sequence[int],
    probabilities: np.ndarray,
    labels: Sequence[str],
    out_dir: str | Path,
) -> dict[str, str]:
    """Write the three PNGs into `out_dir`; returns {plot name: file name}."""
    from sklearn.metrics import confusion_matrix

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    truth = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    matrix = confusion_matrix(truth, probs.argmax(axis=1), labels=list(range(len(labels))))
    plot_confusion_matrix(matrix, labels, folder / CONFUSION_PNG)
    plot_roc_curves(truth, probs, labels, folder / ROC_PNG)
    plot_reliability(truth, probs, folder / RELIABILITY_PNG)
    return {"confusion_matrix": CONFUSION_PNG, "roc_curves": ROC_PNG, "reliability_diagram": RELIABILITY_PNG}
