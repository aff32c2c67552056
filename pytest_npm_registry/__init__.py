"""A mock npm registry for testing publish pipelines offline, as a pytest plugin and a library."""

from __future__ import annotations

from .clients import NpmResult
from .errors import RegistryError, UsageError
from .facade import NpmRegistry, PackageView, Token, User
from .journal import Journal, JournalEntry
from .models import (
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
from .packaging import make_tarball, publish_document, write_package
from .policy import Policy
from .registry import Registry
from .server import RegistryServer

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
    "PublishRequirement",
    "Registry",
    "RegistryError",
    "RegistryServer",
    "Token",
    "TokenKind",
    "TwoFactorMode",
    "UsageError",
    "User",
    "make_tarball",
    "publish_document",
    "write_package",
]
