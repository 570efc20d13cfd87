"""Shared helpers for CORA Lambdas: Supabase access, auth and HTTP responses."""

from org_common.auth import (
    get_access_token,
    get_current_user,
    require_org_role,
    require_platform_admin,
)
from org_common.db import delete, insert, select, select_one, update, upsert
from org_common.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    NotFound,
    Unauthorized,
)
from org_common.responses import (
    created,
    error_response,
    no_content,
    ok,
    parse_json_body,
)
from org_common.timeutil import format_timestamp, utc_now_iso

__all__ = [
    "ApiError",
    "BadRequest",
    "Forbidden",
    "NotFound",
    "Unauthorized",
    "created",
    "delete",
    "error_response",
    "format_timestamp",
    "get_access_token",
    "get_current_user",
    "insert",
    "no_content",
    "ok",
    "parse_json_body",
    "require_org_role",
    "require_platform_admin",
    "select",
    "select_one",
    "update",
    "upsert",
    "utc_now_iso",
]
