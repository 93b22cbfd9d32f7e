from django.urls import path

from .views import MeView, TokenObtainView, TokenRefreshRotateView

urlpatterns = [
    path("token/", TokenObtainView.as_view(), name="token_obtain"),
    path("token/refresh/", TokenRefreshRotateView.as_view(), name="token_refresh"),
    path("me/", MeView.as_view(), name="me"),
]
