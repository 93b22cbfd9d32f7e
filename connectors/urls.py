from django.urls import path

from . import views

urlpatterns = [
    path("", views.connection_list_page, name="connection-list"),
    path("new/", views.connection_new_page, name="connection-new"),
    path("new/<str:kind>/", views.connection_create_page, name="connection-create"),
    path("<int:pk>/", views.connection_detail_page, name="connection-detail"),
    path("<int:pk>/edit/", views.connection_edit_page, name="connection-edit"),
    path("<int:pk>/schema/", views.connection_schema_partial, name="connection-schema"),
    path("<int:pk>/test/", views.connection_test_action, name="connection-test"),
    path("<int:pk>/delete/", views.connection_delete_action, name="connection-delete"),
    path("<int:pk>/upload/", views.connection_upload_action, name="connection-upload"),
]
