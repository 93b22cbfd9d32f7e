from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models

from autonomos.core.tenancy import TenantModel

from . import registry, secretbox


def iso4217_code(value: str) -> None:
    """An ISO 4217 alphabetic code (USD, EUR), or blank."""
    import pycountry

    if value and (len(value) != 3 or not value.isupper() or pycountry.currencies.get(alpha_3=value) is None):
        raise DjangoValidationError(f"{value!r} is not an ISO 4217 currency code such as USD or EUR")


class Connection(TenantModel):
    """A tenant's configured source system: its kind, validated config, write-only secrets and cursor."""

    # One member per kind folder (connectors/kinds/<name>/, listed in connectors.registry.KINDS):
    # Kind.FILESOURCE = "filesource", "CSV files", … Values are stored in rows and the API schema.
    Kind = models.TextChoices("Kind", registry.kind_choices(), module=__name__, qualname="Connection.Kind")

    class Status(models.TextChoices):
        NEW = "new", "New"
        OK = "ok", "Healthy"
        ERROR = "error", "Error"
        SYNCING = "syncing", "Syncing"
        FROZEN = "frozen", "Frozen by drift policy"
        PAUSED = "paused", "Paused: deletes await review"

    class DriftPolicy(models.TextChoices):
        AUTO = "auto", "Apply confident repairs, queue the rest"
        REVIEW = "review", "Queue every change for review"
        FREEZE = "freeze", "Stop the sync and alert"

    class Domain(models.TextChoices):
        AUTO = "", "Route by kind and entity"
        REVOPS = "revops", "RevOps"
        FINOPS = "finops", "FinOps"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    # Secrets are encrypted at rest (connectors/secretbox.py) and read only through get_secrets();
    # never rendered by any serializer, log line or event. `secret_names` (which ones hold a value) is
    # what pages show, so listing connections never needs the key.
    secrets_ciphertext = models.TextField(blank=True, default="", editable=False)
    secret_names = models.JSONField(default=list, blank=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    last_error = models.TextField(blank=True, default="")
    cursor = models.JSONField(default=dict, blank=True)
    drift_policy = models.CharField(max_length=16, choices=DriftPolicy.choices, default=DriftPolicy.AUTO)
    domain = models.CharField(max_length=16, choices=Domain.choices, default=Domain.AUTO, blank=True)
    # The currency of this source's amounts that carry none (a single-currency CRM org's corporate
    # currency, an export without a currency column): ISO 4217, "" for none (docs/adr/0015).
    currency = models.CharField(max_length=3, blank=True, default="", validators=[iso4217_code])
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["name"], name="connection_name_unique")]

    def get_secrets(self) -> dict[str, Any]:
        """The decrypted secrets. Raises connectors.secretbox.SecretsUnreadable (a PermanentError)
        when no configured key opens them."""
        return secretbox.decrypt(self.secrets_ciphertext)

    def set_secrets(self, values: dict[str, Any] | None) -> None:
        """Encrypt `values` (None values dropped) with the newest key; saved with the next save()."""
        clean = {k: v for k, v in (values or {}).items() if v is not None}
        self.secrets_ciphertext = secretbox.encrypt(clean)
        self.secret_names = sorted(k for k, v in clean.items() if v != "")

    @property
    def kind_label(self) -> str:
        """The kind as people should read it: "CSV · Salesforce export" rather than "CSV files"
        when the connection knows which system its files come from (connectors.registry.kind_label)."""
        return registry.kind_label(self.kind, self.config if isinstance(self.config, dict) else {})

    # For code written before encryption (`Connection(secrets=...)`, `connection.secrets[...]`):
    # the same accessors under the old name. New code calls get_secrets() / set_secrets().
    secrets = property(get_secrets, set_secrets)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def __repr__(self) -> str:  # secrets stay out of reprs that end up in logs
        return f"<Connection {self.pk} {self.kind} {self.name!r}>"
