"""Model signing verdicts (`model_version_signing`): one row per verified UC version."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, delete, insert, select

from modelyard.domain.model_signing import Signing, SigningStatus
from modelyard.store.tables import model_version_signing

mvs = model_version_signing

# Read by every alias move a policy with `signed` guards: built once.
_SIGNED = select(mvs.c.signed).where(mvs.c.version_id == bindparam("b_id"))


class SigningRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def put(self, version_id: int, signing: Signing) -> None:
        """Store the verdict on a version (replacing an earlier one)."""
        self.conn.execute(delete(mvs).where(mvs.c.version_id == version_id))
        self.conn.execute(insert(mvs).values(
            version_id=version_id, signed=signing.signed, status=signing.status.value,
            signer=signing.signer, detail=signing.detail, verified_at=signing.verified_at or 0))

    def get(self, version_id: int) -> Signing | None:
        row = self.conn.execute(select(mvs).where(mvs.c.version_id == version_id)).first()
        if row is None:
            return None
        return Signing(SigningStatus(row.status), row.signer, row.detail, row.verified_at)


def is_signed(conn: Connection, version_id: int) -> bool:
    """Whether the version's model signature was verified (the policy key `signed`)."""
    return bool(conn.execute(_SIGNED, {"b_id": version_id}).scalar())
