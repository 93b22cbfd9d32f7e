"""The Mapping tab of a connection, under /connections/<id>/ (aam owns mappings; connectors, the
layer below, links to it by URL)."""

from django.urls import path

from .editor import views

app_name = "aam_connections"

urlpatterns = [
    path("<int:pk>/mapping/", views.connection_mapping_page, name="mapping"),
    path("<int:pk>/mapping/change/", views.mapping_change_action, name="mapping-change"),
    path("<int:pk>/mapping/undo/", views.mapping_undo_action, name="mapping-undo"),
]
