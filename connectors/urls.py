from django.urls import path

from . import views

app_name = "connections_ui"

urlpatterns = [
    path("", views.connection_list_page, name="list"),
    path("new/", views.connection_new_page, name="new"),
    path("new/<str:kind>/", views.connection_create_page, name="create"),
    path("<int:pk>/", views.connection_detail_page, name="detail"),
    path("<int:pk>/edit/", views.connection_edit_page, name="edit"),
    path("<int:pk>/schema/", views.connection_schema_partial, name="schema"),
    path("<int:pk>/test/", views.connection_test_action, name="test"),
    path("<int:pk>/delete/", views.connection_delete_action, name="delete"),
    path("<int:pk>/upload/", views.connection_upload_action, name="upload"),
    path("<int:pk>/key/", views.connection_key_action, name="key"),
]
