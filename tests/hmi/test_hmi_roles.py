"""Every API route has a declared minimum role, and is refused below it (401 without a session,
403 with too low a role). A new route without an entry here fails the test."""

from __future__ import annotations

RID = "0" * 20
# (method, path) -> minimum role; None = public.
ROUTES: dict[tuple[str, str], str | None] = {
    ("POST", "/api/auth/login"): None,
    ("POST", "/api/auth/logout"): None,
    ("GET", "/api/auth/me"): "operator",
    ("POST", "/api/auth/password"): "operator",
    ("GET", "/api/auth/setup"): None,
    ("POST", "/api/auth/setup"): None,
    ("GET", "/api/live"): "operator",
    ("GET", "/api/parts/recent"): "operator",
    ("GET", "/api/parts/{result_id}"): "operator",
    ("GET", "/api/parts/{result_id}/image"): "operator",
    ("GET", "/api/parts/{result_id}/thumb"): "operator",
    ("GET", "/api/parts/{result_id}/heatmap"): "operator",
    ("GET", "/api/events"): "operator",
    ("GET", "/api/results"): "operator",
    ("GET", "/api/results/{result_id}"): "operator",
    ("GET", "/api/results/{result_id}/image"): "operator",
    ("POST", "/api/results/{result_id}/review"): "operator",
    ("GET", "/api/review/pending"): "operator",
    ("POST", "/api/review/confirm"): "operator",
    ("GET", "/api/station"): "operator",
    ("GET", "/api/station/store"): "operator",
    ("POST", "/api/station/arm"): "engineer",
    ("POST", "/api/station/disarm"): "engineer",
    ("GET", "/api/stats/counters"): "operator",
    ("POST", "/api/stats/counters/clear"): "engineer",
    ("GET", "/api/stats/timings"): "operator",
    ("GET", "/api/recipes"): "operator",
    ("POST", "/api/recipes/active"): "engineer",
    ("GET", "/api/recipes/{recipe_id}/golden"): "operator",
    ("POST", "/api/recipes/{recipe_id}/teach"): "engineer",
    ("POST", "/api/recipes/{recipe_id}/teach/upload"): "engineer",
    ("GET", "/api/recipes/{recipe_id}/teach/candidate"): "engineer",
    ("GET", "/api/recipes/{recipe_id}/teach/diff"): "engineer",
    ("GET", "/api/recipes/{recipe_id}/golden/versions"): "operator",
    ("GET", "/api/recipes/{recipe_id}/difference"): "operator",
    ("GET", "/api/recipes/{recipe_id}/golden/versions/{version}/image"): "operator",
    ("POST", "/api/recipes/{recipe_id}/golden/rollback"): "engineer",
    ("POST", "/api/recipes/{recipe_id}/teach/parts"): "engineer",
    ("GET", "/api/teach/job"): "engineer",
    ("POST", "/api/teach/job/cancel"): "engineer",
    ("GET", "/api/alarms"): "operator",
    ("GET", "/api/plc/registers"): "operator",
    ("GET", "/api/camera/focus"): "operator",
    ("GET", "/api/camera/settings"): "engineer",
    ("POST", "/api/camera/try"): "engineer",
    ("POST", "/api/camera/save"): "engineer",
    ("POST", "/api/camera/revert"): "engineer",
    ("GET", "/api/camera/trial.jpg"): "engineer",
    ("POST", "/api/alarms/{name}/ack"): "operator",
    ("GET", "/api/results.csv"): "operator",
    ("GET", "/api/stats/yield"): "operator",
    ("GET", "/api/stats/pareto"): "operator",
    ("GET", "/api/stats/defect-map"): "operator",
    ("GET", "/api/stats/defect-map.jpg"): "operator",
    ("GET", "/api/audit.csv"): "engineer",
    ("GET", "/api/settings/thresholds"): "engineer",
    ("PUT", "/api/settings/thresholds"): "engineer",
    ("GET", "/api/users"): "admin",
    ("POST", "/api/users"): "admin",
    ("PATCH", "/api/users/{username}"): "admin",
    ("DELETE", "/api/users/{username}"): "admin",
    ("GET", "/api/audit"): "engineer",
    ("POST", "/api/whatif"): "engineer",
    ("GET", "/api/whatif"): "engineer",
    ("GET", "/api/shadow"): "engineer",
    ("POST", "/api/shadow"): "engineer",
    ("DELETE", "/api/shadow"): "engineer",
    ("POST", "/api/shadow/promote"): "engineer",
    ("GET", "/api/recipes/{recipe_id}/variants"): "engineer",
    ("POST", "/api/recipes/{recipe_id}/variants"): "engineer",
    ("DELETE", "/api/recipes/{recipe_id}/variants/{name}"): "engineer",
    ("GET", "/health"): None,
    ("GET", "/metrics"): None,
}
LOWER = {"operator": [], "engineer": ["operator"], "admin": ["operator", "engineer"]}


def _url(path: str) -> str:
    return (path.replace("{result_id}", RID).replace("{recipe_id}", "pcb-a").replace("{username}", "nobody")
            .replace("{version}", "abc123").replace("{name}", "consecutive_ng"))


def test_every_route_has_a_declared_role(client):
    schema = client.get("/openapi.json").json()
    found = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert found == set(ROUTES), f"undeclared: {found - set(ROUTES)}; stale: {set(ROUTES) - found}"


def test_refused_without_a_session(client):
    for (method, path), need in ROUTES.items():
        if need is None:
            continue
        r = client.request(method, _url(path))
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["key"] == "unauthenticated" and r.headers["www-authenticate"] == "Bearer"


def test_refused_below_the_role(client, roles):
    checked = 0
    for (method, path), need in ROUTES.items():
        for lower in LOWER.get(need or "", []):
            r = client.request(method, _url(path), headers=roles[lower], json={})
            assert r.status_code == 403, (method, path, lower, r.text)
            assert need in r.json()["detail"] and lower in r.json()["detail"]
            checked += 1
    assert checked == sum(len(LOWER[v]) for v in ROUTES.values() if v) == 38
