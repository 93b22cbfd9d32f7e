from django.urls import path
from rest_framework.routers import SimpleRouter

from . import drift_views, views
from .quarantine_views import QuarantineListAPI

router = SimpleRouter()
router.register("drift", drift_views.DriftEventViewSet, basename="aam-drift")
router.register("review", drift_views.ReviewItemViewSet, basename="aam-review")

urlpatterns = [
    path("quarantine/", QuarantineListAPI.as_view(), name="aam-quarantine"),
    path("ontology/", views.OntologyView.as_view(), name="aam-ontology"),
    path("mappings/", views.MappingListView.as_view(), name="aam-mappings"),
    path(
        "mappings/<int:connection_id>/<path:source_object>/",
        views.MappingDetailView.as_view(),
        name="aam-mapping-detail",
    ),
] + router.urls
