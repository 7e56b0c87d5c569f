"""Parameter blocks of the data stages and the survival and value models: cleaning, snapshots
and labels, retention KPIs, survival analysis, customer lifetime value. One model per block of
``conf/base/parameters_<stage>.yml``; each key's description is its documentation (README's
"Parameter reference" is generated from it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

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
    Shown,
    as_date,
)

Contract = Literal["auto", "contractual", "non_contractual"]
AttributeKind = Literal["numeric", "categorical", "identifier", "free_text", "ignore"]
BandEdges = Annotated[
    list[Annotated[float, Field(gt=0)]],
    Field(min_length=1),
    Shown("list", "increasing numbers > 0, at least one"),
]
Horizon = Days
"""A churn horizon in days; every stage's equals feature_engineering.horizon_days (a rule across
blocks in ``parameter_schema``)."""


def band_edge_problems(key: str, edges: list[float]) -> Iterator[Problem]:
    """Band edges must increase: each band is [edge, next edge)."""
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        yield Problem(key, "band edges must be strictly increasing (each band is [edge, next))")


# ---------------------------------------------------------------- data_cleaning


class AttributeSettings(Block):
    types: dict[str, AttributeKind] = Field(
        description="Declared kinds of customer attribute columns, overriding the inferred "
        "kind: {column: numeric | categorical | identifier | free_text | ignore}"
    )
    max_levels: Count = Field(
        description="Categorical attributes with more levels are high-cardinality: left out of "
        "Cox / AFT / Kaplan-Meier (XGBoost only)"
    )
    max_segment_levels: Annotated[int, Field(ge=2), Shown("integer", "integer ≥ 2")] = Field(
        description="Categorical attributes with 2..this many levels are segments (Kaplan-Meier, "
        "value at risk, sBG)"
    )

    RULES = ("max_segment_levels ≤ max_levels (a segment is a categorical attribute)",)

    def problems(self) -> Iterator[Problem]:
        if self.max_segment_levels > self.max_levels:
            yield Problem(
                "max_segment_levels",
                f"must be ≤ max_levels ({self.max_levels}): a segment is a categorical attribute",
                ("max_levels",),
            )


class DuckdbSettings(Block):
    enabled: bool = Field(
        description="Clean Parquet tables with typed dates and numbers inside DuckDB (same "
        "rules, same outputs); false = clean every table in pandas (the reference path)"
    )
    memory_limit: Annotated[
        str,
        Field(pattern=r"(?i)^\s*\d+(\.\d+)?\s*(%|[KMGT]i?B|B)\s*$"),
        Shown("text", 'a size such as "1500MB", "2GiB" or "50%" (of the memory)'),
    ] = Field(description="DuckDB's memory cap for one table; beyond it DuckDB spills to disk")
    threads: Count = Field(description="DuckDB worker threads")
    temp_directory: str | None = Field(
        description="Where DuckDB spills and stages outputs; null = DuckDB's .tmp / system temp"
    )


class DataCleaning(Block):
    earliest_valid_date: IsoDate = Field(description="Dates before it are quarantined")
    reference_date: IsoDate | None = Field(
        description='Dates after it are "in the future" (quarantined); null = today (UTC)'
    )
    max_amount: Positive = Field(
        description="transactions.amount above it is absurd and quarantined (currency units)"
    )
    max_mrr: Positive = Field(
        description="subscriptions.mrr above it is absurd and quarantined (currency units / month)"
    )
    survey_types: Annotated[
        list[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]],
        Field(min_length=1),
        Shown("list", "lower-case names, at least one (the column is compared lower-cased)"),
    ] = Field(description="Allowed feedback.survey values (case-insensitive)")
    max_quarantine_share: Annotated[
        Annotated[float, Field(ge=0, le=1)] | None,
        Shown("number or null", "number in [0, 1], or null (no check)"),
    ] = Field(
        description="A table with a larger share of its rows quarantined stops the run (naming "
        "the table, the share, the top reasons and the first rows); null = no check"
    )
    contract: Contract = Field(
        description="The business model (globals.yml `contract`): contractual (subscriptions "
        "say when a customer leaves), non_contractual (purchases only), or auto (contractual "
        "when the clean subscriptions table has rows)"
    )
    attributes: AttributeSettings = Field(
        description="Extra columns of customers are attributes, each with a kind (numeric, "
        "categorical, high_cardinality, identifier, free_text, constant), inferred unless "
        "declared"
    )
    duckdb: DuckdbSettings = Field(
        description="Cleaning inside DuckDB of the tables that refer to customers, when their "
        "raw file is Parquet with typed dates and numbers"
    )

    RULES = ("earliest_valid_date < reference_date, when the reference date is set",)

    def problems(self) -> Iterator[Problem]:
        if self.reference_date is not None and as_date(self.earliest_valid_date) >= as_date(
            self.reference_date
        ):
            yield Problem(
                "reference_date",
                f"must be after earliest_valid_date ({self.earliest_valid_date}): every date "
                "would be quarantined",
                ("earliest_valid_date",),
            )


# ---------------------------------------------------------------- feature_engineering


class Windows(Block):
    recent_days: Days = Field(description='The "recent" window before the snapshot date t')
    previous_days: Days = Field(description="The window before the recent one (the trend baseline)")
    usage_lookback_days: Days = Field(
        description="How far back usage features look (caps days_since_last_event)"
    )
    purchase_lookback_days: Days = Field(
        description="How far back purchase recency / frequency look (cap); over a year for "
        "annual billing"
    )
    support_lookback_days: Days = Field(
        description="Tickets considered for response times and open tickets"
    )

    RULES = (
        "every lookback (usage_lookback_days, purchase_lookback_days, support_lookback_days) ≥ "
        "recent_days + previous_days: a shorter lookback cuts the previous window short and "
        "the trend features compare unequal windows",
    )

    def problems(self) -> Iterator[Problem]:
        span = self.recent_days + self.previous_days
        for key in ("usage_lookback_days", "purchase_lookback_days", "support_lookback_days"):
            if getattr(self, key) < span:
                yield Problem(
                    key,
                    f"must be at least recent_days + previous_days = {span} "
                    f"({self.recent_days} + {self.previous_days}), or the previous window is "
                    "cut short",
                    ("recent_days", "previous_days"),
                )


class FeatureEngineering(Block):
    as_of_date: IsoDate | None = Field(
        description="The newest snapshot (scored); null = the day after the last recorded date"
    )
    history: Literal["auto", "full", "single_snapshot"] = Field(
        description="full: a history of starts and ends; single_snapshot: one export with "
        "tenure and a churn flag converted to the contract; auto: detected (every churn after "
        "every signup = single_snapshot)"
    )
    contract: Contract = Field(
        description="The business model (globals.yml `contract`): contractual (subscriptions "
        "define when a customer leaves), non_contractual (purchases only: left after "
        "inactivity_days without one), or auto (contractual when the clean subscriptions table "
        "has rows)"
    )
    single_snapshot_date: IsoDate | None = Field(
        description="Single-snapshot data: the labelled snapshot, whose label is the churn "
        "flag; null = the day before the first churn"
    )
    n_snapshots: Count = Field(description="How many snapshots, ending at the as-of date")
    snapshot_every_months: Count = Field(description="Spacing of the snapshots, in months")
    horizon_days: Horizon = Field(
        description="Label: churn in (t, t + horizon_days] (globals.yml `horizon_days`)"
    )
    grace_days: NonNegativeInt = Field(
        description="Contractual: a new subscription within this many days continues the episode"
    )
    inactivity_days: Days = Field(
        description="Non-contractual: churned after this many days without a transaction"
    )
    windows: Windows = Field(description="Feature windows before each snapshot date t")

    RULES = ("single_snapshot_date before as_of_date, when both are set",)

    def problems(self) -> Iterator[Problem]:
        if (
            self.single_snapshot_date is not None
            and self.as_of_date is not None
            and as_date(self.single_snapshot_date) >= as_date(self.as_of_date)
        ):
            yield Problem(
                "single_snapshot_date",
                f"must be before as_of_date ({self.as_of_date}): the labelled snapshot comes "
                "before the scored one",
                ("as_of_date",),
            )


# ---------------------------------------------------------------- retention_metrics


class HealthWeights(Block):
    usage: NonNegative = Field(
        description="Percentile of recent events among customers of the same snapshot"
    )
    engagement_trend: NonNegative = Field(description="Recent vs previous usage")
    feedback: NonNegative = Field(description="Latest NPS × 10; 0 once an exit survey is started")
    support: NonNegative = Field(description="Speed of first responses")
    revenue_trend: NonNegative = Field(description="MRR change over the previous window")
    purchase_recency: NonNegative = Field(
        description="Days since the last transaction: a strong signal without subscriptions, "
        "noise with yearly invoices (used when nothing else exists)"
    )


class HealthScore(Block):
    weights: HealthWeights = Field(
        description="Weights of the health-score components, renormalised over the components "
        "whose data are present"
    )
    slow_response_hours: Positive = Field(
        description="A first response this slow (or slower) scores 0 on support"
    )
    inactive_after_days: Days = Field(
        description="No purchase for this long scores 0 on purchase_recency"
    )
    neutral_score: Annotated[float, Field(ge=0, le=100), Shown("number", "number in [0, 100]")] = (
        Field(description="Component value when a customer has no data for it")
    )


class RetentionMetrics(Block):
    support_band_hours: BandEdges = Field(
        description="Edges of the first-response-time bands, hours (globals.yml "
        "`support_band_hours`)"
    )
    health_score: HealthScore = Field(description="The customer health score")

    RULES = ("support_band_hours strictly increasing",)

    def problems(self) -> Iterator[Problem]:
        yield from band_edge_problems("support_band_hours", self.support_band_hours)


# ---------------------------------------------------------------- survival_analysis


class Cox(Block):
    penalizer: NonNegative = Field(description="Small ridge penalty; keeps one-hot fits stable")
    ph_alpha: OpenShare = Field(
        description="Schoenfeld test p-value below which an attribute is stratified"
    )
    ph_test_max_customers: RowCap = Field(
        description="The Schoenfeld test runs on a seeded sample above this (lifelines' cost is "
        "quadratic in rows)"
    )
    ph_test_max_values: RowCap = Field(
        description="... and on fewer rows for wide designs: rows × covariates at most this "
        "(cost ~ rows² × covariates); null = no such cap"
    )
    max_strata: NonNegativeInt = Field(
        description="At most this many PH-violating categorical attributes are stratified "
        "(smallest p first) for the risk scores and curves"
    )
    max_strata_groups: RowCap = Field(
        description="... and an attribute is not stratified when it would make more strata "
        "(level combinations) than this; null = no cap"
    )


class Landmark(Block):
    enabled: AutoFlag = Field(
        description="auto: fitted when 2+ labelled snapshots have churners (else the Cox curves "
        "feed CLV); true: required; false: off"
    )
    penalizer: NonNegative = Field(description="Ridge penalty of the landmark Weibull model")
    horizon_months: Count = Field(description="Survival curves for CLV run out to this many months")
    max_training_rows: RowCap = Field(
        description="Larger histories are sampled (seeded) to bound fit time"
    )


class Boosted(Block):
    enabled: AutoFlag = Field(description="auto: fitted whenever the landmark model is; false: off")
    distribution: Literal["normal", "logistic", "extreme"] = Field(
        description="Law of Z in ln T = mu(x) + sigma Z (extreme: Gumbel-min, a Weibull AFT "
        "with trees)"
    )
    distribution_scale: Positive = Field(description="sigma: spread of ln T around mu(x)")
    learning_rate: Annotated[float, Field(gt=0, le=1), Shown("number", "number in (0, 1]")] = Field(
        description="Shrinkage per tree"
    )
    max_depth: Count = Field(description="Depth of each tree (interactions of up to this many)")
    min_child_weight: NonNegative = Field(
        description="Minimum sum of hessians in a leaf, in AFT-loss units (not rows)"
    )
    num_boost_round: Count = Field(description="Upper bound; early stopping ends far sooner")
    early_stopping_rounds: Count = Field(
        description="Stop when the held-out aft-nloglik has not improved for this many rounds"
    )
    early_stopping_share: OpenShare = Field(
        description="Share of the training customers (all their snapshots) held out for early "
        "stopping"
    )
    max_training_rows: RowCap = Field(description="The scoring refit samples above this (seeded)")
    min_brier_improvement: NonNegative = Field(
        description="The boosted curves feed CLV only when their integrated Brier score beats "
        "the landmark model's by more than this (and the C-index is not lower)"
    )


class SurvivalAnalysis(Block):
    seed: Seed = Field(description="Random seed (globals.yml `seed`)")
    horizon_days: Horizon = Field(
        description="Cox risk scores: P(churn within this many days) (globals.yml `horizon_days`)"
    )
    test_share: OpenShare = Field(description="Customers held out for the C-index of Cox and AFT")
    max_customers: RowCap = Field(
        description="Cox and AFT fit on a seeded sample above this (null = all)"
    )
    km_segments: Segments = Field(
        description="Static attributes compared by Kaplan-Meier (globals.yml `segments`); auto: "
        "the categorical attributes with 2..data_cleaning.attributes.max_segment_levels levels"
    )
    km_max_segments: Annotated[
        Annotated[int, Field(gt=0)] | None,
        Shown("integer or null", "integer > 0, or null (no cap)"),
    ] = Field(
        description="With km_segments auto, at most this many static segments are compared: "
        "those with the smallest log-rank p-values (a configured list is compared whole)"
    )
    exclude_attributes: Names = Field(
        description="Attributes the survival models and segment breakdowns leave out (XGBoost "
        "still uses them)"
    )
    max_covariates: Annotated[
        Annotated[int, Field(gt=0)] | None,
        Shown("integer or null", "integer > 0, or null (no cap)"),
    ] = Field(
        description="Guard for wide customer tables: when the static attributes give more "
        "design columns than this, Cox, Weibull AFT and the landmark model keep only the "
        "attributes ranked strongest by a univariate log-rank / Cox score test, whole, while "
        "their columns fit (cox_summary.json: attribute_screen); null = no cap"
    )
    keep_attributes: Names = Field(
        description="Attributes that screen always keeps (also: a configured km_segments list, "
        "reference_levels keys)"
    )
    landmark_km_segments: Names = Field(
        description="Snapshot columns compared by Kaplan-Meier at the first labelled snapshot"
    )
    support_band_hours: BandEdges = Field(
        description="First-response bands for support_speed_band, hours (globals.yml "
        "`support_band_hours`)"
    )
    survival_at_months: Annotated[
        list[Annotated[int, Field(gt=0)]],
        Field(min_length=1),
        Shown("list", "integers > 0 (months), at least one"),
    ] = Field(description="Months at which survival is reported")
    km_min_at_risk: Count = Field(
        description="The report's curves (km_curves.csv) stop where fewer customers remain "
        "under observation"
    )
    reference_levels: dict[str, Name] = Field(
        description='Hazard ratios read "vs this level" ({attribute: level}); other attributes: '
        "the most frequent level"
    )
    cox: Cox = Field(description="Cox proportional-hazards model")
    landmark: Landmark = Field(
        description="Landmark model (Weibull PH on snapshots): each active customer's "
        "conditional survival curve"
    )
    landmark_exclude: Names = Field(
        description="Snapshot columns the landmark model leaves out (collinear with other inputs)"
    )
    boosted: Boosted = Field(
        description="The landmark model's challenger: XGBoost survival:aft on the same "
        "snapshots, inputs and evaluation"
    )

    RULES = ("support_band_hours strictly increasing",)

    def problems(self) -> Iterator[Problem]:
        yield from band_edge_problems("support_band_hours", self.support_band_hours)


# ---------------------------------------------------------------- clv


class Cohort(Block):
    first_purchase_from: IsoDate | None = Field(
        None, description="First purchase on or after this date (null = no lower bound)"
    )
    first_purchase_to: IsoDate | None = Field(
        None, description="First purchase on or before this date (null = no upper bound)"
    )


class BgNbd(Block):
    calibration_end: IsoDate | None = Field(
        description="First day of the holdout of the calibration / holdout check; null = the "
        "as-of date minus a third of the history, in whole weeks"
    )
    cohort: Cohort | None = Field(
        description="Fit on one acquisition cohort only; null = every customer. All customers "
        "are valued"
    )

    RULES = ("cohort.first_purchase_from ≤ cohort.first_purchase_to, when both are set",)

    def problems(self) -> Iterator[Problem]:
        cohort = self.cohort
        if (
            cohort is not None
            and cohort.first_purchase_from is not None
            and cohort.first_purchase_to is not None
            and as_date(cohort.first_purchase_from) > as_date(cohort.first_purchase_to)
        ):
            yield Problem(
                "cohort.first_purchase_to",
                f"must not be before cohort.first_purchase_from ({cohort.first_purchase_from}):"
                " the cohort would be empty",
                ("cohort.first_purchase_from",),
            )


class Sbg(Block):
    segment: Annotated[
        Auto | None | Name,
        Shown("text or null", "auto, null (one sBG for everybody) or an attribute name"),
    ] = Field(
        description="One sBG per level of this attribute; auto: the first segment attribute of "
        "the run plan; null: one sBG for everybody"
    )
    observed_months: Count = Field(
        description="Cohort = customers observable for at least this many months"
    )
    min_cohort: Count = Field(description="Smaller cohorts are skipped")


class Clv(Block):
    currency: str = Field(description="Put before money amounts in the charts (globals.yml)")
    gross_margin: Annotated[float, Field(gt=0, le=1), Shown("number", "number in (0, 1]")] = Field(
        description="Share of revenue kept as margin"
    )
    annual_discount_rate: Annotated[
        float, Field(ge=0, lt=1), Shown("number", "number in [0, 1)")
    ] = Field(description="Per year; converted to a monthly rate by compounding")
    horizon_months: Count = Field(
        description="Months of future value counted (≤ survival_analysis.landmark.horizon_months)"
    )
    churn_horizon_days: Horizon = Field(
        description="Contractual churn_probability = 1 - S(this horizon, in whole months) "
        "(globals.yml `horizon_days`)"
    )
    value_at_risk_segments: Segments = Field(
        description="Value at risk by these attributes (globals.yml `segments`); auto: the "
        "segment attributes of the run plan"
    )
    bg_nbd: BgNbd = Field(description="Purchase data (no subscriptions): BG/NBD + Gamma-Gamma")
    sbg: Sbg = Field(description="The shifted-beta-geometric cross-check of contractual CLV")
