"""python manage.py run_agents."""

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("slug", ["nobody", "public"])
def test_an_unknown_or_public_tenant_is_a_clean_command_error(slug):
    with pytest.raises(CommandError, match=f"no tenant '{slug}'"):
        call_command("run_agents", tenant=slug)


def test_an_unknown_agent_is_refused_by_the_parser():
    with pytest.raises(CommandError):
        call_command("run_agents", "--tenant", "alpha", "--agent", "sales")
