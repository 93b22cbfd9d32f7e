from django.urls import path

from . import views

urlpatterns = [
    path("", views.monitor_page, name="aam-monitor"),
    path("ontology/", views.ontology_page, name="aam-ontology"),
    path("review/", views.review_page, name="aam-review"),
    path("review/<int:pk>/", views.review_detail_page, name="aam-review-detail"),
    path("review/<int:pk>/decide/", views.review_decide_action, name="aam-review-decide"),
]
