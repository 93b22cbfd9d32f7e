from django.db import connection, transaction
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from autonomos.core.api import TenantAPIView
from autonomos.core.roles import Role

from ..rates import BASE
from ..selectors import rate_coverage, reporting_settings
from ..services import reporting_currency_set, views_rematerialize_request
from .serializers import ReportingCurrencyInput, ReportingCurrencyOutput


def _state(**extra) -> dict:
    row = reporting_settings()
    coverage = rate_coverage()
    return {"currency": row.currency, "updated_at": row.updated_at,
            "updated_by": row.updated_by.get_username() if row.updated_by else None,
            "rates_available": row.currency == BASE or any(c["currency"] == row.currency for c in coverage),
            "rates": coverage, **extra}


class ReportingCurrencyView(TenantAPIView):
    """The tenant's reporting currency: every view's `*_reporting` amount and every agent's total is in
    it. Everyone reads it; an admin changes it (the opportunity and cost views are then rebuilt)."""

    required_roles = {"PUT": Role.ADMIN}

    @extend_schema(responses=ReportingCurrencyOutput)
    def get(self, request):
        return Response(ReportingCurrencyOutput(_state()).data)

    @extend_schema(request=ReportingCurrencyInput, responses=ReportingCurrencyOutput)
    def put(self, request):
        data = ReportingCurrencyInput(data=request.data)
        data.is_valid(raise_exception=True)
        before = reporting_settings().currency
        row = reporting_currency_set(currency=data.validated_data["currency"], user=request.user)
        changed = row.currency != before
        if changed:
            schema = connection.schema_name
            transaction.on_commit(lambda: views_rematerialize_request(schema=schema))
        return Response(ReportingCurrencyOutput(_state(rematerialize_queued=changed)).data)
