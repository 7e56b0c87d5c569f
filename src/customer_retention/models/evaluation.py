"""Metrics for binary churn scores: ranking, probability quality, calibration and lift.

Plain numpy / pandas / scikit-learn; no Kedro imports.

* Ranking metrics (need only an ordering of customers, any risk score works): ROC-AUC, PR-AUC
  (average precision), top-fraction lift and capture rate, the cumulative gains curve.
* Probability metrics (need probabilities in [0, 1]): log loss, Brier score, expected
  calibration error (ECE) and the reliability curve.

Ties: lift and capture rate of the top fraction treat tied scores as a random order (the
expected value), so a score with many ties (a coarse health score, an isotonic calibration)
is neither favoured nor penalised by an arbitrary tie-break.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

EPSILON = 1e-15


def _as_arrays(y_true, score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(score, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(
            f"y_true and score must be 1-d of the same length, got {y.shape}, {s.shape}"
        )
    if len(y) == 0:
        raise ValueError("No rows to evaluate")
    if np.isnan(y).any() or np.isnan(s).any():
        raise ValueError("y_true and score must not contain NaN")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must be 0/1")
    return y, s


def _bin_edges(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "quantile":
        edges = np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1))
        edges[0], edges[-1] = 0.0, 1.0
        return np.unique(edges)  # ties in p can merge quantile bins
    raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")


def reliability_table(
    y_true, probability, n_bins: int = 10, strategy: str = "quantile"
) -> pd.DataFrame:
    """Per bin of predicted probability: rows, mean predicted probability, observed rate and
    its 95% Wilson interval.

    ``strategy="quantile"``: bins with (about) equal numbers of rows, edges at the quantiles of
    the predictions; ``"uniform"``: equal-width bins on [0, 1]. Empty bins are left out.
    """
    y, p = _as_arrays(y_true, probability)
    edges = _bin_edges(p, n_bins, strategy)
    # Bin k holds edges[k] <= p < edges[k + 1]; the last bin also holds p == 1.
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    table = (
        pd.DataFrame({"bin": index, "p": p, "y": y})
        .groupby("bin")
        .agg(rows=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
        .reset_index()
    )
    table["bin_lower"] = edges[table["bin"]]
    table["bin_upper"] = edges[table["bin"] + 1]
    low, high = proportion_interval(table["observed_rate"] * table["rows"], table["rows"])
    table["observed_ci_low"], table["observed_ci_high"] = low, high
    return table[
        [
            "bin_lower",
            "bin_upper",
            "rows",
            "mean_predicted",
            "observed_rate",
            "observed_ci_low",
            "observed_ci_high",
        ]
    ]


def expected_calibration_error(
    y_true, probability, n_bins: int = 10, strategy: str = "quantile"
) -> float:
    """ECE = sum over bins of (rows in bin / rows) x |observed rate - mean predicted probability|.

    Bins as in :func:`reliability_table` (default: 10 equal-count bins, which keeps every bin
    populated when predictions crowd near the base rate, as churn probabilities do).
    """
    table = reliability_table(y_true, probability, n_bins, strategy)
    weights = table["rows"] / table["rows"].sum()
    return float((weights * (table["observed_rate"] - table["mean_predicted"]).abs()).sum())


def _expected_captured(y: np.ndarray, s: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Expected positives among the k highest scores, ties at the cut-off in proportion."""
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # Tie groups of equal scores: [starts[g], ends[g]) in the descending order.
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ends = np.r_[starts[1:], len(s_sorted)]
    before = np.r_[0.0, np.cumsum(y_sorted)]  # positives among the first i rows
    group = np.searchsorted(starts, k - 1, side="right") - 1  # group holding row k - 1
    a, b = starts[group], ends[group]
    in_group = before[b] - before[a]
    return before[a] + (k - a) * in_group / (b - a)


