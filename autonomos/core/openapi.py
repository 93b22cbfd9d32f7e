"""drf-spectacular hook: every operation documents the JSON error shape for the errors it can return."""

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}
ERRORS = {
    "400": "Invalid input.",
    "401": "Missing, invalid or expired token, or a token of another tenant.",
    "403": "Authenticated but not allowed.",
    "404": "Not found (or it belongs to another tenant).",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "409": "Conflicts with the current state.",
    "413": "Request body too large.",
    "415": "Unsupported media type.",
    "429": "Too many requests.",
}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, description in ERRORS.items():
                operation["responses"].setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": ref}}}
                )
    return result
