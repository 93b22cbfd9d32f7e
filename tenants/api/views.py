from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from autonomos.core.api import IsTenantRequest


class TokenObtainView(TokenObtainPairView):
    """Exchange username + password for an access and a refresh token (throttled)."""

    authentication_classes: list = []
    permission_classes = [AllowAny, IsTenantRequest]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


@extend_schema(description="Exchange a refresh token for a new pair; the old refresh token is blacklisted.")
class TokenRefreshRotateView(TokenRefreshView):
    authentication_classes: list = []
    permission_classes = [AllowAny, IsTenantRequest]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"
