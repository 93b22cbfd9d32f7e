"""The test settings' lockout backend (autonomos/settings/test.py)."""

from axes.backends import AxesStandaloneBackend


class ClientLoginLockoutBackend(AxesStandaloneBackend):
    """Axes' backend, except that an authentication without a request is let through to the next
    backend: Django's test `Client.login()` calls `authenticate()` without one, which axes refuses
    with an exception. Every HTTP login (token endpoint, dashboard, admin) passes its request and is
    checked as in production."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
