"""`/api/v1` as a whole: nothing is open without a token, and each role gets what it may."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlmodel import Session

from outreach.main import create_app

# The only routes anyone may call without a staff login.
OPEN = (
    re.compile(r"^/callbacks/"),
    re.compile(r"^/simulator"),
    re.compile(r"^/health$"),
    # Prometheus scrapes it on the private network; the reverse proxy does not expose it.
    re.compile(r"^/metrics$"),
    re.compile(r"^/api/v1/auth/token$"),
)
# The staff console's sign-in page, its static files (htmx, CSS) and the language switch
# of the sign-in page (a cookie) show no data. Every other console page sends an
# anonymous browser to the sign-in page instead of answering 401.
CONSOLE_OPEN = (
    re.compile(r"^/console/login$"),
    re.compile(r"^/console/static/"),
    re.compile(r"^/console/language$"),
)


def _routes(app: Any) -> list[tuple[str, set[str]]]:
    """Every (path, methods) the app serves, included routers flattened."""
    found = []
    for route in app.routes:
        # FastAPI keeps included routers as lazy branches; walk them to their routes.
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            found += [(c.path, set(getattr(c.original_route, "methods", ()))) for c in contexts()]
        elif isinstance(route, APIRoute):
            found.append((route.path, set(route.methods)))
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_but_callbacks_simulator_health_and_metrics_needs_a_login(client) -> None:
    # given every route of the application
    checked = 0
    for path, methods in _routes(client.app):
        if any(p.match(path) for p in OPEN + CONSOLE_OPEN):
            continue
        for method in methods - {"HEAD", "OPTIONS"}:
            # when it is called without a token
            response = client.request(method, _concrete(path), follow_redirects=False)
            if path.startswith("/console"):
                # then a console page sends the browser to the sign-in page
                assert response.status_code == 303, (method, path, response.text)
                assert response.headers["location"].startswith("/console/login")
                checked += 1
                continue
            # then it is refused with a French 401, before looking at the input
            assert response.status_code == 401, (method, path, response.text)
            assert "authentification requise" in response.json()["detail"]
            checked += 1
    assert checked > 30


def test_the_open_list_is_what_the_issue_allows(client) -> None:
    # given the open routes
    open_paths = {path for path, _ in _routes(client.app) if any(p.match(path) for p in OPEN)}
    # then they are the gateway callbacks, the simulator, health, metrics and the login itself
    assert "/health" in open_paths and "/api/v1/auth/token" in open_paths
    assert all(
        p.startswith(("/callbacks/", "/simulator"))
        or p in {"/health", "/metrics", "/api/v1/auth/token"}
        for p in open_paths
    )


def test_simulator_is_not_served_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    from outreach.config import get_settings

    monkeypatch.setattr(get_settings(), "env", "production")
    paths = {path for path, _ in _routes(create_app())}
    assert not any(p.startswith("/simulator") for p in paths)


def test_api_docs_need_a_login(client, staff: dict[str, dict[str, str]]) -> None:
    # given the FastAPI defaults are switched off
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404
    # then the schema under /api/v1 needs a token, and documents paginated lists
    assert client.get("/api/v1/openapi.json").status_code == 401
    schema = client.get("/api/v1/openapi.json", headers=staff["viewer"]).json()
    listing = schema["paths"]["/api/v1/beneficiaries"]["get"]
    params = {p["name"] for p in listing["parameters"]}
    assert {"limit", "offset", "site_id", "language", "displaced", "q"} <= params
    ref = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"items", "total", "limit", "offset"} <= set(page["properties"])
    assert client.get("/api/v1/docs", headers=staff["viewer"]).status_code == 200


def test_api_docs_load_nothing_from_outside(client, staff: dict[str, dict[str, str]]) -> None:
    # Given signed-in staff on the documentation page (field offices may be offline)
    page = client.get("/api/v1/docs", headers=staff["viewer"]).text
    # Then every script, style and icon it names is served by the API itself
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/api/v1/") for a in assets), assets
    for asset in assets:
        if asset.endswith("openapi.json"):
            continue
        served = client.get(asset, headers=staff["viewer"])
        assert served.status_code == 200, asset
        assert len(served.content) > 500
    # And they need a login like the page, and only the bundle's own files are served
    assert client.get(assets[0]).status_code == 401
    assert client.get("/api/v1/docs/index.j2", headers=staff["viewer"]).status_code == 404


def test_api_docs_allow_only_their_own_scripts(client, staff: dict[str, dict[str, str]]) -> None:
    # Given signed-in staff on the documentation page
    served = client.get("/api/v1/docs", headers=staff["viewer"])
    policy = served.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    # Then scripts come from the API itself or match the hash of the inline start-up
    # script exactly as served, and nothing runs inline otherwise
    assert "unsafe-inline" not in directives["script-src"]
    assert "unsafe-eval" not in directives["script-src"]
    inline = re.findall(r"<script>(.*?)</script>", served.text, re.DOTALL)
    assert inline
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in directives["script-src"]
    # And the page cannot be framed or sniffed, nor its assets
    assert directives["frame-ancestors"] == "'none'"
    assert served.headers["x-content-type-options"] == "nosniff"
    asset = client.get("/api/v1/docs/swagger-ui-bundle.js", headers=staff["viewer"])
    assert asset.headers["x-content-type-options"] == "nosniff"


# (method, path, body, lowest role allowed). Bodies are valid or nearly: what matters is
# that a role below gets 403 before validation, and the role itself gets past the check.
def _writes(ids: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    b, c, s, v, m, u = ids["b"], ids["chw"], ids["site"], ids["village"], ids["msg"], ids["user"]
    return [
        ("POST", "/api/v1/sites", {"name": "Nouvelle région", "level": "region"}, "manager"),
        ("PATCH", f"/api/v1/sites/{s}", {"name": "Ségou"}, "manager"),
        ("POST", "/api/v1/facilities", {"name": "CSCom B", "site_id": s}, "manager"),
        (
            "POST",
            "/api/v1/chws",
            {"name": "Awa", "phone": "+22376000099", "pin": "4321", "site_ids": [v]},
            "manager",
        ),
        ("PATCH", f"/api/v1/chws/{c}", {"language": "bm"}, "manager"),
        ("POST", f"/api/v1/chws/{c}/reset-pin", {"pin": "9876"}, "manager"),
        ("POST", f"/api/v1/chws/{c}/deactivate", None, "manager"),
        (
            "POST",
            "/api/v1/beneficiaries",
            {"name": "Fanta", "phone": "+22376000111", "programme": "pregnancy", "weeks": 20},
            "officer",
        ),
        ("PATCH", f"/api/v1/beneficiaries/{b}", {"displaced": True}, "officer"),
        ("POST", f"/api/v1/beneficiaries/{b}/pause", None, "officer"),
        ("POST", f"/api/v1/beneficiaries/{b}/resume", None, "officer"),
        ("POST", f"/api/v1/beneficiaries/{b}/transfer", {"to_chw_id": c}, "officer"),
        ("POST", f"/api/v1/beneficiaries/{b}/opt-out", None, "officer"),
        ("POST", f"/api/v1/inbox/{m}/assign", {"user_id": u}, "officer"),
        ("POST", f"/api/v1/inbox/{m}/reply", {"text": "Merci, votre ASC passera."}, "officer"),
        ("POST", f"/api/v1/inbox/{m}/handle", None, "officer"),
        (
            "POST",
            "/api/v1/content/hyg_water/approve",
            {"language": "fr", "text_sha256": "0" * 64},
            "manager",
        ),
        (
            "POST",
            "/api/v1/users",
            {"email": "new@ong.ml", "name": "N", "role": "viewer", "password": "segou-2026"},
            "admin",
        ),
        ("PATCH", f"/api/v1/users/{u}", {"role": "officer"}, "admin"),
        ("POST", f"/api/v1/users/{u}/deactivate", None, "admin"),
    ]


ROLES = ("viewer", "officer", "manager", "admin")
WRITE_IDS = [
    f"{w[0]} {w[1].replace('/api/v1', '')}"
    for w in _writes(dict.fromkeys(["b", "chw", "site", "village", "msg", "user"], 1))
]


@pytest.fixture
def world(db: Session, chw, staff) -> dict[str, Any]:
    """A CHW with a registered woman, an inbox message and a spare account."""
    from outreach.accounts.models import Role, StaffUser
    from outreach.inbound.models import InboundMessage
    from outreach.registry import service as registry_service
    from outreach.sites import service as site_service
    from outreach.sites.models import SiteLevel

    reg = registry_service.register_pregnancy(
        db, name="Awa Traoré", phone="+22376000001", weeks=20, chw_id=chw.id
    )
    message = InboundMessage(
        gateway_id="at-1",
        from_number="+22376000001",
        text="bonjour",
        intent="other",
        beneficiary_id=reg.beneficiary.id,
    )
    db.add(message)
    spare = StaffUser(email="spare@ong.ml", name="S", role=Role.viewer, password_hash="x")
    db.add(spare)
    region = site_service.find(db, name="Ségou", level=SiteLevel.REGION)
    village = site_service.find(db, name="Pelengana", level=SiteLevel.VILLAGE)
    db.commit()
    assert region and village
    return {
        "b": reg.beneficiary.id,
        "chw": chw.id,
        "site": region.id,
        "village": village.id,
        "msg": message.id,
        "user": spare.id,
    }


@pytest.mark.parametrize("index", range(len(WRITE_IDS)), ids=WRITE_IDS)
def test_permission_matrix(client, staff, world, index: int) -> None:
    # given one write endpoint and the lowest role allowed to call it
    method, path, body, lowest = _writes(world)[index]
    # when it is called without a token, then 401
    assert client.request(method, path, json=body).status_code == 401
    for role in ROLES:
        # when each role calls it, lowest first
        response = client.request(method, path, json=body, headers=staff[role])
        if ROLES.index(role) < ROLES.index(lowest):
            # then a role below is refused in French before anything happens
            assert response.status_code == 403, (role, response.text)
            assert "réservée" in response.json()["detail"]
        else:
            # and an allowed role gets past the check (a repeat may be a 422, never a 500)
            assert response.status_code not in (401, 403), (role, response.text)
            assert response.status_code < 500, (role, response.text)


def test_an_id_beyond_the_database_range_is_a_422(client, staff: dict[str, dict[str, str]]) -> None:
    # Given an id far larger than any database integer (found by the schema fuzz)
    huge = 10**30
    # When an admin changes the role of the user with that id, and looks up that CHW
    changed = client.patch(f"/api/v1/users/{huge}", json={"role": "viewer"}, headers=staff["admin"])
    looked_up = client.get(f"/api/v1/chws/{huge}", headers=staff["admin"])
    # Then the change is a clean 422 in French, the look-up a 422 or a 404, never a 500
    assert changed.status_code == 422, changed.text
    assert "hors limites" in changed.json()["detail"]
    assert looked_up.status_code in (404, 422), looked_up.text
