"""manage.py fx_load: a good file loads, a file with bad rows names them and loads nothing."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from tenants.money.models import FxRate

pytestmark = pytest.mark.django_db

GOOD = """Date,USD,JPY,GBP,RUB,
2026-01-09,1.1600,183.10,0.86500,N/A,
2026-01-08,1.1650,183.40,0.86800,N/A,
"""


def _write(tmp_path, text, name="eurofxref-hist.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _rates(tenant) -> dict:
    with schema_context(tenant.schema_name):
        return {(r.day, r.currency): r.per_eur for r in FxRate.objects.all()}


def test_a_good_file_loads_into_the_named_tenant_only(tmp_path, tenant_a, tenant_b, capsys):
    call_command("fx_load", _write(tmp_path, GOOD), tenant="alpha")
    rates = _rates(tenant_a)
    assert len(rates) == 6  # 2 days × USD, JPY, GBP; RUB is N/A
    assert rates[(date(2026, 1, 9), "GBP")] == Decimal("0.865")
    assert _rates(tenant_b) == {}
    out = capsys.readouterr().out
    assert "alpha: 6 rates of 4 currencies on 2 days (2026-01-08 to 2026-01-09; 2 N/A cells)" in out


def test_without_a_tenant_every_tenant_gets_the_rates(tmp_path, tenant_a, tenant_b):
    call_command("fx_load", _write(tmp_path, GOOD))
    assert len(_rates(tenant_a)) == len(_rates(tenant_b)) == 6


def test_loading_again_replaces_the_rates_of_the_same_days(tmp_path, tenant_a):
    call_command("fx_load", _write(tmp_path, GOOD), tenant="alpha")
    call_command("fx_load", _write(tmp_path, "Date,USD,\n2026-01-09,1.2000,\n2026-01-12,1.1500,\n", "b.csv"),
                 tenant="alpha")
    rates = _rates(tenant_a)
    assert len(rates) == 7
    assert rates[(date(2026, 1, 9), "USD")] == Decimal("1.2")
    assert rates[(date(2026, 1, 8), "USD")] == Decimal("1.165")


def test_a_file_with_bad_rows_names_the_lines_and_loads_nothing(tmp_path, tenant_a):
    call_command("fx_load", _write(tmp_path, GOOD), tenant="alpha")
    before = _rates(tenant_a)
    bad = ("Date,USD,GBP,\n"
           "2026-02-02,1.18,0.87,\n"  # good, but in a bad file: not loaded
           "2026-02-03,1,18,0.87,\n"  # line 3: a decimal comma makes one cell too many
           "yesterday,1.18,0.87,\n")  # line 4
    with pytest.raises(CommandError) as err:
        call_command("fx_load", _write(tmp_path, bad, "bad.csv"), tenant="alpha")
    message = str(err.value)
    assert "2 bad line(s), nothing was loaded" in message
    assert "line 3: 5 cells where the header has 3" in message and "line 4: 'yesterday' is not a date" in message
    assert _rates(tenant_a) == before


def test_duplicate_dates_are_refused(tmp_path, tenant_a):
    text = "Date,USD,\n2026-01-09,1.16,\n2026-01-08,1.165,\n2026-01-09,1.17,\n"
    with pytest.raises(CommandError, match=r"line 4: date 2026-01-09 appears twice \(first on line 2\)"):
        call_command("fx_load", _write(tmp_path, text), tenant="alpha")
    assert _rates(tenant_a) == {}


def test_na_cells_load_as_no_rate(tmp_path, tenant_a):
    call_command("fx_load", _write(tmp_path, "Date,USD,ISK,\n2026-01-09,1.16,N/A,\n2026-01-08,1.165,158.1,\n"),
                 tenant="alpha")
    assert sorted(_rates(tenant_a)) == [(date(2026, 1, 8), "ISK"), (date(2026, 1, 8), "USD"),
                                        (date(2026, 1, 9), "USD")]


@pytest.mark.parametrize(("args", "message"), [
    (["/no/such/file.csv", "--tenant", "alpha"], "no such file"),
    (["FILE", "--tenant", "nobody"], "no tenant with slug 'nobody'"),
])
def test_a_missing_file_or_tenant_is_a_clean_error(tmp_path, tenant_a, args, message):
    args = [_write(tmp_path, GOOD) if a == "FILE" else a for a in args]
    with pytest.raises(CommandError, match=message):
        call_command("fx_load", *args)


def test_a_binary_file_is_refused_as_not_text(tmp_path, tenant_a):
    path = tmp_path / "rates.xlsx"
    path.write_bytes(b"PK\x03\x04\xff\xfe\x00binary")
    with pytest.raises(CommandError, match="not UTF-8 text"):
        call_command("fx_load", str(path), tenant="alpha")


def test_the_demo_rate_file_loads_and_covers_usd_eur_gbp(tmp_path, tenant_a):
    from tenants.money.demo import DEMO_RATES

    call_command("fx_load", str(DEMO_RATES), tenant="alpha")
    with schema_context(tenant_a.schema_name):
        currencies = set(FxRate.objects.values_list("currency", flat=True))
        first = FxRate.objects.order_by("day").first().day
    assert {"USD", "GBP", "JPY", "CHF", "CAD"} <= currencies
    assert first <= date(2025, 1, 2)
