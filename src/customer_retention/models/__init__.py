"""Probability models of customer retention and value ("buy 'til you die" family).

Plain numpy / scipy / pandas; no Kedro. Each model follows a small scikit-learn / lifelines
style: ``fit(...)`` returns the model, fitted attributes end in ``_`` (``params_``,
``log_likelihood_``), predictions raise ``NotFittedError`` (a ``ValueError``) before ``fit``,
and ``from_params(...)`` builds a model from published or stored parameters.

Non-contractual setting (customers can leave silently):

* :class:`BetaGeo` -- BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005, "Counting
  your customers the easy way"): probability a customer is still active, expected future
  purchases.
* :class:`GammaGamma` -- spend per transaction (Fader & Hardie 2013; Fader, Hardie & Lee 2005,
  "RFM and CLV"): expected value of a customer's future transactions.
* :func:`rfm_summary` -- frequency / recency / T / monetary value per customer from a
  transaction log (calibration and optional holdout periods).

Contractual setting (renewals are observed):

* :class:`ShiftedBetaGeometric` -- sBG model (Fader & Hardie 2007, "How to project customer
  retention"): survival curve, retention rates, discounted expected residual lifetime
  (Fader & Hardie 2010).

Time to churn:

* :class:`WeibullPH` -- Weibull proportional-hazards regression with a parametric tail,
  fitted in numpy (landmark survival curves for CLV).
* :func:`integrated_brier_score` -- IPCW Brier score of predicted survival curves (Graf et al. 1999).

Simulators for checks and what-if analyses: :func:`simulate_bg_nbd`,
:func:`simulate_gamma_gamma`, :func:`simulate_sbg_cohort`.
"""

from ._validation import NotFittedError
from .bg_nbd import BetaGeo, simulate_bg_nbd
from .gamma_gamma import GammaGamma, simulate_gamma_gamma
from .rfm import rfm_summary
from .sbg import ShiftedBetaGeometric, simulate_sbg_cohort
from .survival_metrics import integrated_brier_score
from .weibull import WeibullPH

__all__ = [
    "BetaGeo",
    "GammaGamma",
    "NotFittedError",
    "ShiftedBetaGeometric",
    "WeibullPH",
    "integrated_brier_score",
    "rfm_summary",
    "simulate_bg_nbd",
    "simulate_gamma_gamma",
    "simulate_sbg_cohort",
]
