"""Parameter blocks of the stages that predict and act: the churn model, campaign analysis,
scoring and the retention plan, monitoring, the report. One model per block; each key's
description is its documentation (README's "Parameter reference" is generated from it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, create_model

from .features import DRIVER_GROUPS
from .parameter_blocks import Horizon
from .parameter_types import (
    Auto,
    AutoFlag,
    Block,
    Count,
    Days,
    IsoDate,
    Name,
    Names,
    NonNegative,
    NonNegativeInt,
    OpenShare,
    Positive,
    Problem,
    RowCap,
    Seed,
    Segments,
    Share,
    Shown,
)

PromotionMetric = Literal[
    "roc_auc",
    "pr_auc",
    "top_decile_lift",
    "top_decile_capture_rate",
    "log_loss",
    "brier_score",
    "ece",
]
"""The metrics the backtest and the promotion can judge by (``churn_model.common``)."""
UnitInterval = Annotated[float, Field(gt=0, le=1), Shown("number", "number in (0, 1]")]
AboveOne = Annotated[
    Annotated[float, Field(gt=1)] | None,
    Shown("number or null", "number > 1, or null (no check)"),
]


class XgbBooster(Block):
    """XGBoost tree parameters, passed to XGBoost as they are. Only those listed are accepted
    (a misspelt name would be ignored by XGBoost); unset ones keep XGBoost's defaults."""

    max_depth: Count | None = Field(None, description="Depth of each tree")
    learning_rate: UnitInterval | None = Field(None, description="Shrinkage per tree (eta)")
    min_child_weight: NonNegative | None = Field(
        None, description="Minimum sum of instance weight (hessian) in a leaf"
    )
    subsample: UnitInterval | None = Field(None, description="Row share sampled for each tree")
    colsample_bytree: UnitInterval | None = Field(
        None, description="Column share sampled for each tree"
    )
    colsample_bylevel: UnitInterval | None = Field(
        None, description="Column share sampled for each depth level"
    )
    colsample_bynode: UnitInterval | None = Field(
        None, description="Column share sampled for each split"
    )
    reg_lambda: NonNegative | None = Field(None, description="L2 penalty on leaf weights")
    reg_alpha: NonNegative | None = Field(None, description="L1 penalty on leaf weights")
    gamma: NonNegative | None = Field(None, description="Minimum loss reduction to split")
    max_delta_step: NonNegative | None = Field(None, description="Cap on a leaf's weight step")
    max_bin: Annotated[int, Field(ge=2), Shown("integer", "integer ≥ 2")] | None = Field(
        None, description="Histogram bins per feature"
    )
    max_cat_to_onehot: Count | None = Field(
        None, description="Categories with fewer levels are split one-hot"
    )
    nthread: Count | None = Field(
        None, description="Threads; fixed, with seed, for reproducible models"
    )


class ChurnBooster(XgbBooster):
    """The churn model's XGBoost tree parameters: ``min_child_weight`` may also be auto."""

    min_child_weight: Annotated[
        Auto | Annotated[float, Field(ge=0)] | None,
        Shown("auto or number", "auto or number ≥ 0"),
    ] = Field(
        None,
        description="Minimum sum of instance weight in a leaf; auto: 100, or 2% of the "
        "training rows below 5,000 rows (small data sets)",
    )


# ---------------------------------------------------------------- churn_model


class Split(Block):
    min_labelled_snapshots: Annotated[int, Field(ge=2), Shown("integer", "integer ≥ 2")] = Field(
        description="Fewer labelled snapshots -> a customer-grouped stratified random split"
    )
    gap_snapshots: Annotated[
        Auto | Annotated[int, Field(ge=0)], Shown("auto or integer", "auto or integer ≥ 0")
    ] = Field(
        description="Snapshots left out before the test snapshot. auto: those whose label "
        "horizon reaches past it; an integer leaves that many out (0 = overlapping horizons)"
    )
    calibration_share: OpenShare = Field(
        description="Customers of the latest training snapshot held out (all their rows) for "
        "early stopping and calibration"
    )
    fallback_folds: Annotated[int, Field(ge=2), Shown("integer", "integer ≥ 2")] = Field(
        description="Grouped random split: test = 1/folds of the customers, valid = 1/(folds-1) "
        "of the rest"
    )
    max_training_rows: RowCap = Field(
        description="Random sample of the training rows above this (null = all); valid / test "
        "never sampled"
    )


