from django.urls import path

from . import review_pages, views
from .schedules.views import connection_run_retry_action, connection_schedule_action

app_name = "dcl_ui"

urlpatterns = [
    path("views/", views.views_page, name="views"),
    path("views/<slug:entity>/", views.view_browse_page, name="view"),
    path("views/<slug:entity>/<str:unified_id>/", views.view_record_page, name="view-record"),
    path("views/<slug:entity>/<str:unified_id>/merge/", review_pages.view_record_merge, name="view-record-merge"),
    path("views/<slug:entity>/<str:unified_id>/split/", review_pages.view_record_split, name="view-record-split"),
    path("matches/", review_pages.matches_page, name="matches"),
    path("matches/<int:pk>/", review_pages.match_page, name="match"),
    path("matches/<int:pk>/decide/", review_pages.match_decide, name="match-decide"),
    path("lineage/", views.lineage_page, name="lineage"),
    path("operations/", views.operations_page, name="operations"),
    path("operations/<int:pk>/<slug:action>/", views.operations_action, name="operations-action"),
    path("connections/<int:pk>/schedule/", connection_schedule_action, name="connection-schedule"),
    path("connections/<int:pk>/runs/<int:run_id>/retry/", connection_run_retry_action, name="connection-run-retry"),
]
