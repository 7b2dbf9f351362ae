"""The state store's tables (SQLAlchemy 2 typed declarative).

The schema is *built* only by the Alembic revisions in ``ent_migrate.migrations``; these models are what
the code expects, and a test checks that the migrated schema equals them (``schema_diff``). Any change
here therefore needs a new numbered revision.

Every timestamp is timezone-aware UTC: :class:`UTCDateTime` stores ``TIMESTAMP WITH TIME ZONE`` on
PostgreSQL and, since SQLite keeps no zone, re-attaches UTC when reading, so code never compares a
naive and an aware datetime. Constraint names follow :data:`NAMING_CONVENTION` so that the names in the
migrations, in the database and in autogenerate's output are the same on both back-ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from ent_migrate.state.crypto import EncryptedJSON

__all__ = [
    "NAMING_CONVENTION",
    "Audit",
    "Base",
    "ContentLedger",
    "IdMap",
    "Identity",
    "IdentityAlias",
    "IdentityBlock",
    "IdentityFacts",
    "IdentityMerge",
    "InputProblem",
    "Item",
    "JournalEntry",
    "PendingIdentityBlock",
    "PromotionPupil",
    "PromotionTransition",
    "Report",
    "ReviewEntry",
    "Run",
    "RunLock",
    "StageCheckpoint",
    "UTCDateTime",
    "utcnow",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime on every back-end; a naive value is refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store; use an aware UTC datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        # SQLite hands back what was written (UTC) without a zone: say so again.
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # none_as_null: a Python None is stored as SQL NULL (not JSON null), so "IS NULL" filters work.
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(none_as_null=True),
    }


def _run_fk() -> Mapped[str]:
    # Deleting a run deletes everything that belongs to it, in one statement.
    return mapped_column(String(36), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)


def _created() -> Mapped[dt.datetime]:
    return mapped_column(nullable=False, default=utcnow)


def _updated() -> Mapped[dt.datetime]:
    return mapped_column(nullable=False, default=utcnow, onupdate=utcnow)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    source: Mapped[str] = mapped_column(String, nullable=False)
    target: Mapped[str] = mapped_column(String, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    config_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    report_digest: Mapped[str | None] = mapped_column(String(64))
    # The configured names ([source.NAME], [target.NAME]): what a run and its identities are keyed by,
    # so that a new delivery file name or a copy of the same data is the same source (never the path).
    source_name: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    target_name: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    plan_revision: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    #: the digest of the plan report apply executed (the reviewed dry-run)
    applied_plan_digest: Mapped[str | None] = mapped_column(String(64))
    verdict: Mapped[str | None] = mapped_column(String(24))


class StageCheckpoint(Base):
    __tablename__ = "stage_checkpoints"

    run_id: Mapped[str] = mapped_column(String(36), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    cursor: Mapped[str | None] = mapped_column(Text)
    counts: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    updated_at: Mapped[dt.datetime] = _updated()


#: A key column: binary order on every back-end (PostgreSQL's default collation follows the locale).
_KEY = Text().with_variant(Text(collation="C"), "postgresql")


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("run_id", "kind", "key"),
        # No (run_id, state) index: every stage moves every item to its next state, and each such
        # UPDATE rewrote it whole (revision 0007); what reads by state reads by kind too.
        # The stages scan a run's items in id order, by batches ("id > last ORDER BY id LIMIT n"),
        # whole or one kind at a time: without these each batch would sort the run's items again.
        Index(None, "run_id", "id"),
        Index(None, "run_id", "kind", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = _run_fk()
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # Ids compare code point by code point, as on SQLite, whatever the database's locale: reconcile
    # reads a guardian's guardianships as the key range "id|" to "id}", which a French collation
    # (it ignores "|" and "}") makes empty (revision 0007).
    key: Mapped[str] = mapped_column(_KEY, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    source_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The records themselves (names, birth dates, INE): sealed when [state] encryption_key is set.
    payload: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())
    # The expected record on the target. An item is expected when it has a target fingerprint; its
    # target_payload is then NULL when that record is the source's as it is (most kinds: no copy).
    target_payload: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())
    target_fingerprint: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    mark: Mapped[str | None] = mapped_column(String(1))
    mark_reason: Mapped[str | None] = mapped_column(Text)  # why verify gave that mark
    updated_at: Mapped[dt.datetime] = _updated()
    #: why map took the expected record back: "mapping" (renamed or split class) or "identity"
    #: (folded onto the account of the same person's other record), else None
    not_expected: Mapped[str | None] = mapped_column(String(16))


class Identity(Base):
    __tablename__ = "identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    canonical_id: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    profile: Mapped[str] = mapped_column(String(16), nullable=False)
    ine: Mapped[str | None] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime] = _created()


class IdentityAlias(Base):
    __tablename__ = "identity_aliases"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("identities.id", ondelete="CASCADE"), nullable=False, index=True
    )
    source: Mapped[str] = mapped_column(Text, nullable=False)
    source_id: Mapped[str] = mapped_column(Text, nullable=False)


class IdMap(Base):
    """Old → new ids and logins; kept forever (it outlives the runs, so no foreign key to them)."""

    __tablename__ = "id_map"
    __table_args__ = (UniqueConstraint("source", "old_id"), UniqueConstraint("new_login"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    old_id: Mapped[str] = mapped_column(Text, nullable=False)
    new_id: Mapped[str] = mapped_column(Text, nullable=False)
    old_login: Mapped[str | None] = mapped_column(Text)
    new_login: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _created()


class IdentityBlock(Base):
    """A blocking key of an identity, as a keyed digest (never a name): who to score a newcomer against."""

    __tablename__ = "identity_blocks"
    # One index, block first: it finds the identities under a key and keeps each pair once; reconcile
    # fills it in block order (revision 0008). Nothing reads the keys by identity.
    __table_args__ = (UniqueConstraint("block", "identity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(Integer, ForeignKey("identities.id", ondelete="CASCADE"), nullable=False)
    block: Mapped[str] = mapped_column(String(24), nullable=False)


class PendingIdentityBlock(Base):
    """A blocking key a reconcile under way has kept for an identity, not yet in ``identity_blocks``
    (revision 0008): appended in the batch's own transaction, moved there in block order when the
    reconcile ends, or when the next one begins after a stop. No index: rows are only appended and
    read back whole (why: :mod:`ent_migrate.state._blocks`)."""

    __tablename__ = "identity_blocks_pending"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(Integer, ForeignKey("identities.id", ondelete="CASCADE"), nullable=False)
    block: Mapped[str] = mapped_column(String(24), nullable=False)


class IdentityFacts(Base):
    """What matching compares for an identity (names, birth date...): sealed like the items' payloads."""

    __tablename__ = "identity_facts"

    identity_id: Mapped[int] = mapped_column(Integer, ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True)
    facts: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())