class Backtest(Block):
    cutoffs: Count = Field(
        description="Rolling-origin backtest at the latest this many labelled snapshots"
    )
    selection_metric: PromotionMetric = Field(
        description="The metric the backtest chooses the deployed candidate by"
    )
    model: Literal["auto", "xgboost", "logistic"] = Field(
        description="auto: logistic unless XGBoost's mean advantage over the cutoffs exceeds "
        "its standard error; xgboost | logistic force one"
    )
    max_training_rows: Annotated[
        Literal["same"] | Annotated[int, Field(gt=0)] | None,
        Shown("same, integer or null", "same (= split.max_training_rows), integer > 0 or null"),
    ] = Field(description="Training-row cap of each backtest fit")


class LeadTime(Block):
    already_leaving_signals: Names = Field(
        description='Snapshot columns that mean "already leaving" (a signal when > 0); the '
        "model card reports the metrics without those customers"
    )


class ChurnXgboost(Block):
    tree_method: Literal["hist", "approx"] = Field(
        description="XGBoost tree method (both handle the native categorical columns)"
    )
    num_boost_round: Count = Field(
        description="Upper bound; early stopping picks the number of trees"
    )
    early_stopping_rounds: Count = Field(
        description="Stop when the validation metric has not improved for this many rounds"
    )
    early_stopping_metric: Literal["auc", "aucpr", "logloss", "error"] = Field(
        description="Validation metric of early stopping; a ranking metric (auc, aucpr) is "
        "unaffected by scale_pos_weight"
    )
    early_stopping_rows: RowCap = Field(
        description="Random sample of the validation rows watched for early stopping (null = "
        "all); calibration uses them all"
    )
    scale_pos_weight: Annotated[
        Literal["balanced", "none"] | Annotated[float, Field(gt=0)] | None,
        Shown("text or number", "balanced (negatives / positives), a number > 0, or none / null"),
    ] = Field(
        description="Class weight of churners; the calibration maps the inflated raw "
        "probabilities back to honest ones"
    )
    booster: ChurnBooster = Field(description="XGBoost tree parameters")


class Calibration(Block):
    method: Literal["platt", "isotonic"] = Field(
        description="platt (logistic on the log-odds) or isotonic"
    )


class Baseline(Block):
    C: Positive = Field(description="Inverse regularisation strength of the logistic regression")
    max_iter: Count = Field(description="Iterations of the logistic regression's solver")


class Bootstrap(Block):
    replicates: NonNegativeInt = Field(description="Bootstrap replicates; 0 = no intervals")
    level: OpenShare = Field(description="Confidence level of the intervals")
    seed: Seed = Field(description="Random seed (globals.yml `seed`)")
    max_customers: RowCap = Field(
        description="Above this many test customers, a seeded subsample with the widths scaled "
        "by sqrt(subsample / all)"
    )


class Evaluation(Block):
    top_fraction: OpenShare = Field(description="Top-decile lift and capture rate: this share")
    ece_bins: Annotated[int, Field(ge=2), Shown("integer", "integer ≥ 2")] = Field(
        description="Bins of the expected calibration error"
    )
    ece_strategy: Literal["quantile", "uniform"] = Field(
        description="quantile (equal-count bins) or uniform (equal-width on [0, 1])"
    )
    bootstrap: Bootstrap = Field(
        description="95% intervals of ROC-AUC, PR-AUC and lift: customers resampled (Poisson "
        "bootstrap), percentile intervals"
    )


class Promotion(Block):
    metric: PromotionMetric = Field(
        description="The metric champion and challenger are compared on"
    )
    tolerance: NonNegative = Field(
        description="The refitted model replaces the promoted one unless it is worse by more "
        "than this"
    )


class ChurnModel(Block):
    seed: Seed = Field(description="Random seed (globals.yml `seed`)")
    horizon_days: Horizon = Field(description="The label horizon (globals.yml `horizon_days`)")
    exclude_features: Names = Field(
        description="Model inputs to leave out (default: every column except ids / label / "
        "bookkeeping)"
    )
    split: Split = Field(
        description="Temporal split: test on the last labelled snapshot, train on the "
        "snapshots whose labels are known by then"
    )
    backtest: Backtest = Field(
        description="Rolling-origin backtest of XGBoost and the logistic regression"
    )
    lead_time: LeadTime = Field(description="How early is the warning")
    xgboost: ChurnXgboost = Field(description="The gradient-boosted churn model")
    calibration: Calibration = Field(description="Calibration fitted on the validation rows")
    baseline: Baseline = Field(description="Logistic-regression benchmark")
    evaluation: Evaluation = Field(description="Test-set evaluation")
    promotion: Promotion = Field(description="Champion / challenger promotion")


