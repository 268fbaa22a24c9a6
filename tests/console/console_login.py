"""Console test helpers: a signed-in browser and the login form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from outreach.accounts.models import StaffUser

PASSWORD = "segou-2026"


def form_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class Staff:
    """A browser of one staff user: a cookie jar and the page's CSRF token."""

    def __init__(self, client: TestClient, user: StaffUser) -> None:
        self.client = client
        self.user = user
        self.csrf = ""

    def get(self, url: str, **kwargs: object):  # type: ignore[no-untyped-def]
        response = self.client.get(url, **kwargs)  # type: ignore[arg-type]
        if 'name="csrf_token"' in response.text:
            self.csrf = form_token(response.text)
        return response

    def post(self, url: str, data: dict | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.post(
            url, data={"csrf_token": self.csrf, **(data or {})}, follow_redirects=False, **kwargs
        )  # type: ignore[arg-type]


def login(client: TestClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    page = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": form_token(page.text)},
        follow_redirects=False,
    )
