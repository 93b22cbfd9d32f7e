from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from autonomos.core.api import IsTenantRequest, TenantAPIView


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


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)
    is_staff = serializers.BooleanField()
    tenant_id = serializers.UUIDField()
    tenant_slug = serializers.CharField()
    tenant_name = serializers.CharField()


class MeView(TenantAPIView):
    """The authenticated user and the tenant the request is on."""

    @extend_schema(responses=MeOutput)
    def get(self, request):
        tenant = request.tenant
        data = {"username": request.user.get_username(), "email": request.user.email or "",
                "is_staff": request.user.is_staff, "tenant_id": tenant.tenant_id, "tenant_slug": tenant.slug,
                "tenant_name": tenant.name}
        return Response(MeOutput(data).data)
