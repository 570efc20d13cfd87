"""Amazon Bedrock limits; Titan models have a lower output cap."""

from ai_common import get_provider_info
from org_common import BadRequest

PROVIDER_ID = "bedrock"
TITAN_MAX_OUTPUT_TOKENS = 4096


def normalize(config):
    info = get_provider_info(PROVIDER_ID)
    if config["model"] not in info.models:
        raise BadRequest(f"unknown Bedrock model {config['model']}")
    cap = info.max_output_tokens
    if config["model"].startswith("amazon.titan"):
        cap = TITAN_MAX_OUTPUT_TOKENS
    return {
        **config,
        "temperature": min(config["temperature"], info.max_temperature),
        "max_tokens": min(config["max_tokens"], cap),
    }