# ---------------------------------------------------------------- campaign_analysis


class Uplift(Block):
    learner: Literal["x", "t"] = Field(
        description="x: X-learner (Künzel et al. 2019); t: two models (T-learner)"
    )
    rounds: Count = Field(description="Boosting rounds of every XGBoost inside (no early stopping)")
    booster: XgbBooster = Field(description="XGBoost tree parameters of the learners")
    holdout_share: OpenShare = Field(
        description="Customers of each arm held out for the Qini curve and the plan comparison"
    )
    target_share: UnitInterval = Field(
        description="The share of customers the two compared plans contact"
    )
    min_customers: Count = Field(
        description="Campaigns with fewer followed-up customers get no uplift model"
    )
    exclude_features: Names = Field(description="Snapshot columns the learners leave out")


class CampaignAnalysis(Block):
    seed: Seed = Field(description="Random seed (globals.yml `seed`)")
    horizon_days: Days = Field(
        description="Churn within this many days after the treatment date (globals.yml "
        "`horizon_days`)"
    )
    alpha: OpenShare = Field(
        description='Significance level: 1 - alpha intervals; "significant" below it'
    )
    power: OpenShare = Field(
        description="Power of the minimum detectable effect and the size calculation"
    )
    intended_treatment_share: OpenShare = Field(
        description="The split the campaigns were designed with (sample-ratio test)"
    )
    srm_alpha: OpenShare = Field(
        description="A sample-ratio-mismatch p-value below it flags the campaign"
    )
    balance_threshold: Positive = Field(
        description="|Standardised mean difference| above it flags a covariate"
    )
    balance_covariates: Annotated[
        Auto | list[Name], Shown("auto or list", "auto (every snapshot feature) or a list")
    ] = Field(description="Covariates of the balance check")
    target_reduction: OpenShare = Field(
        description="Churn-rate reduction (rate points) the next campaign should detect"
    )
    min_customers_per_arm: Count = Field(description="Smaller campaigns are listed, not analysed")
    uplift: Uplift = Field(
        description="Uplift: which customers each action keeps (a meta-learner per campaign)"
    )


# ---------------------------------------------------------------- scoring, retention_plan


class Sanity(Block):
    max_mean_ratio: AboveOne = Field(
        description="Scoring stops when the mean churn probability is more than this many times "
        "the training churn rate, or less than its inverse"
    )


class Actions(Block):
    by_driver: dict[str, Name] = Field(
        description="Retention action by the top driver's feature name, then by its driver group"
    )
    fallback: Name = Field(description="The action when no by_driver entry matches")


class Scoring(Block):
    top_reasons: Count = Field(description="reason_1 .. reason_N: drivers that push the risk up")
    approximate_shap: AutoFlag = Field(
        description="auto: exact TreeSHAP up to exact_shap_max_rows customers, approximate "
        "(Saabas) contributions above; true / false force one"
    )
    exact_shap_max_rows: Count = Field(description="See approximate_shap")
    sanity: Sanity = Field(description="The score sanity check")
    actions: Actions = Field(description="Retention action for the customer's top driver")


SaveRates = create_model(
    "SaveRates",
    __base__=Block,
    __doc__="Save rate by driver group (the groups of core.features).",
    **{
        group: (Share | None, Field(None, description=f"Save rate when the top driver is {group}"))
        for group in sorted(set(DRIVER_GROUPS.values()))
    },
)


