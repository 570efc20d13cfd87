"""Provider-specific normalisation of an AI config."""

from . import bedrock, openai

_ADAPTERS = {
    "openai": openai,
    "bedrock": bedrock,
}


def normalize_for_provider(config):
    """Apply the provider's own limits and model rules to a validated config."""
    adapter = _ADAPTERS[config["provider"]]
    return adapter.normalize(config)
