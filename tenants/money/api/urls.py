from django.urls import path

from .views import ReportingCurrencyView

urlpatterns = [
    path("reporting-currency/", ReportingCurrencyView.as_view(), name="money-reporting-currency"),
]
