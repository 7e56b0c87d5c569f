"""Charts drawn once into PNG bytes, and the HTML rendered from the sections."""

from __future__ import annotations

import base64
import io
import logging
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from matplotlib.figure import Figure

from .blocks import _timestamp_text

logger = logging.getLogger(__name__)


def _png(figure: Figure, dpi: int) -> bytes:
    """The figure as PNG bytes (no text chunk naming the matplotlib version)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def encode_report_charts(
    retention: dict[str, Figure],
    survival: dict[str, Figure],
    model: dict[str, Figure],
    value: dict[str, Figure],
    run: dict[str, Figure],
    campaigns: dict[str, Figure] | None = None,
    feedback: dict[str, Figure] | None = None,
    dpi: int = 100,
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Every section's figure drawn once, as PNG bytes: ``{"<name>.png": bytes}`` for the
    versioned PNG files and ``{name: "data:image/png;base64,..."}`` for the HTML (embedded: no
    file to ship); the file and the embedded image are the same bytes."""
    pngs = {
        name: _png(figure, dpi)
        for section in (retention, survival, model, value, run, campaigns or {}, feedback or {})
        for name, figure in section.items()
    }
    images = {
        name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        for name, png in pngs.items()
    }
    logger.info(
        "Report charts: %s, %s KB embedded",
        len(images),
        f"{sum(len(v) for v in images.values()) // 1024:,}",
    )
    return {f"{name}.png": png for name, png in pngs.items()}, images


def _template_environment() -> Environment:
    return Environment(
        loader=PackageLoader("customer_retention.pipelines.reporting", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(
    summary_section: dict[str, Any],
    retention_section: dict[str, Any],
    survival_section: dict[str, Any],
    model_section: dict[str, Any],
    value_section: dict[str, Any],
    run_section: dict[str, Any],
    report_chart_images: dict[str, str],
    horizon_days: int,
    params: dict[str, Any],
    campaign_section: dict[str, Any] | None = None,
    feedback_section: dict[str, Any] | None = None,
) -> str:
    """Fill the template: one self-contained HTML file (charts embedded, inline CSS, no links
    to anything outside the file)."""
    html = (
        _template_environment()
        .get_template("report.html.j2")
        .render(
            title=params["title"],
            generated_at=_timestamp_text(datetime.now(UTC)),
            horizon_days=horizon_days,
            summary=summary_section,
            retention=retention_section,
            survival=survival_section,
            model=model_section,
            value=value_section,
            run=run_section,
            campaigns=campaign_section
            or {"charts": [], "table": [], "uplift_table": [], "absent": "not run"},
            feedback=feedback_section or {"charts": [], "absent": "not run"},
            images=report_chart_images,
        )
    )
    logger.info("Report: %s KB of HTML", f"{len(html.encode('utf-8')) // 1024:,}")
    return html
