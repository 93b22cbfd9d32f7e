"""Root-level dashboard pages (this URLconf is included at "/")."""

from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("get-started/dismiss/", views.get_started_dismiss, name="get-started-dismiss"),
    path("flow/", views.flow_page, name="flow"),
    path("agents/", views.agents_page, name="agents"),
    path("agents/run/", views.agents_run_action, name="agents-run"),
    path("agents/runs/<int:run_id>/findings/<slug:finding_id>/", views.finding_page, name="finding"),
    path("agents/runs/<int:run_id>/findings.csv", views.findings_csv_download, name="findings-csv"),
    path("agents/runs/<int:run_id>/waterfall/<slug:bar>/", views.waterfall_bar_page, name="waterfall-bar"),
    path("agents/revops/waterfall/", views.waterfall_page, name="waterfall"),
    path("discover/", views.discover_page, name="discover"),
    path("architecture/", views.architecture_page, name="architecture"),
]
