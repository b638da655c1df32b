"""Request and response bodies of the HMI API (pydantic at the edge; strict on input)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hmi.auth.roles import Role
from inspection.record import RESULT_ID_PATTERN

Username = Annotated[str, Field(min_length=2, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
Password = Annotated[str, Field(min_length=1, max_length=256)]
NewPassword = Annotated[str, Field(min_length=8, max_length=256)]
RecipeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ResultId = Annotated[str, Field(pattern=RESULT_ID_PATTERN)]
# strict: a threshold is a JSON number, not true or "0.4" (issue #13)
FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(In):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Password


class SetupIn(In):
    token: Annotated[str, Field(min_length=1, max_length=128)]
    username: Username
    password: NewPassword


class PasswordChangeIn(In):
    old_password: Password
    new_password: NewPassword


class ReviewIn(In):
    decision: Literal["confirmed", "overridden"] = Field(
        description="confirmed: the part is bad (the reject stands); overridden: the part is good")
    reason: Annotated[str, Field(max_length=500)] = ""


class RecipeSelectIn(In):
    recipe_id: RecipeId


class TeachIn(In):
    result_id: ResultId | None = Field(None, description="teach from this recent or stored part; "
                                                         "default: the last part")
    override_reason: str | None = Field(None, max_length=400, description=(
        "teach a part that is refused (NG, not aligned, alignment score below the recipe's minimum) "
        "anyway: why (3+ characters; audited)"))


class RollbackIn(In):
    version: str = Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$",
                         description="a version from GET /api/recipes/{recipe_id}/golden/versions")


class ThresholdsIn(In):
    recipe_id: RecipeId | None = Field(None, description="default: the active recipe")
    values: Annotated[dict[Annotated[str, Field(max_length=64)], FiniteFloat],
                      Field(min_length=1, max_length=64)]


class UserCreateIn(In):
    username: Username
    role: Role
    password: NewPassword


class UserUpdateIn(In):
    role: Role | None = None
    password: NewPassword | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> UserUpdateIn:
        if self.role is None and self.password is None and self.active is None:
            raise ValueError("give at least one of role, password, active")
        return self


class UserOut(BaseModel):
    username: str
    role: Role
    active: bool
    created_ns: int
    last_login_ns: int | None


class LoginOut(BaseModel):
    user: UserOut
    token: str = Field(description="also set as the session cookie; send as 'Authorization: Bearer'")
    expires_ns: int


class SetupStateOut(BaseModel):
    needed: bool = Field(description="no user exists yet: create the first admin with the setup token")


class PlcOut(BaseModel):
    connected: bool
    protocol: str
    address: str
    heartbeat_age_ms: float | None
    trigger_enabled: bool
    message: str


class StatusOut(BaseModel):
    station_id: str
    state: str
    state_code: int
    armed: bool
    active_recipe: str
    plc: PlcOut
    simulation: bool
    message: str
    error_key: str
    started_ns: int
    last_part_ns: int


class CountersOut(BaseModel):
    total: int
    ok: int
    ng: int
    yield_pct: float | None
    since_ns: int


class StageOut(BaseModel):
    stage: str
    n: int
    last: float
    p50: float
    p99: float
    max: float


class TimingsOut(BaseModel):
    stages: dict[str, StageOut]
    series: list[dict[str, Any]]


class GoldenOut(BaseModel):
    version: str
    taught_ns: int
    taught_by: str
    shape: list[int]


class RecipeOut(BaseModel):
    recipe_id: str
    number: int
    name: str
    model_hash: str
    active: bool
    golden: GoldenOut | None
    thresholds: dict[str, float]
    detector: str  # "goodset": taught from N good parts only


class ThresholdSpecOut(BaseModel):
    name: str
    label: str
    minimum: float
    maximum: float
    default: float
    unit: str
    step: float
    help: str
    integer: bool


class ThresholdsOut(BaseModel):
    recipe_id: str
    specs: list[ThresholdSpecOut]
    values: dict[str, float]


class AuditOut(BaseModel):
    id: int
    ts_ns: int
    user: str
    action: str
    target: str
    old_value: str | None
    new_value: str | None
    detail: str | None
    summary: str = Field("", description="old -> new as text")
    part: str = Field("", description="the part serial, for an entry about a result")


class LiveOut(BaseModel):
    status: StatusOut
    counters: CountersOut
    last: dict[str, Any] | None = Field(description="the newest part (PartRecord.to_dict()), if any")
    filmstrip: list[dict[str, Any]]
    stages: dict[str, StageOut]
    pending_reviews: int


class ResultPage(BaseModel):
    items: list[dict[str, Any]]
    total: int
    next_before_seq: int | None = Field(description="pass as before_seq for the next (older) page")
    next_after_seq: int | None = Field(None, description="oldest first: pass as after_seq for the next page")
    total_capped: bool = Field(False, description="more than ``total`` match (counting stops there)")


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    station_state: str
    store_writer: bool
    store_queue: int
    low_disk: bool
    plc_connected: bool
    # plant integrations (docs/integration.md): committed results each outbox has not delivered yet
    outbox_pending: dict[str, int] = {}
