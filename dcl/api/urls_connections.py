from django.urls import path

from .schedule_views import ConnectionFreshnessAPI, ConnectionRunsAPI, ConnectionScheduleAPI

urlpatterns = [
    path("<int:pk>/schedule/", ConnectionScheduleAPI.as_view(), name="connection-schedule"),
    path("<int:pk>/freshness/", ConnectionFreshnessAPI.as_view(), name="connection-freshness"),
    path("<int:pk>/runs/", ConnectionRunsAPI.as_view(), name="connection-runs"),
]
