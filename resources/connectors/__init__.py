"""Connectors: list what changed in a source and stream its contents.

One module per connector type on the small protocol in `base`; `registry` maps type
names to them. Nothing here opens a file, process or connection at import time.
"""

from resources.connectors.base import (
    BaseConnector,
    Changes,
    CheckResult,
    CheckStep,
    ConfigError,
    Connector,
    ConnectorError,
    ConnectorSpec,
    Entry,
    Fetched,
    SourceUnavailable,
)
from resources.connectors.bitbucket import BitbucketApi, BitbucketConnector
from resources.connectors.codehost import CodeHostConnector, Repository
from resources.connectors.git import GitConnector
from resources.connectors.github import GithubApi, GithubConnector
from resources.connectors.gitlab import GitlabApi, GitlabConnector
from resources.connectors.globs import DEFAULT_EXCLUDES, PathFilter
from resources.connectors.local import LocalConnector
from resources.connectors.registry import (
    connector_class,
    connector_types,
    open_connector,
    validate_config,
)
from resources.connectors.rest import RestApi, RetryPolicy

__all__ = [
    "DEFAULT_EXCLUDES",
    "BaseConnector",
    "BitbucketApi",
    "BitbucketConnector",
    "Changes",
    "CheckResult",
    "CheckStep",
    "CodeHostConnector",
    "ConfigError",
    "Connector",
    "ConnectorError",
    "ConnectorSpec",
    "Entry",
    "Fetched",
    "GitConnector",
    "GithubApi",
    "GithubConnector",
    "GitlabApi",
    "GitlabConnector",
    "LocalConnector",
    "PathFilter",
    "Repository",
    "RestApi",
    "RetryPolicy",
    "SourceUnavailable",
    "connector_class",
    "connector_types",
    "open_connector",
    "validate_config",
]
