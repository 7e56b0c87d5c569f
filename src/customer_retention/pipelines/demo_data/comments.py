"""Free-text comments of the demo feedback table, with planted themes.

Each comment is written about one planted theme (``THEMES``): one of several core phrasings of
the theme, often followed by one of several detail clauses, its slots filled (a tool, a
competitor, a number of days), with noise -- a filler before or after, a typo, lower or upper
case -- so that no theme is one fixed sentence. Most comments follow the answer's coded reason (the exit reason, or the NPS
reason), but not all, as in real surveys:

* ``UNCODED_SHARE`` of the exit comments and of the NPS comments of detractors and passives
  are about app reliability (crashes, outages, sync errors), a theme the exit code list has no
  code for: the customer picked whatever code came closest;
* ``OTHER_THEME_SHARE`` of the exit comments are about another coded theme than the reason
  picked (the customer ticked one box and wrote about another).

``NPS_COMMENT_SHARE`` of the NPS answers carry a comment (more of the detractors' than of the
promoters'); every exit answer does. The draws
come from their own random stream (seed, ``COMMENT_SEED_OFFSET``): every other table of the
demo data, and the feedback table apart from its ``comment`` column, is the same as without
themed comments. The planted theme of every comment is in the ground truth (``comments``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

COMMENT_SEED_OFFSET = 30  # comments draw from their own stream: other tables stay the same
# Share of the NPS answers with a comment, by score: unhappy customers write more.
NPS_COMMENT_SHARE = {"detractor": 0.6, "passive": 0.25, "promoter": 0.15}
UNCODED_SHARE = 0.15
OTHER_THEME_SHARE = 0.10
FILLER_SHARE = 0.3
TYPO_SHARE = 0.15

# Planted theme -> the exit reason that codes it (None: no code), the NPS reasons it follows,
# and its phrasings: a comment is one core clause (each names the theme in one of a few words)
# and, often, a second clause: another core or a detail of the same theme, drawn at random, so
# that the clauses of a theme are used together in every combination (no phrase of a theme
# forms a sub-theme of its own).
THEMES: dict[str, dict[str, Any]] = {
    "price": {
        "exit_reason": "too_expensive",
        "nps_reasons": ("too expensive",),
        "cores": (
            "the price is too high",
            "too expensive",
            "the price went up {pct}%",
            "too expensive per seat",
            "we cannot justify the price",
            "it got far too expensive",
        ),
        "details": (
            "for what we actually use",
            "at renewal",
            "for a small team like ours",
            "and finance would not approve the budget",
            "compared with last year",
        ),
    },
    "support": {
        "exit_reason": "poor_support",
        "nps_reasons": ("slow support",),
        "cores": (
            "support took {n} days to answer our ticket",
            "nobody in support replied to our ticket",
            "support is far too slow",
            "support tickets stay open for weeks",
            "we had to chase support {n} times",
            "support never answers our tickets",
        ),
        "details": (
            "even for urgent problems",
            "and the answers did not help",
            "while our team was blocked",
            "every time we asked a question",
            "which made us miss a client deadline",
        ),
    },
    "missing_features": {
        "exit_reason": "missing_features",
        "nps_reasons": ("missing features",),
        "cores": (
            "missing features, no integration with {tool}",
            "key features are missing",
            "the {feature} feature is missing",
            "the reporting features are too limited",
            "we kept waiting for the {feature} feature",
            "features are missing, for example an integration with {tool}",
        ),
        "details": (
            "so we exported everything by hand",
            "and the API does not cover it",
            "which our workflow depends on",
            "that every other tool has",
            "for our compliance team",
        ),
    },
    "competitor": {
        "exit_reason": "switched_to_competitor",
        "nps_reasons": (),
        "cores": (
            "we switched to a competitor",
            "a competitor offered us a better deal",
            "switched to {brand}, a competitor",
            "{brand}, a competitor, made us a better offer",
            "our parent company switched to a competitor",
        ),
        "details": (
            "after their demo",
            "with a two-year contract",
            "that bundles it with our CRM",
            "which our new director prefers",
            "at the end of our term",
        ),
    },
    "no_longer_needed": {
        "exit_reason": "no_longer_needed",
        "nps_reasons": (),
        "cores": (
            "we no longer need it",
            "the project ended, so we no longer need it",
            "no longer needed, the project we bought it for is over",
            "we no longer need the tool since the department closed",
            "our seasonal project is over, no longer needed",
        ),
        "details": (
            "after the reorganisation",
            "after the merger",
            "since the client contract finished",
            "and nobody else in the company uses it",
            "for now at least",
        ),
    },
    "usability": {
        "exit_reason": "hard_to_use",
        "nps_reasons": (),
        "cores": (
            "it is hard to use",
            "the interface is confusing",
            "confusing and hard to use",
            "the interface is hard to navigate",
            "our team found it hard to use",
        ),
        "details": (
            "for non-technical staff",
            "even after the training",
            "so people went back to spreadsheets",
            "and the documentation did not help",
            "for new hires",
        ),
    },
    "reliability": {
        "exit_reason": None,
        "nps_reasons": (),
        "cores": (
            "the app keeps crashing",
            "too many crashes and outages",
            "outages every week",
            "constant bugs and crashes after every update",
            "sync errors and crashes",
            "the service had {n} outages last month",
        ),
        "details": (
            "when we open large reports",
            "during our busiest hours",
            "so we cannot trust the numbers",
            "on the mobile app",
            "and nobody warned us",
        ),
    },
    "praise": {
        "exit_reason": None,
        "nps_reasons": ("good value", "easy to use", "great support", "saves us time"),
        "cores": (
            "great product",
            "great tool",
            "great value for money",
            "we love it",
            "the team loves it",
            "great service",
        ),
        "details": (
            "saves us hours every week",
            "we would recommend it",
            "easy to set up",
            "keep up the good work",
            "works as promised",
        ),
    },
}
SECOND_CLAUSE_SHARE = 0.7
JOINERS = (", ", " and ", "; ")
SLOTS = {
    "tool": ("Salesforce", "HubSpot", "Slack", "SAP", "Jira", "Zendesk"),
    "feature": ("SSO", "custom roles", "audit logs", "offline mode", "scheduled exports"),
    "brand": ("Metricly", "Dashwise", "Acme Analytics", "Chartbase"),
}
PREFIXES = ("Honestly, ", "To be frank, ", "Well, ", "Overall: ", "As I said before, ")
SUFFIXES = (" Thanks.", " Nothing else to add.", " Regards.", " See my earlier answer.", " Cheers!")


def _theme_by_reason(feedback: pd.DataFrame) -> np.ndarray:
    """The planted theme each answer's coded reason stands for (None: no theme)."""
    by_reason = {THEMES[t]["exit_reason"]: t for t in THEMES if THEMES[t]["exit_reason"]}
    by_nps = {reason: t for t in THEMES for reason in THEMES[t]["nps_reasons"]}
    exit_rows = feedback["survey"].to_numpy() == "exit"
    reasons = feedback["reason"].to_numpy(dtype=object)
    return np.array(
        [
            (by_reason if is_exit else by_nps).get(reason)
            for reason, is_exit in zip(reasons, exit_rows, strict=True)
        ],
        dtype=object,
    )


