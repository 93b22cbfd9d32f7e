from django.urls import path

from .schedule_views import (
    ConnectionFreshnessAPI,
    ConnectionRunAPI,
    ConnectionRunRetryAPI,
    ConnectionRunsAPI,
    ConnectionScheduleAPI,
)

urlpatterns = [
    path("<int:pk>/schedule/", ConnectionScheduleAPI.as_view(), name="connection-schedule"),
    path("<int:pk>/freshness/", ConnectionFreshnessAPI.as_view(), name="connection-freshness"),
    path("<int:pk>/runs/", ConnectionRunsAPI.as_view(), name="connection-runs"),
    path("<int:pk>/runs/<int:run_id>/", ConnectionRunAPI.as_view(), name="connection-run"),
    path("<int:pk>/runs/<int:run_id>/retry/", ConnectionRunRetryAPI.as_view(), name="connection-run-retry"),
]
