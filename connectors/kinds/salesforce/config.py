"""salesforce settings: the OAuth flow, the API version and the objects to read."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..base import Secrets, Strict, check_names, check_url


class SalesforceConfig(Strict):
    login_url: str = "https://login.salesforce.com"
    instance_url: str | None = None
    client_id: str = Field(min_length=1)
    auth_flow: Literal["client_credentials", "refresh_token", "password"] = "client_credentials"
    username: str | None = None
    api_version: str = Field(default="v60.0", pattern=r"^v\d{2,3}\.0$")
    objects: list[str] = Field(default_factory=lambda: ["Account", "Contact", "Opportunity"], min_length=1)

    @field_validator("login_url", "instance_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return check_url(value)

    @field_validator("objects")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return check_names(value)

    @model_validator(mode="after")
    def _username_for_password_flow(self):
        if self.auth_flow == "password" and not self.username:
            raise ValueError("username is required for the password flow")
        return self


class SalesforceSecrets(Secrets):
    client_secret: str = Field(min_length=1)
    refresh_token: str | None = None
    password: str | None = None


def check_settings(config: SalesforceConfig, secrets: SalesforceSecrets) -> dict[str, Any]:
    errors = {}
    if config.auth_flow == "refresh_token" and not secrets.refresh_token:
        errors["secrets.refresh_token"] = ["required for the refresh_token flow"]
    if config.auth_flow == "password" and not secrets.password:
        errors["secrets.password"] = ["required for the password flow"]
    return errors
