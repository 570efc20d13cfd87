"""Email domains that auto-join users to an organization: GET /orgs/{orgId}/email-domains."""

import logging
import os

from org_common import (
    ApiError,
    error_response,
    format_timestamp,
    get_current_user,
    ok,
    require_org_role,
    select,
)

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def list_domains(user, org_id):
    require_org_role(org_id, user["id"], roles=("org_admin", "org_owner"))
    rows = select("org_email_domains", {"org_id": org_id}, order="domain.asc")
    domains = [
        {
            "id": row["id"],
            "domain": row["domain"],
            "verified": bool(row.get("verified_at")),
            "autoJoinRole": row.get("auto_join_role", "org_user"),
            "createdAt": format_timestamp(row.get("created_at")),
        }
        for row in rows
    ]
    return ok({"domains": domains})


def lambda_handler(event, context):
    route = event.get("routeKey")
    org_id = (event.get("pathParameters") or {}).get("orgId")
    try:
        user = get_current_user(event)
        if route == "GET /orgs/{orgId}/email-domains":
            return list_domains(user, org_id)
        return error_response(404, f"unsupported route {route}")
    except ApiError as exc:
        return error_response(exc.status_code, exc.message)
    except Exception:
        logger.exception("unhandled error on %s", route)
        return error_response(500, "internal error")
