"""Shared platform-management code: Lambda inventory and warming settings."""

from mgmt_common.inventory import list_project_functions
from mgmt_common.warming import WARMING_TABLE, validate_warming_config

__all__ = [
    "WARMING_TABLE",
    "list_project_functions",
    "validate_warming_config",
]
