from django.urls import path

from . import views
from .schedules.views import connection_run_retry_action, connection_schedule_action

app_name = "dcl_ui"

urlpatterns = [
    path("views/", views.views_page, name="views"),
    path("views/<slug:entity>/", views.view_browse_page, name="view"),
    path("views/<slug:entity>/<str:unified_id>/", views.view_record_page, name="view-record"),
    path("lineage/", views.lineage_page, name="lineage"),
    path("operations/", views.operations_page, name="operations"),
    path("operations/<int:pk>/<slug:action>/", views.operations_action, name="operations-action"),
    path("connections/<int:pk>/schedule/", connection_schedule_action, name="connection-schedule"),
    path("connections/<int:pk>/runs/<int:run_id>/retry/", connection_run_retry_action, name="connection-run-retry"),
]
