from django.urls import path

from . import views
from .quarantine_views import QuarantineListAPI

urlpatterns = [
    path("quarantine/", QuarantineListAPI.as_view(), name="aam-quarantine"),
    path("ontology/", views.OntologyView.as_view(), name="aam-ontology"),
    path("mappings/", views.MappingListView.as_view(), name="aam-mappings"),
    path(
        "mappings/<int:connection_id>/<path:source_object>/",
        views.MappingDetailView.as_view(),
        name="aam-mapping-detail",
    ),
]
