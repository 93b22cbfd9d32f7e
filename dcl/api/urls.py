from django.urls import path

from .views import LineageGraphAPI, ViewCatalogAPI, ViewRowsAPI

urlpatterns = [
    path("views/", ViewCatalogAPI.as_view(), name="dcl-views"),
    path("views/<str:entity>/", ViewRowsAPI.as_view(), name="dcl-view-rows"),
    path("graph/", LineageGraphAPI.as_view(), name="dcl-graph"),
]
