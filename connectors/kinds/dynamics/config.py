"""dynamics settings: the Dataverse instance, the Entra app and the entities to read."""

from __future__ import annotations

from pydantic import Field, field_validator

from ..base import Secrets, Strict, check_names, check_url


class DynamicsConfig(Strict):
    instance_url: str
    tenant_id: str = Field(min_length=1, max_length=100, description="the Microsoft Entra (Azure AD) tenant")
    client_id: str = Field(min_length=1)
    token_url: str | None = None
    api_version: str = Field(default="v9.2", pattern=r"^v\d\.\d$")
    entities: list[str] = Field(default_factory=lambda: ["account", "contact", "opportunity"], min_length=1)

    @field_validator("instance_url", "token_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return check_url(value)

    @field_validator("entities")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return check_names(value)

    @property
    def effective_token_url(self) -> str:
        return self.token_url or f"https://login.microsoftonline.com/{self.tenant_id}/oauth2/v2.0/token"


class DynamicsSecrets(Secrets):
    client_secret: str = Field(min_length=1)
