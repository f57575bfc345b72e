"""Who is calling: the actor every service call acts for (defined in domain/actor.py, where the
layers below the services can name it too; services' callers keep importing it from here)."""

from modelyard.domain.actor import ANONYMOUS, LOCAL_ADMIN, SYSTEM, Actor

__all__ = ["ANONYMOUS", "LOCAL_ADMIN", "SYSTEM", "Actor"]
