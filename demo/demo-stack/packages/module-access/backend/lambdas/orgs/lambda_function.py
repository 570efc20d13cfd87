"""Organization details: GET /orgs/{orgId}."""

import logging
import os

from org_common import (
    ApiError,
    NotFound,
    error_response,
    format_timestamp,
    get_current_user,
    ok,
    require_org_role,
    select_one,
)

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def get_org(user, org_id):
    membership = require_org_role(org_id, user["id"])
    org = select_one("orgs", {"id": org_id})
    if org is None:
        raise NotFound("organization not found")
    return ok(
        {
            "id": org["id"],
            "name": org["name"],
            "slug": org.get("slug"),
            "createdAt": format_timestamp(org.get("created_at")),
            "myRole": membership["role"],
        }
    )


def lambda_handler(event, context):
    route = event.get("routeKey")
    org_id = (event.get("pathParameters") or {}).get("orgId")
    try:
        user = get_current_user(event)
        if route == "GET /orgs/{orgId}":
            return get_org(user, org_id)
        return error_response(404, f"unsupported route {route}")
    except ApiError as exc:
        return error_response(exc.status_code, exc.message)
    except Exception:
        logger.exception("unhandled error on %s", route)
        return error_response(500, "internal error")
