from django.urls import path

from . import views
from .values import views as value_views

app_name = "aam_ui"

urlpatterns = [
    path("", views.monitor_page, name="monitor"),
    path("ontology/", views.ontology_page, name="ontology"),
    path("review/", views.review_page, name="review"),
    path("review/bulk/", views.review_bulk_action, name="review-bulk"),
    path("review/<int:pk>/", views.review_detail_page, name="review-detail"),
    path("review/<int:pk>/decide/", views.review_decide_action, name="review-decide"),
    path("values/", value_views.values_page, name="values"),
    path("values/<int:pk>/decide/", value_views.value_decide_action, name="value-decide"),
]
