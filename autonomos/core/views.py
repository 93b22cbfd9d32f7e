"""Error pages: JSON for API paths, the product's page for people."""

from django.conf import settings
from django.http import HttpResponsePermanentRedirect
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt

from .api import json_error_response


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def error_404(request, exception=None):
    if _wants_json(request):
        return json_error_response(404, "Not found.")
    return render(request, "errors/error.html", {"status": 404, "message": "This page does not exist."}, status=404)


def error_500(request):
    if _wants_json(request):
        return json_error_response(500, "Internal server error.")
    context = {"status": 500, "message": "Something went wrong on our side."}
    return render(request, "errors/error.html", context, status=500)


def error_400(request, exception=None):
    if _wants_json(request):
        return json_error_response(400, "Bad request.")
    return render(request, "errors/error.html", {"status": 400, "message": "Bad request."}, status=400)


def error_403(request, exception=None):
    if _wants_json(request):
        return json_error_response(403, "Forbidden.")
    return render(request, "errors/error.html", {"status": 403, "message": "You may not see this page."}, status=403)


@csrf_exempt  # it acts on nothing: an unknown path answers 404 whatever the method (not a CSRF page)
def api_not_found(request, *args, **kwargs):
    """The last pattern under /api/: an unknown API path is the API's JSON 404 whatever DEBUG says
    (Django's debug 404 page, which lists every URL pattern, is never shown for the API). A path
    that lacks only its trailing slash is redirected as CommonMiddleware would (GET/HEAD); other
    methods cannot be redirected without losing their body, so they are told the right path."""
    if settings.APPEND_SLASH and not request.path_info.endswith("/"):
        candidate = request.path_info + "/"
        try:
            exists = resolve(candidate).func is not api_not_found
        except Resolver404:
            exists = False
        if exists:
            target = request.path + "/"
            if request.method in ("GET", "HEAD"):
                query = request.META.get("QUERY_STRING")
                return HttpResponsePermanentRedirect(f"{target}?{query}" if query else target)
            return json_error_response(404, f"Not found. Did you mean {target} (with a trailing slash)?")
    return json_error_response(404, "No such API endpoint.")
