from django.urls import path

from . import views

urlpatterns = [
    path("", views.AgentsView.as_view(), name="agents"),
    path("run/", views.AgentsRunView.as_view(), name="agents-run"),
    path("revops/waterfall/", views.RevOpsWaterfallView.as_view(), name="agents-revops-waterfall"),
    path("<str:agent>/results/", views.AgentResultsView.as_view(), name="agent-results"),
    path("<str:agent>/results/<int:pk>/", views.AgentRunDetailView.as_view(), name="agent-run"),
    path("<str:agent>/results/<int:pk>/findings.csv", views.AgentRunFindingsCSVView.as_view(),
         name="agent-run-findings-csv"),
]
