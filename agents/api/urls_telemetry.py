from django.urls import path

from . import views

urlpatterns = [
    path("", views.TelemetryView.as_view(), name="dcl-telemetry"),
]
