from django.urls import path

from .history import EntityHistoryAPI, ViewAsOfAPI
from .resolution import (
    EntityMergeAPI,
    EntitySplitAPI,
    MatchDecisionAPI,
    MatchDecisionListAPI,
    MatchReviewAPI,
    MatchReviewDecideAPI,
    MatchReviewListAPI,
    MatchReviewRejectAPI,
    ViewRecordAPI,
)
from .views import LineageGraphAPI, ViewCatalogAPI, ViewRowsAPI

urlpatterns = [
    path("views/", ViewCatalogAPI.as_view(), name="dcl-views"),
    path("views/<str:entity>/", ViewRowsAPI.as_view(), name="dcl-view-rows"),
    path("views/<str:entity>/<str:unified_id>/", ViewRecordAPI.as_view(), name="dcl-view-record"),
    path("history/<str:entity>/", ViewAsOfAPI.as_view(), name="dcl-view-as-of"),
    path("history/<str:entity>/<str:unified_id>/", EntityHistoryAPI.as_view(), name="dcl-entity-history"),
    path("graph/", LineageGraphAPI.as_view(), name="dcl-graph"),
    # entity resolution: review items, decisions, merge and split by hand (dcl/resolution/)
    path("matches/", MatchReviewListAPI.as_view(), name="dcl-matches"),
    path("matches/<int:pk>/", MatchReviewAPI.as_view(), name="dcl-match"),
    path("matches/<int:pk>/approve/", MatchReviewDecideAPI.as_view(), name="dcl-match-approve"),
    path("matches/<int:pk>/reject/", MatchReviewRejectAPI.as_view(), name="dcl-match-reject"),
    path("decisions/", MatchDecisionListAPI.as_view(), name="dcl-decisions"),
    path("decisions/<int:pk>/", MatchDecisionAPI.as_view(), name="dcl-decision"),
    path("entities/<str:entity>/merge/", EntityMergeAPI.as_view(), name="dcl-entity-merge"),
    path("entities/<str:entity>/<str:unified_id>/split/", EntitySplitAPI.as_view(), name="dcl-entity-split"),
]
