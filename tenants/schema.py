"""OpenAPI descriptions of the project's authentication classes (drf-spectacular)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TenantJWTScheme(SimpleJWTScheme):
    target_class = "tenants.auth.TenantJWTAuthentication"
    name = "jwtAuth"


class TenantSessionScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.auth.TenantSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
