from django.urls import path

from .editor_views import ConnectionMappingAPI, MappingChangeAPI, MappingUndoAPI
from .sync_views import ConnectionSyncAPI

urlpatterns = [
    path("<int:pk>/sync/", ConnectionSyncAPI.as_view(), name="connection-sync"),
    path("<int:pk>/mapping/", ConnectionMappingAPI.as_view(), name="connection-mapping"),
    path("<int:pk>/mapping/changes/", MappingChangeAPI.as_view(), name="connection-mapping-change"),
    path("<int:pk>/mapping/undo/", MappingUndoAPI.as_view(), name="connection-mapping-undo"),
]
