"""Platform Lambda management: inventory and warming settings (platform admins only)."""

import logging
import os

from mgmt_common import WARMING_TABLE, list_project_functions, validate_warming_config
from org_common import (
    ApiError,
    BadRequest,
    error_response,
    format_timestamp,
    get_current_user,
    ok,
    parse_json_body,
    require_platform_admin,
    select_one,
    upsert,
    utc_now_iso,
)

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

NAME_PREFIX = os.environ.get("LAMBDA_NAME_PREFIX", "")
CONFIG_ID = "default"


def get_lambdas():
    return ok({"functions": list_project_functions(NAME_PREFIX)})


def get_warming():
    row = select_one(WARMING_TABLE, {"id": CONFIG_ID}) or {}
    return ok(
        {
            "enabled": row.get("enabled", False),
            "schedule": row.get("schedule", "rate(5 minutes)"),
            "functions": row.get("functions", []),
            "updatedAt": format_timestamp(row.get("updated_at")),
        }
    )


def put_warming(user, body):
    known = [fn["name"] for fn in list_project_functions(NAME_PREFIX)]
    try:
        config = validate_warming_config(body, known)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    upsert(
        WARMING_TABLE,
        {**config, "id": CONFIG_ID, "updated_by": user["id"], "updated_at": utc_now_iso()},
        on_conflict="id",
    )
    logger.info("warming config updated by %s: %s", user["id"], config)
    return get_warming()


def lambda_handler(event, context):
    route = event.get("routeKey")
    try:
        user = get_current_user(event)
        require_platform_admin(user)
        if route == "GET /mgmt/lambdas":
            return get_lambdas()
        if route == "GET /mgmt/warming":
            return get_warming()
        if route == "PUT /mgmt/warming":
            return put_warming(user, parse_json_body(event))
        return error_response(404, f"unsupported route {route}")
    except ApiError as exc:
        return error_response(exc.status_code, exc.message)
    except Exception:
        logger.exception("unhandled error on %s", route)
        return error_response(500, "internal error")
