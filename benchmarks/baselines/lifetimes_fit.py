"""Fit the ``lifetimes`` package's BetaGeoFitter on a frequency / recency / T summary.

Runs in the benchmark-only environment benchmarks/.venv-lifetimes (requirements-lifetimes.txt),
never in the project's: it imports nothing from the project.

    benchmarks/.venv-lifetimes/bin/python benchmarks/baselines/lifetimes_fit.py OUT_DIR NAME [N]

reads OUT_DIR/bg_summary_<NAME>.csv (customer_id, frequency, recency, T), fits N times
(default 3; ``fit`` includes lifetimes' Hessian for standard errors, as its users get it) and
writes OUT_DIR/lifetimes_<NAME>.json: best time of the N fits, parameters, and the total log-likelihood
of those parameters under lifetimes' own likelihood function (no penalizer), or the error.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def main(out: Path, name: str, repeat: int) -> dict:
    import lifetimes
    from lifetimes import BetaGeoFitter

    summary = pd.read_csv(out / f"bg_summary_{name}.csv", index_col=0)
    frequency, recency, big_t = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    result: dict = {"version": lifetimes.__version__, "customers": len(summary)}
    times = []
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = BetaGeoFitter(penalizer_coef=0.0).fit(frequency, recency, big_t)
            times.append(time.perf_counter() - started)
    except Exception as error:  # noqa: BLE001 - recorded, not raised: the benchmark goes on
        result["error"] = f"{type(error).__name__}: {' '.join(str(error).split())}"
        result["seconds_until_error"] = time.perf_counter() - started
        return result
    params = {k: float(v) for k, v in model.params_.items()}
    mean_negative = BetaGeoFitter._negative_log_likelihood(
        np.log([params[k] for k in ("r", "alpha", "a", "b")]),
        frequency,
        recency,
        big_t,
        np.ones_like(recency),
        0.0,
    )
    result.update(
        seconds=min(times),
        seconds_each=times,
        params=params,
        log_likelihood=float(-mean_negative * len(summary)),
    )
    return result


if __name__ == "__main__":
    out_dir = Path(sys.argv[1])
    dataset = sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    outcome = main(out_dir, dataset, n)
    (out_dir / f"lifetimes_{dataset}.json").write_text(json.dumps(outcome, indent=2))
