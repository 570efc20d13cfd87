"""REQUEST authorizer for the HTTP API (payload 2.0, simple responses).

Only checks that a bearer token is present; the module Lambdas validate the token
against Supabase before doing anything with it.
"""

import logging
import os

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def _bearer_token(headers):
    # HTTP API lower-cases header names in payload 2.0.
    value = (headers or {}).get("authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def lambda_handler(event, context):
    token = _bearer_token(event.get("headers"))
    authorized = token is not None
    if not authorized:
        logger.info("denied %s: missing or malformed Authorization header", event.get("routeArn"))
    return {"isAuthorized": authorized}
