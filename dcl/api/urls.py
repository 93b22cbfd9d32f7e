from django.urls import path

from .history import EntityHistoryAPI, ViewAsOfAPI
from .views import LineageGraphAPI, ViewCatalogAPI, ViewRowsAPI

urlpatterns = [
    path("views/", ViewCatalogAPI.as_view(), name="dcl-views"),
    path("views/<str:entity>/", ViewRowsAPI.as_view(), name="dcl-view-rows"),
    path("history/<str:entity>/", ViewAsOfAPI.as_view(), name="dcl-view-as-of"),
    path("history/<str:entity>/<str:unified_id>/", EntityHistoryAPI.as_view(), name="dcl-entity-history"),
    path("graph/", LineageGraphAPI.as_view(), name="dcl-graph"),
]
