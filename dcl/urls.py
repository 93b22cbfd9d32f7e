from django.urls import path

from . import views

urlpatterns = [
    path("views/", views.views_page, name="dcl-views"),
    path("views/<slug:entity>/", views.view_browse_page, name="dcl-view"),
    path("views/<slug:entity>/<str:unified_id>/", views.view_record_page, name="dcl-view-record"),
    path("lineage/", views.lineage_page, name="dcl-lineage"),
    path("operations/", views.operations_page, name="dcl-operations"),
    path("operations/<int:pk>/<slug:action>/", views.operations_action, name="dcl-operations-action"),
]
