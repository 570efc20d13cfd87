"""Static catalog of the model providers the platform can be configured with."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderInfo:
    id: str
    name: str
    models: tuple
    max_output_tokens: int
    max_temperature: float

    def to_dict(self):
        return {
            "id": self.id,
            "name": self.name,
            "models": list(self.models),
            "maxOutputTokens": self.max_output_tokens,
            "maxTemperature": self.max_temperature,
        }


SUPPORTED_PROVIDERS = {
    "openai": ProviderInfo(
        id="openai",
        name="OpenAI",
        models=("gpt-4o", "gpt-4o-mini", "gpt-4.1"),
        max_output_tokens=16384,
        max_temperature=2.0,
    ),
    "bedrock": ProviderInfo(
        id="bedrock",
        name="Amazon Bedrock",
        models=(
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "amazon.titan-text-express-v1",
        ),
        max_output_tokens=8192,
        max_temperature=1.0,
    ),
}


def get_provider_info(provider_id):
    return SUPPORTED_PROVIDERS.get(provider_id)
