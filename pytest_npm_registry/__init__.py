"""A mock npm registry for testing publish pipelines offline, as a pytest plugin and a library."""

from __future__ import annotations

from .api.clients import NpmResult
from .api.registry import NpmRegistry
from .api.tools import install_tool
from .api.views import PackageView, Token, User
from .domain.errors import RegistryError, UsageError
from .domain.journal import Journal, JournalEntry
from .domain.models import (
    Access,
    ChallengeStyle,
    Operation,
    OtpPath,
    Outcome,
    Permission,
    PublishRequirement,
    TokenKind,
    TwoFactorMode,
)
from .domain.packaging import make_tarball, publish_document, write_package
from .domain.policy import Policy
from .domain.provenance import Provenance
from .domain.registry import Registry
from .wire.server import RegistryServer

__all__ = [
    "Access",
    "ChallengeStyle",
    "Journal",
    "JournalEntry",
    "NpmRegistry",
    "NpmResult",
    "Operation",
    "OtpPath",
    "Outcome",
    "PackageView",
    "Permission",
    "Policy",
    "Provenance",
    "PublishRequirement",
    "Registry",
    "RegistryError",
    "RegistryServer",
    "Token",
    "TokenKind",
    "TwoFactorMode",
    "UsageError",
    "User",
    "install_tool",
    "make_tarball",
    "publish_document",
    "write_package",
]
