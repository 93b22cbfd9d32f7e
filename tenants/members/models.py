from django.conf import settings
from django.db import models

from autonomos.core.roles import Role
from autonomos.core.tenancy import TenantModel


class Member(TenantModel):
    """A user's place in the tenant: the role that decides what they may do, and the counter that
    revokes every token issued to them so far when it moves (tenants/auth.py)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    token_version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"
