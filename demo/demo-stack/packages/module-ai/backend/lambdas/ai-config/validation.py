"""Validation of PUT /ai/config payloads."""

from ai_common import SUPPORTED_PROVIDERS
from org_common import BadRequest

MAX_SYSTEM_PROMPT_CHARS = 8000


def validate_config(body):
    """Return a config dict in storage shape (snake_case) or raise BadRequest."""
    provider = body.get("provider")
    if provider not in SUPPORTED_PROVIDERS:
        raise BadRequest(f"provider must be one of {', '.join(sorted(SUPPORTED_PROVIDERS))}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required")

    try:
        temperature = float(body.get("temperature", 0.2))
        max_tokens = int(body.get("maxTokens", 1024))
    except (TypeError, ValueError) as exc:
        raise BadRequest("temperature and maxTokens must be numbers") from exc
    if temperature < 0:
        raise BadRequest("temperature must not be negative")
    if max_tokens <= 0:
        raise BadRequest("maxTokens must be positive")

    system_prompt = body.get("systemPrompt") or ""
    if len(system_prompt) > MAX_SYSTEM_PROMPT_CHARS:
        raise BadRequest(f"systemPrompt is limited to {MAX_SYSTEM_PROMPT_CHARS} characters")

    return {
        "provider": provider,
        "model": model,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "system_prompt": system_prompt,
    }
