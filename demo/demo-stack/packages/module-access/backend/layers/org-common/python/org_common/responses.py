"""API Gateway (HTTP API, payload 2.0) response helpers."""

import base64
import json

from org_common.errors import BadRequest

DEFAULT_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
}


def _response(status_code, body=None):
    response = {"statusCode": status_code, "headers": dict(DEFAULT_HEADERS)}
    if body is not None:
        response["body"] = json.dumps(body, default=str)
    return response


def ok(body):
    return _response(200, body)


def created(body):
    return _response(201, body)


def no_content():
    return _response(204)


def error_response(status_code, message):
    return _response(status_code, {"error": message})


def parse_json_body(event):
    """Return the request body as a dict; raise BadRequest if it is not a JSON object."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8")
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON body: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body