def top_fraction_capture(y_true, score, fraction: float = 0.1) -> tuple[float, float]:
    """(lift, capture rate) of the ``fraction`` of rows with the highest scores.

    capture rate = share of all positives found in the top fraction; lift = positive rate in
    the top fraction / overall positive rate. The top holds k = round(fraction x n) rows (at
    least 1); rows tied at the cut-off count in proportion (expected value under a random
    tie-break).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    y, s = _as_arrays(y_true, score)
    positives = y.sum()
    if positives == 0:
        return float("nan"), float("nan")
    k = max(1, round(fraction * len(y)))
    captured = float(_expected_captured(y, s, np.array([k]))[0])
    return (captured / k) / (positives / len(y)), captured / positives


def cumulative_gains(y_true, score, points: int = 100) -> pd.DataFrame:
    """Cumulative gains and lift: share of all positives captured when contacting the top
    ``population_share`` of rows ranked by score (ties in proportion, as above)."""
    y, s = _as_arrays(y_true, score)
    shares = np.linspace(0.0, 1.0, points + 1)
    k = np.maximum(1, np.round(shares * len(y)).astype(int))
    captured = _expected_captured(y, s, k) / max(y.sum(), 1.0)
    captured[0] = 0.0
    gains = pd.DataFrame({"population_share": shares, "captured_share": captured})
    gains["lift"] = (gains["captured_share"] / gains["population_share"]).where(shares > 0)
    return gains


def ranking_curves(y_true, score) -> dict[str, np.ndarray | float]:
    """ROC and precision-recall curves with their areas, from one sort of the scores.

    The values of scikit-learn's ``roc_curve(drop_intermediate=False)`` (``fpr``, ``tpr``),
    ``precision_recall_curve`` (``precision``, ``recall``), ``roc_auc_score`` (``roc_auc``) and
    ``average_precision_score`` (``pr_auc``), which sort the scores once each; one point per
    distinct score (tied rows move together). Needs both classes in ``y_true``.
    """
    y, s = _as_arrays(y_true, score)
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    last = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), len(s) - 1]  # end of tie groups
    tps = np.cumsum(y[order])[last]
    fps = last + 1 - tps
    if tps[-1] == 0 or fps[-1] == 0:
        raise ValueError("ranking_curves needs both positives and negatives")
    fpr, tpr = np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]
    precision, recall = tps / (tps + fps), tps / tps[-1]
    return {
        "fpr": fpr,
        "tpr": tpr,
        "roc_auc": float(np.trapezoid(tpr, fpr)),
        "precision": np.r_[precision[::-1], 1.0],
        "recall": np.r_[recall[::-1], 0.0],
        "pr_auc": float(np.sum(np.diff(np.r_[0.0, recall]) * precision)),
    }


def thin_curve(x, y, resolution: float = 2.5e-4) -> np.ndarray:
    """Indices of the points of the polyline (x, y) to draw, first and last included.

    A point is kept when the path length |dx| + |dy| walked since the start crosses another
    multiple of ``resolution``; every dropped point lies within ``resolution`` (in x and in y)
    of the kept point before it, so the thinned line is within ``resolution`` of every point
    of the full one: invisible on a chart whose axes span about 1 (2.5e-4 of a 1,000-pixel
    axis is a quarter of a pixel). A ROC curve keeps at most 2 / resolution + 2 points
    whatever the number of rows.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) <= 2:
        return np.arange(len(x))
    walked = np.r_[0.0, np.cumsum(np.abs(np.diff(x)) + np.abs(np.diff(y)))]
    step = np.floor(walked / resolution)
    keep = np.r_[True, step[1:] != step[:-1]]
    keep[-1] = True
    return np.flatnonzero(keep)


def ranking_metrics(y_true, score, top_fraction: float = 0.1) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), top-fraction lift and capture rate."""
    y, s = _as_arrays(y_true, score)
    both = len(np.unique(y)) == 2
    lift, capture = top_fraction_capture(y, s, top_fraction)
    return {
        "roc_auc": float(roc_auc_score(y, s)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, s)) if both else float("nan"),
        "top_decile_lift": lift,
        "top_decile_capture_rate": capture,
    }


def probability_metrics(
    y_true, probability, n_bins: int = 10, strategy: str = "quantile"
) -> dict[str, float]:
    """Log loss, Brier score and expected calibration error of probabilities."""
    y, p = _as_arrays(y_true, probability)
    if (p < 0).any() or (p > 1).any():
        raise ValueError("probabilities must lie in [0, 1]")
    return {
        "log_loss": float(log_loss(y, np.clip(p, EPSILON, 1 - EPSILON), labels=[0, 1])),
        "brier_score": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p, n_bins, strategy),
        "mean_predicted": float(p.mean()),
        "observed_rate": float(y.mean()),
    }


def classification_metrics(
    y_true,
    score,
    *,
    is_probability: bool = True,
    top_fraction: float = 0.1,
    n_bins: int = 10,
    strategy: str = "quantile",
) -> dict[str, float]:
    """Ranking metrics, plus the probability metrics when ``score`` is a probability."""
    metrics = ranking_metrics(y_true, score, top_fraction)
    if is_probability:
        metrics |= probability_metrics(y_true, score, n_bins, strategy)
    metrics["rows"] = len(np.asarray(y_true))
    metrics["positives"] = int(np.asarray(y_true, dtype=float).sum())
    return metrics


def proportion_interval(count, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion count / n (Wilson 1927; Brown, Cai & DasGupta
    2001 recommend it over the Wald interval for small n or rates near 0): elementwise
    (low, high); NaN where n is 0."""
    count = np.asarray(count, dtype=float)
    n = np.asarray(n, dtype=float)
    z = float(stats.norm.ppf(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = count / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return np.where(n > 0, centre - half, np.nan), np.where(n > 0, centre + half, np.nan)


def nps_interval(
    promoters_share, detractors_share, n, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Normal interval of NPS = 100 (P - D) from n answers: the answer is +1, 0 or -1, so
    var(NPS) = 100^2 (P + D - (P - D)^2) / n."""
    p = np.asarray(promoters_share, dtype=float)
    d = np.asarray(detractors_share, dtype=float)
    n = np.asarray(n, dtype=float)
    z = float(stats.norm.ppf(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        half = 100 * z * np.sqrt(np.maximum(p + d - (p - d) ** 2, 0.0) / n)
    centre = 100 * (p - d)
    return centre - half, centre + half


def expected_total(probability, value=None, level: float = 0.9) -> dict[str, float]:
    """Expected number of churners (or value lost, with ``value``) among customers who churn
    independently with ``probability``, and a central ``level`` interval.

    The total is a sum of independent Bernoulli(p_i) x v_i: mean sum p_i v_i, variance
    sum p_i (1 - p_i) v_i^2 (Poisson-binomial); the interval is the normal approximation,
    clipped at 0. It is the spread of what happens given the probabilities, not the
    uncertainty of the probabilities themselves.
    """
    p = np.clip(np.asarray(probability, dtype=float), 0.0, 1.0)
    v = np.ones_like(p) if value is None else np.nan_to_num(np.asarray(value, dtype=float))
    mean = float((p * v).sum())
    sd = float(np.sqrt((p * (1 - p) * v**2).sum()))
    z = float(stats.norm.ppf(0.5 + level / 2))
    return {"expected": mean, "low": max(0.0, mean - z * sd), "high": mean + z * sd, "level": level}
