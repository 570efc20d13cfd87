"""Platform-wide AI configuration stored in Supabase (one row, id = 'platform')."""

AI_CONFIG_TABLE = "ai_platform_config"

DEFAULT_AI_CONFIG = {
    "provider": "openai",
    "model": "gpt-4o-mini",
    "temperature": 0.2,
    "max_tokens": 1024,
    "system_prompt": "You are a helpful assistant.",
}


def with_defaults(stored):
    """Overlay a stored config row on the defaults, ignoring unknown columns."""
    merged = dict(DEFAULT_AI_CONFIG)
    for key in DEFAULT_AI_CONFIG:
        if stored and stored.get(key) is not None:
            merged[key] = stored[key]
    return merged
