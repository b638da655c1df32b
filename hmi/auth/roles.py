"""User roles: each role may do what the roles below it may."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"  # views, reviews rejects
    ENGINEER = "engineer"  # + teach, thresholds, recipes, arm/disarm, audit log
    ADMIN = "admin"  # + users

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


_RANK = {Role.OPERATOR: 1, Role.ENGINEER: 2, Role.ADMIN: 3}
