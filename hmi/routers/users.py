"""User management (admin) and the audit log (engineer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from hmi import audit_text
from hmi.deps import AdminUser, Ctx, EngineerUser
from hmi.schemas import AuditOut, UserCreateIn, UserOut, UserUpdateIn

router = APIRouter(prefix="/api", tags=["users"])

UserPath = Annotated[str, Path(min_length=2, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]


@router.get("/users", response_model=list[UserOut])
def users(ctx: Ctx, admin: AdminUser) -> list[UserOut]:
    return [UserOut(**u.to_dict()) for u in ctx.users.list()]  # type: ignore[arg-type]


@router.post("/users", response_model=UserOut, status_code=201, responses={409: {}})
def create_user(body: UserCreateIn, ctx: Ctx, admin: AdminUser) -> UserOut:
    user = ctx.users.create(body.username, body.role, body.password)
    ctx.store.audit(user=admin.username, action="create_user", target=f"user:{user.username}",
                    new={"role": user.role.value, "active": True})
    return UserOut(**user.to_dict())  # type: ignore[arg-type]


@router.patch("/users/{username}", response_model=UserOut, responses={404: {}, 409: {}})
def update_user(username: UserPath, body: UserUpdateIn, ctx: Ctx, admin: AdminUser) -> UserOut:
    """Change a user's role, password or active flag (their sessions end). Audited (never the
    password itself)."""
    old = ctx.users.require(username)
    new = ctx.users.update(username, role=body.role, password=body.password, active=body.active)
    ctx.store.audit(user=admin.username, action="update_user", target=f"user:{username}",
                    old={"role": old.role.value, "active": old.active},
                    new={"role": new.role.value, "active": new.active},
                    detail="password changed" if body.password is not None else None)
    return UserOut(**new.to_dict())  # type: ignore[arg-type]


@router.delete("/users/{username}", status_code=204, responses={404: {}, 409: {}})
def delete_user(username: UserPath, ctx: Ctx, admin: AdminUser) -> Response:
    old = ctx.users.delete(username)
    ctx.store.audit(user=admin.username, action="delete_user", target=f"user:{username}",
                    old={"role": old.role.value, "active": old.active})
    return Response(status_code=204)


@router.get("/audit", response_model=list[AuditOut], tags=["audit"])
def audit(ctx: Ctx, user: EngineerUser, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
          before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
          by: Annotated[str | None, Query(max_length=64, description="only entries of this user")] = None,
          action: Annotated[str | None, Query(max_length=64)] = None) -> list[AuditOut]:
    """Who changed what and when, newest first."""
    return [AuditOut(**a.to_dict(), summary=audit_text.summary(a),  # type: ignore[arg-type]
                     part=audit_text.part_serial(ctx.store, a))
            for a in ctx.store.audit_log(limit=limit, before_id=before_id, user=by, action=action)]
