"""hubspot settings: the API base and the CRM objects; the private-app token is the secret."""

from __future__ import annotations

from pydantic import Field, field_validator

from ..base import Secrets, Strict, check_names, check_url


class HubSpotConfig(Strict):
    base_url: str = "https://api.hubapi.com"
    objects: list[str] = Field(default_factory=lambda: ["companies", "contacts", "deals"], min_length=1)

    @field_validator("base_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        return check_url(value)

    @field_validator("objects")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return check_names(value)


class HubSpotSecrets(Secrets):
    access_token: str = Field(min_length=1)
