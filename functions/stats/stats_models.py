"""The response shapes the statistics routes document.

Responses are built as JSON by PostgreSQL (stats.sql) or by the route and pass through untouched;
these models exist for the OpenAPI document only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.schemas import DOCS_ONLY


class PublicStats(BaseModel):
    """The latest snapshot's public numbers; every field is null before the first run."""

    model_config = DOCS_ONLY

    generated_at: datetime | None = Field(description="When the snapshot's scheduled run was due (UTC)")
    users: int | None
    posts_published: int | None
    comments: int | None = Field(description="Comments neither deleted nor hidden")
    post_views: int | None
    post_likes: int | None


class StatsPoint(BaseModel):
    model_config = DOCS_ONLY

    at: datetime = Field(description="The snapshot's scheduled time (UTC)")
    value: float | None = Field(description="The metric at that time; null where it was not measured")


class StatsHistory(BaseModel):
    """One metric's recorded points since `since`, oldest first."""

    model_config = DOCS_ONLY

    metric: str
    points: list[StatsPoint]


class Health(BaseModel):
    """The database answered; the newest migration applied to it."""

    model_config = DOCS_ONLY

    status: Literal["ok"]
    database: Literal["reachable"]
    schema_version: int = Field(description="The newest applied migration's number (0 before any)")
