"""Current user's profile: GET/PUT /profiles/me."""

import logging
import os

from org_common import (
    ApiError,
    BadRequest,
    error_response,
    format_timestamp,
    get_current_user,
    ok,
    parse_json_body,
    select_one,
    update,
    upsert,
    utc_now_iso,
)

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def serialize(profile):
    return {
        "userId": profile["user_id"],
        "email": profile.get("email"),
        "fullName": profile.get("full_name"),
        "avatarUrl": profile.get("avatar_url"),
        "currentOrgId": profile.get("current_org_id"),
        "createdAt": format_timestamp(profile.get("created_at")),
        "updatedAt": format_timestamp(profile.get("updated_at")),
    }


def get_profile(user):
    profile = select_one("profiles", {"user_id": user["id"]})
    if profile is None:
        # First sign-in: provision an empty profile.
        profile = upsert(
            "profiles",
            {"user_id": user["id"], "email": user.get("email")},
            on_conflict="user_id",
        )
    return ok(serialize(profile))


def update_profile(user, body):
    changes = {
        "full_name": body.get("fullName"),
        "avatar_url": body.get("avatarUrl"),
        "current_org_id": body.get("currentOrgId"),
    }
    changes = {key: value for key, value in changes.items() if value is not None}
    if not changes:
        raise BadRequest("nothing to update")
    changes["updated_at"] = utc_now_iso()
    rows = update("profiles", {"user_id": user["id"]}, changes)
    if not rows:
        raise BadRequest("profile does not exist yet")
    return ok(serialize(rows[0]))


def lambda_handler(event, context):
    route = event.get("routeKey")
    try:
        user = get_current_user(event)
        if route == "GET /profiles/me":
            return get_profile(user)
        if route == "PUT /profiles/me":
            return update_profile(user, parse_json_body(event))
        return error_response(404, f"unsupported route {route}")
    except ApiError as exc:
        return error_response(exc.status_code, exc.message)
    except Exception:
        logger.exception("unhandled error on %s", route)
        return error_response(500, "internal error")
