from django.urls import path

from . import views

urlpatterns = [
    path("connect/", views.ConnectView.as_view(), name="aoa-connect"),
    path("jobs/", views.JobListView.as_view(), name="aoa-jobs"),
    path("jobs/<int:pk>/", views.JobDetailView.as_view(), name="aoa-job"),
    path("jobs/<int:pk>/cancel/", views.JobCancelView.as_view(), name="aoa-job-cancel"),
    path("state/", views.StateView.as_view(), name="aoa-state"),
    path("discover/", views.DiscoverView.as_view(), name="aoa-discover"),
    path("demo-scan/", views.DemoScanView.as_view(), name="aoa-demo-scan"),
]
