"""Shared AI module code: the provider catalog and the platform AI config defaults."""

from ai_common.catalog import SUPPORTED_PROVIDERS, ProviderInfo, get_provider_info
from ai_common.config import AI_CONFIG_TABLE, DEFAULT_AI_CONFIG, with_defaults

__all__ = [
    "AI_CONFIG_TABLE",
    "DEFAULT_AI_CONFIG",
    "SUPPORTED_PROVIDERS",
    "ProviderInfo",
    "get_provider_info",
    "with_defaults",
]
