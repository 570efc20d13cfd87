"""AI providers: public catalog (GET /ai/providers) and per-provider status."""

import logging
import os

from ai_common import SUPPORTED_PROVIDERS, get_provider_info
from org_common import (
    ApiError,
    NotFound,
    error_response,
    format_timestamp,
    get_current_user,
    ok,
    select_one,
)

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def list_providers():
    providers = [
        {"id": info.id, "name": info.name, "models": list(info.models)}
        for info in SUPPORTED_PROVIDERS.values()
    ]
    return ok({"providers": providers})


def get_provider(provider_id):
    info = get_provider_info(provider_id)
    if info is None:
        raise NotFound(f"unknown provider {provider_id}")
    # Only whether credentials exist is exposed, never the credentials themselves.
    credentials = select_one(
        "ai_provider_credentials", {"provider": provider_id}, columns="provider,updated_at"
    )
    return ok(
        {
            **info.to_dict(),
            "configured": credentials is not None,
            "credentialsUpdatedAt": format_timestamp(credentials and credentials.get("updated_at")),
        }
    )


def lambda_handler(event, context):
    route = event.get("routeKey")
    try:
        if route == "GET /ai/providers":
            return list_providers()
        if route == "GET /ai/providers/{providerId}":
            get_current_user(event)
            return get_provider(event["pathParameters"]["providerId"])
        return error_response(404, f"unsupported route {route}")
    except ApiError as exc:
        return error_response(exc.status_code, exc.message)
    except Exception:
        logger.exception("unhandled error on %s", route)
        return error_response(500, "internal error")