class RetentionPlan(Block):
    budget: NonNegative = Field(description="Retention budget for this campaign")
    cost_per_contact: Positive = Field(
        description="Cost of one retention action (without campaign data)"
    )
    control_share: Annotated[float, Field(ge=0, lt=1), Shown("number", "number in [0, 1)")] = Field(
        description="Share of the chosen customers held back as a control group"
    )
    control_seed: Seed = Field(description="Seeds the control draw")
    save_rate_range: Annotated[
        list[Annotated[float, Field(ge=0)]],
        Field(min_length=2, max_length=2),
        Shown("list", "[low, high]: two numbers ≥ 0, low ≤ high"),
    ] = Field(description="Low / high multiples of the assumed save rates shown with the return")
    default_save_rate: Share = Field(
        description="Share of contacted would-be churners who stay (without a group rate)"
    )
    save_rate_by_driver_group: SaveRates = Field(
        description="Save rate by the driver group of the customer's top reason"
    )

    RULES = ("save_rate_range: low ≤ high",)

    def problems(self) -> Iterator[Problem]:
        low, high = self.save_rate_range
        if low > high:
            yield Problem("save_rate_range", "low must not exceed high")


# ---------------------------------------------------------------- monitoring, reporting


class Monitoring(Block):
    max_reference_rows: RowCap = Field(
        description="Seeded random sample of the training-window rows above this (null = all)"
    )
    seed: Seed = Field(description="Random seed (globals.yml `seed`)")
    psi_bins: Annotated[int, Field(ge=2), Shown("integer", "integer ≥ 2")] = Field(
        description="PSI bins at the reference quantiles"
    )
    psi_epsilon: OpenShare = Field(description="Floor for empty-bin shares (keeps ln finite)")
    feature_psi_threshold: Positive = Field(
        description="A feature drifted when its PSI exceeds this"
    )
    max_drifted_share: Share = Field(
        description="Retrain when the share of the model's features that drifted exceeds this"
    )
    max_drifted_features: Annotated[
        Annotated[int, Field(ge=1)] | None,
        Shown("integer or null", "integer ≥ 1, or null (the share only)"),
    ] = Field(description="Or when at least this many features drifted")
    score_psi_threshold: Positive = Field(
        description="Or when the PSI of the churn probabilities exceeds this"
    )
    score_mean_alert_ratio: AboveOne = Field(
        description="Alert when the mean churn probability is this many times the training "
        "churn rate (or 1 / this)"
    )
    max_model_age_days: Days = Field(
        description="Or when the promoted model is older than this many days"
    )
    evaluation_date: IsoDate | None = Field(
        description="Model age measured up to this date (null: today, UTC)"
    )


class Reporting(Block):
    title: Name = Field(description="Title of the HTML report")
    currency: str = Field(description="Put before money amounts (globals.yml `currency`)")
    horizon_days: Horizon = Field(
        description="The churn horizon the report speaks of (globals.yml)"
    )
    value_at_risk_segments: Segments = Field(
        description="Value at risk by these attributes (globals.yml `segments`)"
    )
    trend_window_months: Count = Field(
        description="Churn trend takeaway: the last N months against the N before"
    )
    min_customers_for_rate: Count = Field(
        description="Minimum group size for a churn rate: months with fewer customers at their "
        "start are left out of the churn chart; support-speed and health-score bands with fewer "
        "customer-months are drawn pale and left out of the takeaways"
    )
    min_nps_responses: Count = Field(
        description="Months with fewer NPS answers are left out of the NPS chart"
    )
    min_cohort_size: Count = Field(
        description="Best / worst cohort only among cohorts at least this large"
    )
    health_bands: Annotated[
        list[Annotated[float, Field(ge=0, le=100)]],
        Field(min_length=2, max_length=2),
        Shown("list", "[low, high] in [0, 100], low < high"),
    ] = Field(description="Health score: below low at risk, high and above healthy")
    high_risk_multiple: Annotated[float, Field(ge=1), Shown("number", "number ≥ 1")] = Field(
        description='"High risk" = churn probability at least this multiple of the average'
    )
    top_customers: Count = Field(description="Rows of the top at-risk table")

    RULES = ("health_bands: low < high",)

    def problems(self) -> Iterator[Problem]:
        low, high = self.health_bands
        if low >= high:
            yield Problem("health_bands", "low must be below high")


# ---------------------------------------------------------------- run_lock


class RunLock(Block):
    when_busy: Literal["wait", "stop"] = Field(
        description="Another run holds the project's run lock (data/.run.lock): wait = queue "
        "behind it (logged); stop = stop at once, naming it"
    )
    max_wait_minutes: Annotated[
        Annotated[float, Field(gt=0)] | None,
        Shown("number or null", "number > 0, or null (no limit)"),
    ] = Field(description="Wait at most this long, then stop")
