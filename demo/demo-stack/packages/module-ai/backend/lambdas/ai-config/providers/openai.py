"""OpenAI chat-completions limits."""

from ai_common import get_provider_info
from org_common import BadRequest

PROVIDER_ID = "openai"


def normalize(config):
    info = get_provider_info(PROVIDER_ID)
    if config["model"] not in info.models:
        raise BadRequest(f"unknown OpenAI model {config['model']}")
    return {
        **config,
        "temperature": min(config["temperature"], info.max_temperature),
        "max_tokens": min(config["max_tokens"], info.max_output_tokens),
    }
