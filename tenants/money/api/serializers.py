from rest_framework import serializers


class ReportingCurrencyInput(serializers.Serializer):
    currency = serializers.CharField(max_length=3, min_length=3, help_text="ISO 4217 code: USD, EUR, GBP, ...")


class RateCoverage(serializers.Serializer):
    currency = serializers.CharField()
    rates = serializers.IntegerField()
    first_day = serializers.DateField()
    last_day = serializers.DateField()


class ReportingCurrencyOutput(serializers.Serializer):
    currency = serializers.CharField(help_text="Every view's *_reporting amount is in this currency.")
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True)
    rates_available = serializers.BooleanField(
        help_text="Whether FX rates of this currency are loaded (EUR needs none); without them other "
                  "currencies cannot be converted to it.")
    rates = RateCoverage(many=True, help_text="The loaded rates per currency (units per 1 EUR).")
    rematerialize_queued = serializers.BooleanField(
        required=False,
        help_text="After a change: the opportunity and cost views are being rebuilt in the new currency.")
