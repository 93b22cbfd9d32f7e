from django.urls import path

from .sync_views import ConnectionSyncAPI

urlpatterns = [
    path("<int:pk>/sync/", ConnectionSyncAPI.as_view(), name="connection-sync"),
]
