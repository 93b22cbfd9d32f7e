"""Limits on every way to log in: the token endpoint (`/api/auth/token/`), the dashboard login
(`/accounts/login/`) and the admin login (`/admin/login/`, on tenant hosts and the public host).

- Rate limits, counted on every attempt before any password is checked: one per client address
  (`DEFAULT_THROTTLE_RATES["auth"]`) and one per username tried (`"auth_account"`), each a
  fixed-window counter per tenant shared by the three login views (spreading guesses over them
  gains nothing). Over either: 429 with Retry-After, JSON for the API, a page for people.
- A lockout (django-axes): after AXES_FAILURE_LIMIT failed logins of one account within
  AXES_COOLOFF_TIME, axes' backend refuses that account before its password is checked, so even the
  right password gets the lockout until the cool-off ends or an admin lifts it. The lockout is a
  429 too (`locked_out`).
- Nothing here looks the account up: an unknown username is counted, throttled and locked out
  exactly like a real one, so the answers never tell whether an account exists.

The client address is `client_address()` (TRUSTED_PROXY_COUNT), the same one axes records.
"""

from __future__ import annotations

import hashlib
import math
from functools import wraps

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Max
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from rest_framework import exceptions, throttling
from rest_framework.request import Request

from .api import CounterRateThrottleMixin, error_body
from .client_address import client_address

# --- Rate limits ----------------------------------------------------------------------------------


def attempted_username(request) -> str | None:
    """The username a login request tries (a form post or, through DRF, a JSON body), as the login
    form and the token serializer see it (trimmed), or None."""
    data = request.data if isinstance(request, Request) else request.POST
    value = data.get(get_user_model().USERNAME_FIELD) if hasattr(data, "get") else None
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


class LoginThrottle(CounterRateThrottleMixin, throttling.ScopedRateThrottle):
    """A counter throttle with a fixed scope, usable by DRF views and plain Django views alike.

    Its rates are DRF's scoped throttles' (`ScopedRateThrottle.THROTTLE_RATES`), which a test can
    replace for a while."""

    key_prefix = ""

    def __init__(self) -> None:
        # ScopedRateThrottle takes its scope from the view at each request; here the scope is fixed.
        throttling.SimpleRateThrottle.__init__(self)

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def get_cache_key(self, request, view) -> str | None:
        ident = self.ident(request)
        return None if ident is None else f"throttle_{self.key_prefix}_{ident}"


class LoginAddressThrottle(LoginThrottle):
    """Login attempts per client address."""

    scope = "auth"
    key_prefix = "login_address"

    def ident(self, request) -> str:
        # No address from the server: all such requests share one budget rather than none.
        return client_address(request) or "unknown"


class LoginAccountThrottle(LoginThrottle):
    """Login attempts per username tried, from any address (an attacker rotating addresses)."""

    scope = "auth_account"
    key_prefix = "login_account"

    def ident(self, request) -> str | None:
        username = attempted_username(request)
        if username is None:
            return None
        # Hashed: a bounded, clean cache key whatever was typed; case-folded so case variants of
        # one name share a budget.
        return hashlib.sha256(username.casefold().encode()).hexdigest()[:32]


class TokenRefreshThrottle(LoginAddressThrottle):
    """Token refreshes and logouts per client address: the "auth" rate on a counter of their own,
    so an app that refreshes its tokens does not spend its address's login budget."""

    key_prefix = "refresh_address"


def login_throttle_wait(request) -> float | None:
    """Count one login attempt against the address's and the account's budgets; the seconds to wait
    when either is spent, else None."""
    throttles = [LoginAddressThrottle(), LoginAccountThrottle()]
    refused = [throttle for throttle in throttles if not throttle.allow_request(request, None)]
    if not refused:
        return None
    return max(throttle.wait() or 0.0 for throttle in refused)


# --- Lockout (django-axes) ------------------------------------------------------------------------


def lockout_seconds_left(username: str | None) -> int | None:
    """Seconds until the lockout of `username` ends (from its latest counted failure), or None when
    lockouts last until an admin lifts them (AXES_COOLOFF_TIME None)."""
    cool_off = get_cool_off()
    if cool_off is None:
        return None
    last = AccessAttempt.objects.filter(username=username).aggregate(last=Max("attempt_time"))["last"]
    left = cool_off if last is None else last + cool_off - timezone.now()
    return max(1, math.ceil(left.total_seconds()))


def _lockout_message(seconds: int | None) -> str:
    if seconds is None:
        return "Too many failed logins for this account: it is locked until an administrator unlocks it."
    return (f"Too many failed logins for this account: it is locked for {_duration(seconds)}. "
            "Try again later, or ask an administrator to unlock it.")


class LoginLocked(exceptions.APIException):
    """A locked-out account on the API: 429 `locked_out`, Retry-After when the lockout ends by itself."""

    status_code = 429
    default_detail = "Too many failed logins for this account."
    default_code = "locked_out"

    def __init__(self, seconds: int | None) -> None:
        super().__init__(_lockout_message(seconds))
        self.wait = seconds  # DRF's exception handler turns it into Retry-After


def _reset_after_token_login(request) -> None:
    """AXES_RESET_ON_SUCCESS for token logins: axes resets on Django's `user_logged_in` signal,
    which a token login does not send (it opens no session)."""
    username = attempted_username(request)
    if settings.AXES_ENABLED and settings.AXES_RESET_ON_SUCCESS and username:
        axes_reset(username=username)


class LoginLimitedTokenMixin:
    """For the token endpoint: the two login throttles, and axes' lockout as a JSON 429.

    simplejwt's serializer calls `authenticate(request=<the DRF request>)`; axes marks that request
    `axes_locked_out` when the account is (or just became) locked out, and the failure surfaces as
    simplejwt's AuthenticationFailed, which is turned into `locked_out` here. (AxesMiddleware sees
    only the Django request under it, so it never rewrites an API response.)"""

    throttle_classes = [LoginAddressThrottle, LoginAccountThrottle]

    def post(self, request, *args, **kwargs):
        try:
            response = super().post(request, *args, **kwargs)
        except exceptions.AuthenticationFailed:
            if getattr(request, "axes_locked_out", False):
                raise LoginLocked(lockout_seconds_left(attempted_username(request))) from None
            raise
        _reset_after_token_login(request)
        return response


# --- Pages for people -----------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(1, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _limited_response(request, seconds: int | None, message: str, code: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        response = JsonResponse(error_body(429, message, code=code), status=429)
    else:
        context = {"message": message, "locked": code == "locked_out"}
        response = render(request, "registration/login_limited.html", context, status=429)
    if seconds is not None:
        response["Retry-After"] = str(seconds)
    add_never_cache_headers(response)
    return response


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: what AxesMiddleware answers a login that axes locked out."""
    seconds = lockout_seconds_left(get_client_username(request, credentials))
    return _limited_response(request, seconds, _lockout_message(seconds), "locked_out")


def login_limited(view):
    """`view` (a login view) behind the login throttles: a POST over either limit gets the 429 page
    and never reaches the password check."""

    @wraps(view)
    def limited(request, *args, **kwargs):
        if request.method == "POST":
            wait = login_throttle_wait(request)
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                message = f"Too many login attempts. Wait {_duration(seconds)} and try again."
                return _limited_response(request, seconds, message, "throttled")
        return view(request, *args, **kwargs)

    return limited


def admin_urls(site):
    """`site.urls` with the admin's login view behind the login limits (still `admin:login`)."""
    urls = [path("login/", login_limited(site.login), name="login") if getattr(url, "name", None) == "login" else url
            for url in site.get_urls()]
    return urls, "admin", site.name
