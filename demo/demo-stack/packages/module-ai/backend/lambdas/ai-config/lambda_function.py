"""Platform AI configuration: GET/PUT /ai/config."""

import logging
import os

from ai_common import AI_CONFIG_TABLE, with_defaults
from org_common import (
    ApiError,
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

from providers import normalize_for_provider
from validation import validate_config

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

CONFIG_ID = "platform"


def serialize(config, updated_at=None):
    return {
        "provider": config["provider"],
        "model": config["model"],
        "temperature": config["temperature"],
        "maxTokens": config["max_tokens"],
        "systemPrompt": config["system_prompt"],
        "updatedAt": format_timestamp(updated_at),
    }


def get_config():
    row = select_one(AI_CONFIG_TABLE, {"id": CONFIG_ID})
    return ok(serialize(with_defaults(row), row and row.get("updated_at")))


def put_config(user, body):
    require_platform_admin(user)
    config = normalize_for_provider(validate_config(body))
    row = upsert(
        AI_CONFIG_TABLE,
        {**config, "id": CONFIG_ID, "updated_by": user["id"], "updated_at": utc_now_iso()},
        on_conflict="id",
    )
    logger.info("AI config set to %s/%s by %s", config["provider"], config["model"], user["id"])
    return ok(serialize(config, row and row.get("updated_at")))


def lambda_handler(event, context):
    route = event.get("routeKey")
    try:
        user = get_current_user(event)
        if route == "GET /ai/config":
            return get_config()
        if route == "PUT /ai/config":
            return put_config(user, parse_json_body(event))
        return error_response(404, f"unsupported route {route}")
    except ApiError as exc:
        return error_response(exc.status_code, exc.message)
    except Exception:
        logger.exception("unhandled error on %s", route)
        return error_response(500, "internal error")
