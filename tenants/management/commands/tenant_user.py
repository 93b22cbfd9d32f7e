"""A tenant's users from the command line: add one with a role, change a role, revoke every token."""

import os

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from autonomos.core.roles import Role
from tenants.members.services import member_revoke_tokens, member_set_role, user_create
from tenants.models import Tenant


class Command(BaseCommand):
    help = ("Add a user to a tenant with a role (viewer, operator, admin), change a user's role, or revoke every "
            "token a user holds. The password is read from the environment variable named by --password-env.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", choices=[r.value for r in Role])
        parser.add_argument("--email", default="")
        parser.add_argument("--password-env", default="", metavar="VAR",
                            help="create the user, with the password held in this environment variable")
        parser.add_argument("--revoke-tokens", action="store_true",
                            help="every access and refresh token issued to the user so far stops working")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.exclude(schema_name="public").filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {opts['tenant']!r}")
        with tenant_context(tenant):
            user = get_user_model().objects.filter(username=opts["username"]).first()
            if opts["password_env"]:
                if user is not None:
                    raise CommandError(f"{opts['username']!r} already exists in {tenant.slug}")
                password = os.environ.get(opts["password_env"], "")
                if not password:
                    raise CommandError(f"the environment variable {opts['password_env']} is empty or unset")
                try:
                    user = user_create(username=opts["username"], email=opts["email"], password=password,
                                       role=opts["role"] or Role.VIEWER)
                except ValidationError as exc:
                    raise CommandError("; ".join(exc.messages)) from exc
                self.stdout.write(f"created {user.username} in {tenant.slug}")
            elif user is None:
                raise CommandError(f"no user {opts['username']!r} in {tenant.slug} (create one with --password-env)")
            elif opts["role"]:
                member_set_role(user=user, role=opts["role"])
            if opts["revoke_tokens"]:
                member_revoke_tokens(user=user)
                self.stdout.write(f"revoked every token of {user.username}")
            from autonomos.core.roles import role_of

            user.refresh_from_db()
            self.stdout.write(self.style.SUCCESS(f"{user.username} in {tenant.slug}: {role_of(user)}"))
