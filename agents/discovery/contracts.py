"""Typed contracts of the discovery service (docs/discovery.md describes the HTTP API).

We send `DiscoverRequest` and accept only a response that validates as `DiscoverResponse`;
unknown extra fields are ignored so the service can grow without breaking us.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ASSETS = 5000
RiskLevel = Literal["high", "medium", "low"]


class ConnectionSummary(BaseModel):
    """What the service may know about a connection: never its config or secrets."""

    id: int
    name: str
    kind: str
    status: str


class DiscoverContext(BaseModel):
    connections: list[ConnectionSummary] = Field(default_factory=list)


class DiscoverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str
    tenant_id: str
    kind: Literal["discover", "scan"]
    query: str = Field(default="", max_length=2000)
    max_assets: int = Field(default=1000, ge=1, le=MAX_ASSETS)
    context: DiscoverContext = Field(default_factory=DiscoverContext)


class DiscoveredAsset(BaseModel):
    model_config = ConfigDict(extra="ignore")

    asset_id: str = Field(min_length=1, max_length=500)
    name: str = Field(default="", max_length=500)
    asset_type: str = Field(default="unknown", max_length=100)
    source: str = Field(default="", max_length=200)
    owner: str | None = Field(default=None, max_length=300)
    environment: str | None = Field(default=None, max_length=100)
    entity: str | None = Field(default=None, max_length=100)
    tags: dict[str, Any] = Field(default_factory=dict)
    last_seen: datetime | None = None
    data_classes: list[str] = Field(default_factory=list, max_length=100)
    fields: list[str] = Field(default_factory=list, max_length=2000)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value):
        return value if isinstance(value, dict) else {}

    @field_validator("owner", mode="before")
    @classmethod
    def _owner(cls, value):
        return str(value).strip() or None if value is not None else None


class DiscoverResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    request_id: str | None = None
    summary: str = Field(default="", max_length=5000)
    assets: list[DiscoveredAsset] = Field(default_factory=list, max_length=MAX_ASSETS)


class ClassifiedAsset(DiscoveredAsset):
    risk: RiskLevel = "low"
    reasons: list[str] = Field(default_factory=list)
    domain: str | None = None
