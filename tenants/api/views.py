from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from autonomos.core.api import IsTenantRequest, TenantAPIView
from autonomos.core.login import LoginLimitedTokenMixin, TokenRefreshThrottle
from autonomos.core.roles import role_of

from ..auth import valid_refresh_token
from ..members.services import member_revoke_tokens


class TokenObtainView(LoginLimitedTokenMixin, TokenObtainPairView):
    """Exchange username + password for an access and a refresh token (throttled per client address
    and per username; a locked-out account gets 429 `locked_out`: autonomos/core/login.py)."""

    authentication_classes: list = []
    permission_classes = [AllowAny, IsTenantRequest]


@extend_schema(description="Exchange a refresh token for a new pair; the old refresh token is blacklisted.")
class TokenRefreshRotateView(TokenRefreshView):
    authentication_classes: list = []
    permission_classes = [AllowAny, IsTenantRequest]
    throttle_classes = [TokenRefreshThrottle]


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)
    is_staff = serializers.BooleanField()
    role = serializers.ChoiceField(choices=["viewer", "operator", "admin"])
    tenant_id = serializers.UUIDField()
    tenant_slug = serializers.CharField()
    tenant_name = serializers.CharField()


class MeView(TenantAPIView):
    """The authenticated user and the tenant the request is on."""

    @extend_schema(responses=MeOutput)
    def get(self, request):
        tenant = request.tenant
        data = {"username": request.user.get_username(), "email": request.user.email or "",
                "is_staff": request.user.is_staff, "role": role_of(request.user),
                "tenant_id": tenant.tenant_id, "tenant_slug": tenant.slug,
                "tenant_name": tenant.name}
        return Response(MeOutput(data).data)


class LogoutInput(serializers.Serializer):
    refresh = serializers.CharField(help_text="The refresh token of the session to end.")
    everywhere = serializers.BooleanField(
        default=False, help_text="Also revoke every other token of this user (all their sessions and devices).")


class LogoutOutput(serializers.Serializer):
    detail = serializers.CharField()


@extend_schema(request=LogoutInput, responses=LogoutOutput,
               description="End a session: the refresh token is blacklisted. With `everywhere`, every token "
                           "issued to the user so far stops working, access tokens included.")
class LogoutView(GenericAPIView):
    authentication_classes: list = []
    permission_classes = [AllowAny, IsTenantRequest]
    throttle_classes = TokenRefreshRotateView.throttle_classes
    serializer_class = LogoutInput

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'  # a refused token is 401 (with this challenge), as on the token endpoints

    def post(self, request):
        data = LogoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        refresh, user = valid_refresh_token(data.validated_data["refresh"])
        if data.validated_data["everywhere"]:
            member_revoke_tokens(user=user)
        else:
            refresh.blacklist()
        return Response(LogoutOutput({"detail": "Logged out."}).data)