def _typo(text: str, rng: np.random.Generator) -> str:
    """Swap two adjacent letters inside one word of at least five letters."""
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long:
        return text
    i = long[int(rng.integers(len(long)))]
    word = words[i]
    j = int(rng.integers(1, len(word) - 2))
    words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words)


def _write(theme: str, rng: np.random.Generator) -> str:
    """One comment about ``theme``: a phrasing, slots filled, noise added."""
    cores, details = THEMES[theme]["cores"], THEMES[theme]["details"]
    first = int(rng.integers(len(cores)))
    text = cores[first]
    if rng.random() < SECOND_CLAUSE_SHARE:
        others = cores[:first] + cores[first + 1 :] + details
        text += JOINERS[int(rng.integers(len(JOINERS)))] + others[int(rng.integers(len(others)))]
    text = (text[0].upper() + text[1:] + ".").format(
        n=int(rng.integers(2, 10)),
        pct=int(rng.integers(2, 9)) * 5,
        **{slot: values[int(rng.integers(len(values)))] for slot, values in SLOTS.items()},
    )
    if rng.random() < FILLER_SHARE:
        if rng.random() < 0.5:
            text = PREFIXES[int(rng.integers(len(PREFIXES)))] + text[0].lower() + text[1:]
        else:
            text += SUFFIXES[int(rng.integers(len(SUFFIXES)))]
    if rng.random() < TYPO_SHARE:
        text = _typo(text, rng)
    case = rng.random()
    return text.lower() if case < 0.1 else text.upper() if case < 0.13 else text