class ReviewEntry(Base):
    """A match that was not decided automatically (ambiguous, in the review band, an INE conflict),
    and the reviewer's decision once imported: replayed on every later run."""

    __tablename__ = "review_queue"
    __table_args__ = (UniqueConstraint("source", "person_key", "candidate_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    person_key: Mapped[str] = mapped_column(Text, nullable=False)
    candidate_key: Mapped[str] = mapped_column(Text, nullable=False)  # an identity's canonical id
    profile: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(String(24), nullable=False)
    score: Mapped[str] = mapped_column(String(16), nullable=False)  # as shown, so export is stable
    matched: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    differed: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    decision: Mapped[str | None] = mapped_column(String(16), index=True)  # None pending, merge, distinct
    created_at: Mapped[dt.datetime] = _created()
    decided_at: Mapped[dt.datetime | None] = mapped_column()


class IdentityMerge(Base):
    """One alias moved from an identity into another; ``undone_at`` set when the merge was undone."""

    __tablename__ = "identity_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    source_id: Mapped[str] = mapped_column(Text, nullable=False)
    from_identity: Mapped[str] = mapped_column(Text, nullable=False)  # canonical ids: outlive the rows
    into_identity: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = _created()
    undone_at: Mapped[dt.datetime | None] = mapped_column()


class JournalEntry(Base):
    """One operation on a target: written as ``intent`` *before* the effect, then ``done``/``failed``."""

    __tablename__ = "journal"
    __table_args__ = (Index(None, "run_id", "status"),)

    op_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = _run_fk()
    # The journal is evidence: losing an item must not lose the record that an operation was attempted.
    item_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("items.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    key: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()


class ContentLedger(Base):
    __tablename__ = "content_ledger"
    __table_args__ = (UniqueConstraint("run_id", "kind", "key", "side"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = _run_fk()
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    key: Mapped[str] = mapped_column(Text, nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[dt.datetime] = _created()


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[dt.datetime] = _created()
    path: Mapped[str] = mapped_column(Text, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    summary: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")


class Audit(Base):
    """A reversibility audit run (``ent-migrate audit``): its signed report's digest and the R19
    destruction deadline (return + 3 months) that ``ent-migrate status`` shows until the PV is in."""

    __tablename__ = "audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = _created()
    clause_file_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    report_path: Mapped[str] = mapped_column(Text, nullable=False)
    report_digest: Mapped[str] = mapped_column(String(64), nullable=False)  # SHA-256 of its SHA256SUMS
    unmet: Mapped[str] = mapped_column(Text, nullable=False, default="")  # promised clauses not met, comma-separated
    destruction_deadline: Mapped[str | None] = mapped_column(String(10))  # ISO date; None: no return date given
    destroyed: Mapped[str | None] = mapped_column(String(10))  # ISO date the PV states
    pv_sha256: Mapped[str | None] = mapped_column(String(64))


class InputProblem(Base):
    """Every problem met while reading the source, one row per occurrence: what could not be read is
    counted and listed in the reports, and keeps a verify from certifying an incomplete source."""

    __tablename__ = "input_problems"
    __table_args__ = (Index(None, "run_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = _run_fk()
    code: Mapped[str] = mapped_column(String(48), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    location: Mapped[str] = mapped_column(Text, nullable=False)  # file:line or a record's position
    detail: Mapped[str | None] = mapped_column(Text)


class RunLock(Base):
    """Who holds the state store's write lock (the lock itself is an OS file lock or a PostgreSQL
    advisory lock, released when the process dies; this row only says who took it, for messages)."""

    __tablename__ = "run_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(36))
    command: Mapped[str] = mapped_column(Text, nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    host: Mapped[str] = mapped_column(Text, nullable=False)
    acquired_at: Mapped[dt.datetime] = _created()


class PromotionPupil(Base):
    """One CM2 pupil of the cycle-3 promotion and where it stands (ent_migrate.promotion.states)."""

    __tablename__ = "promotion_pupils"
    __table_args__ = (Index(None, "school_year", "state"),)

    key: Mapped[str] = mapped_column(Text, primary_key=True)  # "<school year>|<primary person id>"
    school_year: Mapped[int] = mapped_column(Integer, nullable=False)
    school_uai: Mapped[str] = mapped_column(String(16), nullable=False)
    college_uai: Mapped[str | None] = mapped_column(String(16))
    target_id: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(48))  # why unmatched / not promoted (a code, no names)
    score: Mapped[int | None] = mapped_column(Integer)
    opted_out: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # what was exported / imported (paths and SHA-256): personal data, sealed like the items' payloads
    detail: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())
    updated_at: Mapped[dt.datetime] = _updated()


class PromotionTransition(Base):
    """A pupil's state change, journaled as ``intent`` before its effect is made, then ``done``."""

    __tablename__ = "promotion_transitions"
    __table_args__ = (Index(None, "pupil_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pupil_key: Mapped[str] = mapped_column(Text, nullable=False)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(48))
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
