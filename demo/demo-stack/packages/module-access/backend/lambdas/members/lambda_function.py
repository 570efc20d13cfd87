"""Organization members: GET/POST /orgs/{orgId}/members."""

import logging
import os

from org_common import (
    ApiError,
    BadRequest,
    created,
    error_response,
    format_timestamp,
    get_current_user,
    insert,
    ok,
    parse_json_body,
    require_org_role,
    select,
    select_one,
)

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

ROLES = ("org_user", "org_admin", "org_owner")
MANAGER_ROLES = ("org_admin", "org_owner")


def serialize(member):
    return {
        "userId": member["user_id"],
        "role": member["role"],
        "joinedAt": format_timestamp(member.get("created_at")),
    }


def list_members(user, org_id):
    require_org_role(org_id, user["id"])
    members = select("org_members", {"org_id": org_id}, order="created_at.asc")
    return ok({"members": [serialize(m) for m in members]})


def add_member(user, org_id, body):
    require_org_role(org_id, user["id"], roles=MANAGER_ROLES)
    email = (body.get("email") or "").strip().lower()
    role = body.get("role", "org_user")
    if not email:
        raise BadRequest("email is required")
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}")
    profile = select_one("profiles", {"email": email})
    if profile is None:
        raise BadRequest("no user with that email has signed up yet")
    if select_one("org_members", {"org_id": org_id, "user_id": profile["user_id"]}):
        raise ApiError("user is already a member", 409)
    member = insert(
        "org_members",
        {"org_id": org_id, "user_id": profile["user_id"], "role": role, "added_by": user["id"]},
    )
    logger.info("user %s added %s to org %s", user["id"], profile["user_id"], org_id)
    return created(serialize(member))


def lambda_handler(event, context):
    route = event.get("routeKey")
    org_id = (event.get("pathParameters") or {}).get("orgId")
    try:
        user = get_current_user(event)
        if route == "GET /orgs/{orgId}/members":
            return list_members(user, org_id)
        if route == "POST /orgs/{orgId}/members":
            return add_member(user, org_id, parse_json_body(event))
        return error_response(404, f"unsupported route {route}")
    except ApiError as exc:
        return error_response(exc.status_code, exc.message)
    except Exception:
        logger.exception("unhandled error on %s", route)
        return error_response(500, "internal error")
