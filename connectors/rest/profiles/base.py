"""What a vendor profile is: a small declarative description, plus the hooks where the vendor is odd.

A profile subclasses :class:`Profile`, sets the class variables (name, what it supports, its default
auth, its login page, its quota answer) and implements the readers and writers of what it supports,
through :attr:`Profile.client` (a :class:`~ent_migrate.connectors.rest.client.RestClient` that already
turned every fault into the engine's errors). To add a vendor, copy ``profiles/scim.py``, rename it,
and list it in ``profiles/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from ent_migrate.contract import Capability, Operation, Role, TargetRules
from ent_migrate.errors import TerminalError
from ent_migrate.model import Function, Group, Guardianship, Membership, Person, RecordKind, Structure
from ent_migrate.problems import Problems

if TYPE_CHECKING:
    from ent_migrate.connectors.rest.client import RestClient

__all__ = ["Profile"]


class Profile:
    """Base of every vendor profile. The defaults say "not supported" with the profile named."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: the data capabilities (and delete) this vendor's API supports, per role
    supports: ClassVar[dict[Role, frozenset[Capability]]] = {}
    default_auth: ClassVar[str] = "bearer"
    #: a redirect to one of these paths is an authentication failure (never a success)
    login_paths: ClassVar[tuple[str, ...]] = ()
    #: the path of the default session login form, for ``auth = "session"``
    default_login_path: ClassVar[str] = ""
    #: the path of the default OAuth2 token endpoint
    default_token_path: ClassVar[str] = ""
    #: what ``connectors about rest`` shows about this profile, beyond ``supports``
    notes: ClassVar[str] = ""

    def __init__(self, client: RestClient, options: Any, problems: Problems) -> None:
        self.client = client
        self.options = options
        self.problems = problems

    # -- error decoding (the client's ErrorDecoder) ---------------------------------------------
    def body_error(self, status: int, payload: Any) -> str | None:
        return None

    def error_message(self, status: int, payload: Any) -> str:
        return "error"

    def is_quota(self, status: int, payload: Any) -> bool:
        return False

    # -- lifecycle -------------------------------------------------------------------------------
    def check(self) -> str:
        """Make one authenticated request; return a short detail for ``connectors check``."""
        raise NotImplementedError

    def rules(self) -> TargetRules:
        return TargetRules()

    # -- readers / writers -----------------------------------------------------------------------
    def read_accounts(self) -> Iterator[Structure | Person | Function]:
        raise self._unsupported("read accounts")

    def read_groups(self) -> Iterator[Group]:
        raise self._unsupported("read groups")

    def read_relations(self) -> Iterator[Membership | Guardianship]:
        raise self._unsupported("read relations")

    def write(self, op: Operation) -> None:
        raise self._unsupported(f"write {op.kind}")

    def delete(self, kind: RecordKind, key: str) -> None:
        raise self._unsupported(f"delete {kind}")

    def _unsupported(self, what: str) -> TerminalError:
        return TerminalError(f"the {self.name} profile cannot {what}")