def plant_comments(feedback: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``feedback`` with themed comments (only the ``comment`` column changes) and the truth."""
    rng = np.random.default_rng([int(seed), COMMENT_SEED_OFFSET])
    themes = _theme_by_reason(feedback)
    survey = feedback["survey"].to_numpy()
    is_exit = survey == "exit"
    score = feedback["score"].to_numpy(dtype=float)
    share = np.select(
        [score <= 6, score <= 8],
        [NPS_COMMENT_SHARE["detractor"], NPS_COMMENT_SHARE["passive"]],
        NPS_COMMENT_SHARE["promoter"],
    )
    writes = is_exit | (rng.random(len(feedback)) < share)
    writes &= pd.notna(themes)
    draw = rng.random(len(feedback))
    unhappy = is_exit | (score <= 8)
    uncoded = writes & unhappy & (draw < UNCODED_SHARE)
    coded = [t for t in THEMES if THEMES[t]["exit_reason"]]
    other = writes & is_exit & ~uncoded & (draw < UNCODED_SHARE + OTHER_THEME_SHARE)
    shift = rng.integers(1, len(coded), len(feedback))
    planted = themes.copy()
    planted[uncoded] = "reliability"
    for i in np.flatnonzero(other):
        planted[i] = coded[(coded.index(themes[i]) + shift[i]) % len(coded)]
    planted[~writes] = None
    comments = np.array(
        [_write(theme, rng) if theme is not None else None for theme in planted], dtype=object
    )
    rows = np.flatnonzero(writes)
    truth = {
        "description": (
            "Planted theme of every comment (rows: customer_id, response_date, survey). "
            "matches_reason: the theme is the one the coded reason stands for; reliability "
            "has no exit code (uncoded), other_theme: an exit comment about another coded "
            "theme than its reason."
        ),
        "themes": {
            theme: {
                "exit_reason": spec["exit_reason"],
                "nps_reasons": list(spec["nps_reasons"]),
                "core_phrasings": len(spec["cores"]),
                "detail_phrasings": len(spec["details"]),
            }
            for theme, spec in THEMES.items()
        },
        "settings": {
            "seed_offset": COMMENT_SEED_OFFSET,
            "nps_comment_share": NPS_COMMENT_SHARE,
            "uncoded_share": UNCODED_SHARE,
            "other_theme_share": OTHER_THEME_SHARE,
            "filler_share": FILLER_SHARE,
            "typo_share": TYPO_SHARE,
            "second_clause_share": SECOND_CLAUSE_SHARE,
        },
        "planted": {
            "exit_comments": int((writes & is_exit).sum()),
            "nps_comments": int((writes & ~is_exit).sum()),
            "exit_uncoded": int((uncoded & is_exit).sum()),
            "exit_other_theme": int(other.sum()),
            "nps_uncoded": int((uncoded & ~is_exit).sum()),
        },
        "rows": {
            "customer_id": feedback["customer_id"].to_numpy()[rows].tolist(),
            "response_date": pd.DatetimeIndex(feedback["response_date"].to_numpy()[rows])
            .strftime("%Y-%m-%dT%H:%M:%S")
            .tolist(),
            "survey": survey[rows].tolist(),
            "theme": planted[rows].tolist(),
            "matches_reason": (planted[rows] == themes[rows]).tolist(),
        },
    }
    return feedback.assign(comment=comments), truth
