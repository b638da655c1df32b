"""Typed dependencies: the HMI context and the signed-in user with a minimum role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from hmi.auth.roles import Role
from hmi.auth.users import User
from hmi.context import HmiContext

SESSION_COOKIE = "hmi_session"


def get_ctx(request: Request) -> HmiContext:
    ctx: HmiContext = request.app.state.hmi
    return ctx


Ctx = Annotated[HmiContext, Depends(get_ctx)]


def session_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE) or None


def current_user(request: Request, ctx: Ctx) -> User:
    token = session_token(request)
    user = None if token is None else ctx.users.session_user(token)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first (session missing or expired)",
                            headers={"WWW-Authenticate": "Bearer"})
    return user


def require(role: Role) -> Callable[[User], User]:
    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.role.allows(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this needs the {role.value} role; you are signed in as {user.role.value}")
        return user

    return check


OperatorUser = Annotated[User, Depends(require(Role.OPERATOR))]
EngineerUser = Annotated[User, Depends(require(Role.ENGINEER))]
AdminUser = Annotated[User, Depends(require(Role.ADMIN))]
