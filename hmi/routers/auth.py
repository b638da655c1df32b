"""Sign-in, sign-out, the signed-in user, password change, first-admin setup."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from hmi.auth.roles import Role
from hmi.auth.users import User
from hmi.deps import SESSION_COOKIE, Ctx, current_user, session_token
from hmi.schemas import LoginIn, LoginOut, PasswordChangeIn, SetupIn, SetupStateOut, UserOut

router = APIRouter(prefix="/api/auth", tags=["auth"])

SignedIn = Annotated[User, Depends(current_user)]


def _login_response(ctx: Ctx, response: Response, user: User) -> LoginOut:
    token, expires = ctx.users.create_session(user.username)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=ctx.settings.cookie_secure, path="/",
                        max_age=ctx.settings.session_idle_minutes * 60)
    return LoginOut(user=UserOut(**user.to_dict()), token=token, expires_ns=expires)  # type: ignore[arg-type]


@router.post("/login", response_model=LoginOut, responses={401: {"description": "wrong name or password"},
                                                            429: {"description": "too many failures"}})
def login(body: LoginIn, ctx: Ctx, response: Response, request: Request) -> LoginOut:
    """Sign in; sets the session cookie and returns the token (for API clients)."""
    source = request.client.host if request.client else ""
    wait = ctx.guard.locked_for(body.username, source)
    if wait > 0:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"too many failed sign-ins for {body.username!r}; try again in {wait:.0f} s",
                            headers={"Retry-After": str(int(wait) + 1)})
    user = ctx.users.authenticate(body.username, body.password)
    if user is None:
        ctx.guard.failed(body.username, source)
        ctx.store.audit(user=body.username, action="login_failed", target="hmi",
                        detail=request.client.host if request.client else None)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    ctx.guard.succeeded(body.username, source)
    ctx.store.audit(user=user.username, action="login", target="hmi",
                    detail=request.client.host if request.client else None)
    return _login_response(ctx, response, user)


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, ctx: Ctx) -> Response:
    """End the current session (if any)."""
    token = session_token(request)
    if token:
        user = ctx.users.session_user(token)
        ctx.users.revoke(token)
        if user is not None:
            ctx.store.audit(user=user.username, action="logout", target="hmi")
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=UserOut)
def me(user: SignedIn) -> UserOut:
    return UserOut(**user.to_dict())  # type: ignore[arg-type]


@router.post("/password", status_code=204, responses={403: {"description": "old password wrong"}})
def change_password(body: PasswordChangeIn, user: SignedIn, ctx: Ctx) -> Response:
    """Change your own password (all your sessions end; sign in again)."""
    if ctx.users.authenticate(user.username, body.old_password) is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the old password is wrong")
    ctx.users.update(user.username, password=body.new_password)
    ctx.store.audit(user=user.username, action="change_password", target=f"user:{user.username}")
    return Response(status_code=204)


@router.get("/setup", response_model=SetupStateOut)
def setup_state(ctx: Ctx) -> SetupStateOut:
    return SetupStateOut(needed=ctx.users.count() == 0)


@router.post("/setup", response_model=LoginOut, status_code=201,
             responses={403: {"description": "wrong setup token"}, 409: {"description": "already set up"}})
def setup(body: SetupIn, ctx: Ctx, response: Response) -> LoginOut:
    """Create the first admin with the one-time setup token printed when the HMI started."""
    if ctx.users.count() > 0 or ctx.setup_token is None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "the HMI is set up already; ask an admin for an account")
    if not hmac.compare_digest(body.token.encode(), ctx.setup_token.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "wrong setup token (it is printed in the station log)")
    token, ctx.setup_token = ctx.setup_token, None  # one-time: a second request finds no token
    try:
        user = ctx.users.create(body.username, Role.ADMIN, body.password)
    except Exception:
        ctx.setup_token = token
        raise
    ctx.store.audit(user=user.username, action="create_user", target=f"user:{user.username}",
                    new={"role": "admin", "active": True}, detail="first admin, by setup token")
    return _login_response(ctx, response, user)
