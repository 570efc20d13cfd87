"""Resolve the calling user from the bearer token the authorizer let through."""

from org_common.db import select_one, supabase_request
from org_common.errors import Forbidden, Unauthorized


def get_access_token(event):
    headers = event.get("headers") or {}
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token")
    return token


def get_current_user(event):
    """Return the Supabase auth user ({"id", "email", ...}) for the request."""
    token = get_access_token(event)
    user = supabase_request("GET", "/auth/v1/user", token=token)
    if not user or "id" not in user:
        raise Unauthorized("invalid session")
    return user


def require_org_role(org_id, user_id, roles=None):
    """Return the caller's membership row; raise Forbidden if absent or role not allowed."""
    membership = select_one("org_members", {"org_id": org_id, "user_id": user_id})
    if membership is None or (roles and membership["role"] not in roles):
        raise Forbidden("not allowed for this organization")
    return membership


def require_platform_admin(user):
    """Raise Forbidden unless the caller's profile has a platform-level admin role."""
    profile = select_one("profiles", {"user_id": user["id"]}, columns="global_role")
    if profile is None or profile.get("global_role") not in ("platform_admin", "platform_owner"):
        raise Forbidden("platform admin role required")
    return profile
