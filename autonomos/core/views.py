"""Error pages: JSON for API paths, the product's page for people."""

from django.shortcuts import render

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
