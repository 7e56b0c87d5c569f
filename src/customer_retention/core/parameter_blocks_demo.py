"""The ``demo_data`` parameter block: the synthetic subscription business and its planted
effects (``conf/base/parameters_demo_data.yml``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from pydantic import Field

from .parameter_types import (
    Block,
    Count,
    Days,
    IsoDate,
    Name,
    NonNegative,
    Positive,
    Problem,
    Seed,
    Share,
    Shown,
    as_date,
)

PLAN_LEVELS = ("basic", "pro", "enterprise")
"""Plans the generator knows (its plan changes step through them in this order)."""
TRAIT_LEVELS = {
    "nps_disposition": ("promoter", "passive", "detractor"),
    "support_tier": ("fast", "slow"),
    "engagement": ("normal", "low"),
}
"""Latent traits and their levels: the generator draws answers, tickets and usage from them."""
CONTRACT_LEVELS = ("monthly", "annual")

Shares = Annotated[
    dict[str, Annotated[float, Field(ge=0)]],
    Shown("mapping", "level → share ≥ 0 (normalised to sum to 1)"),
]
Ratios = Annotated[
    dict[str, dict[str, Annotated[float, Field(gt=0)]]],
    Shown("mapping", "attribute → level → hazard ratio > 0"),
]
HalfOpenShare = Annotated[float, Field(ge=0, lt=1), Shown("number", "number in [0, 1)")]
PositiveShare = Annotated[float, Field(gt=0, le=1), Shown("number", "number in (0, 1]")]


class BaselineHazard(Block):
    weibull_shape: Positive = Field(description="k < 1: churn risk falls with tenure")
    weibull_scale_days: Positive = Field(description="s, for the reference customer (days)")


class Subscriptions(Block):
    list_mrr: dict[str, Positive] = Field(
        description="List MRR per seat of each plan (basic, pro, enterprise), currency units "
        "per month"
    )
    mean_extra_seats: NonNegative = Field(description="seats = 1 + Poisson(mean_extra_seats)")
    annual_discount: HalfOpenShare = Field(
        description="Annual contracts pay (1 - discount) × MRR, billed yearly"
    )
    plan_change_share: Share = Field(
        description="Share of customers with a plan change drawn within the data window"
    )
    upgrade_share: Share = Field(description="Of those changes, the share that are upgrades")


class Transactions(Block):
    addon_purchases_per_month: NonNegative = Field(description="Add-on purchases per month")
    addon_mean_amount: Positive = Field(description="Mean add-on amount (currency units)")


class Events(Block):
    mean_events_per_day: Positive = Field(description="Product events per day, normal engagement")
    low_engagement_factor: Positive = Field(
        description="Low-engagement customers use the product this many times as much"
    )
    event_types: Shares = Field(description="Event types and their shares")


class SupportSettings(Block):
    tickets_per_month: NonNegative = Field(description="Support tickets per customer and month")
    first_response_median_hours: dict[str, Positive] = Field(
        description="Median first-response hours by support tier (fast, slow)"
    )
    resolution_median_hours: Positive = Field(description="Median hours to resolution")
    csat_missing_share: Share = Field(description="Share of resolved tickets without a CSAT")


class FeedbackSettings(Block):
    nps_every_days: Days = Field(description="Days between NPS surveys")
    nps_response_rate: Share = Field(description="Share of customers answering each NPS survey")
    exit_survey_response_rate: Share = Field(
        description="Share of churners answering the exit survey"
    )


class Campaign(Block):
    name: Name = Field(description="Campaign name (unique)")
    action: Name = Field(description="The retention action, in words")
    date: IsoDate = Field(description="Treatment date, within [start_date, end_date]")
    enrolled_share: PositiveShare = Field(
        description="Share of the customers active that day enrolled (none twice)"
    )
    treatment_share: Annotated[float, Field(gt=0, lt=1), Shown("number", "number in (0, 1)")] = (
        Field(description="Share of the enrolled treated; the rest are the control group")
    )
    cost: NonNegative = Field(description="Cost of one treatment")
    hazard_ratios: Ratios = Field(
        description="Treatment multiplies the hazard by these ratios of the customer's levels "
        "(< 1 keeps the customer, > 1 backfires; levels not listed: 1)"
    )


class SingleSnapshot(Block):
    enabled: bool = Field(
        description="Write the business as a one-snapshot export (customers + subscriptions)"
    )
    snapshot_date: IsoDate = Field(description="The export's snapshot date")
    churn_within_days: Days = Field(description="Flagged churned when they left within this")
    churn_after_days: Days = Field(
        description="Churners' subscriptions end this many days after the snapshot"
    )
    blank_share: HalfOpenShare = Field(description="Share of blanks in the numeric attributes")
    postcode_levels: Count = Field(description="Levels of the high-cardinality postcode")


class DemoData(Block):
    seed: Seed = Field(description="Random seed of the generator")
    n_customers: Count = Field(
        description="Customers generated (100,000 ~ 10M events; 1,000,000 ~ 100M events)"
    )
    start_date: IsoDate = Field(description="First possible signup")
    end_date: IsoDate = Field(
        description="As-of date of the demo business: nothing happens after it"
    )
    signup_growth: Positive = Field(
        description="Signups per day at end_date / signups per day at start_date"
    )
    attributes: dict[str, Shares] = Field(
        description="Static customer attributes written to customers: {attribute: {level: "
        "share}}; plan (basic, pro, enterprise) and contract_type (monthly, annual) are needed"
    )
    latent_traits: dict[str, Shares] = Field(
        description="Traits only the ground truth records: nps_disposition (promoter, passive, "
        "detractor), support_tier (fast, slow), engagement (normal, low)"
    )
    baseline_hazard: BaselineHazard = Field(
        description="Weibull baseline hazard h0(t) = (k / s) (t / s)^(k - 1), t = tenure in days"
    )
    hazard_ratios: Ratios = Field(
        description="Planted hazard ratios by attribute or trait level; levels absent are the "
        "reference (ratio 1)"
    )
    usage_decline_days: Annotated[
        Annotated[float, Field(ge=0)] | dict[str, Annotated[float, Field(ge=0)]],
        Shown("number or mapping", "number ≥ 0, or contract type → number ≥ 0"),
    ] = Field(
        description="Usage fades over this many days before churn: one number, or by contract "
        "type (naming every contract type)"
    )
    usage_floor: Share = Field(description="Usage fades linearly to this share")
    exit_survey_lead_days: NonNegative = Field(
        description="The exit survey is started up to this many days before the end"
    )
    subscriptions: Subscriptions = Field(description="Subscription terms")
    transactions: Transactions = Field(description="Invoices and add-on purchases")
    events: Events = Field(description="Product-usage events")
    support: SupportSettings = Field(description="Support tickets")
    feedback: FeedbackSettings = Field(description="NPS and exit surveys")
    campaign_horizon_days: Days = Field(
        description="The ground truth's average effect is on churn within this many days"
    )
    campaigns: list[Campaign] = Field(
        description="Randomised retention campaigns in the history (the interventions table)"
    )
    single_snapshot: SingleSnapshot = Field(
        description="The business as a one-snapshot export (the README's conversion rule)"
    )
    dirty_row_share: HalfOpenShare = Field(
        description="Deliberately bad rows for the cleaning stage; 0 = perfectly clean data"
    )

    RULES = (
        "start_date < end_date; campaign dates and (when enabled) single_snapshot.snapshot_date "
        "within them",
        "attributes has plan (levels among basic, pro, enterprise) and contract_type (monthly, "
        "annual); latent_traits has exactly nps_disposition, support_tier and engagement with "
        "their levels; every share mapping has a share > 0",
        "subscriptions.list_mrr prices basic, pro and enterprise; "
        "support.first_response_median_hours has fast and slow",
        "hazard_ratios (also each campaign's) name attributes or traits and their levels; "
        "hazard_ratios leaves at least one level of each attribute out (the reference)",
        "usage_decline_days as a mapping names exactly the contract_type levels",
        "campaign names are unique",
    )

    def _levels(self) -> dict[str, dict[str, float]]:
        return {**self.attributes, **self.latent_traits}

    def problems(self) -> Iterator[Problem]:
        start, end = as_date(self.start_date), as_date(self.end_date)
        if start >= end:
            yield Problem(
                "end_date", f"must be after start_date ({self.start_date})", ("start_date",)
            )
        yield from self._population_problems()
        yield from self._ratio_problems("hazard_ratios", self.hazard_ratios, reference=True)
        seen: set[str] = set()
        for number, campaign in enumerate(self.campaigns):
            key = f"campaigns[{number}]"
            if not start < as_date(campaign.date) <= end:
                yield Problem(
                    f"{key}.date", f"must be within start_date and end_date ({start} to {end})"
                )
            if campaign.name in seen:
                yield Problem(f"{key}.name", "is used by another campaign: names must be unique")
            seen.add(campaign.name)
            yield from self._ratio_problems(f"{key}.hazard_ratios", campaign.hazard_ratios)
        snapshot = self.single_snapshot
        if snapshot.enabled and not start < as_date(snapshot.snapshot_date) < end:
            yield Problem(
                "single_snapshot.snapshot_date",
                f"must be between start_date and end_date ({start} to {end})",
            )
        if isinstance(self.usage_decline_days, dict):
            contracts = set(self.attributes.get("contract_type", {}))
            if set(self.usage_decline_days) != contracts:
                yield Problem(
                    "usage_decline_days",
                    f"must name exactly the contract types {sorted(contracts)}",
                )

    def _population_problems(self) -> Iterator[Problem]:
        required = {"plan": PLAN_LEVELS, "contract_type": CONTRACT_LEVELS}
        for group, wanted, exact in (
            ("attributes", required, False),
            ("latent_traits", TRAIT_LEVELS, True),
        ):
            mapping = getattr(self, group)
            for name in sorted(set(wanted) - set(mapping)):
                yield Problem(group, f"misses {name} (levels {', '.join(wanted[name])})")
            for name in sorted(set(mapping) - set(wanted)) if exact else ():
                yield Problem(
                    f"{group}.{name}",
                    f"is not a trait the generator knows ({', '.join(wanted)})",
                    show_value=False,
                )
            for name, shares in mapping.items():
                unknown = sorted(set(shares) - set(wanted.get(name, shares)))
                if unknown:
                    yield Problem(
                        f"{group}.{name}",
                        f"unknown level(s) {unknown}; the generator knows {list(wanted[name])}",
                    )
                if not any(share > 0 for share in shares.values()):
                    yield Problem(f"{group}.{name}", "needs at least one share > 0")
        if not any(share > 0 for share in self.events.event_types.values()):
            yield Problem("events.event_types", "needs at least one share > 0")
        missing_prices = sorted(set(PLAN_LEVELS) - set(self.subscriptions.list_mrr))
        if missing_prices:
            yield Problem("subscriptions.list_mrr", f"misses a price for {missing_prices}")
        tiers = set(TRAIT_LEVELS["support_tier"])
        if set(self.support.first_response_median_hours) != tiers:
            yield Problem(
                "support.first_response_median_hours", f"must name exactly {sorted(tiers)}"
            )

    def _ratio_problems(
        self, key: str, ratios: dict[str, dict[str, float]], reference: bool = False
    ) -> Iterator[Problem]:
        levels = self._levels()
        for column, by_level in ratios.items():
            if column not in levels:
                yield Problem(
                    f"{key}.{column}",
                    f"is no attribute or trait ({', '.join(levels)}): its ratios would have no "
                    "effect",
                    show_value=False,
                )
                continue
            unknown = sorted(set(by_level) - set(levels[column]))
            if unknown:
                yield Problem(
                    f"{key}.{column}",
                    f"unknown level(s) {unknown} of {column} ({', '.join(levels[column])}): "
                    "their ratios would have no effect",
                )
            if reference and set(levels[column]) <= set(by_level):
                yield Problem(
                    f"{key}.{column}",
                    "gives every level a ratio: leave one out as the reference (ratio 1)",
                )
