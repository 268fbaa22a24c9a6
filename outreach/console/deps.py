"""Who may see and do what in the console: the signed-in user, by role.

Pages answer in HTML: an anonymous visitor is sent to the login page, a role too low
for an action gets a French 403 page (the buttons are hidden as well).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Annotated

from fastapi import Depends

from outreach.accounts.models import Role, StaffUser
from outreach.accounts.sessions import ConsoleUser


class Forbidden(Exception):
    """The signed-in user's role does not allow this console action."""

    def __init__(self, user: StaffUser, needed: Role) -> None:
        super().__init__(needed.value)
        # A copy: the request's database session is rolled back before the page renders.
        self.user = SimpleNamespace(
            id=user.id, name=user.name, role=user.role, language=user.language
        )
        self.needed = needed


def role(needed: Role) -> Callable[[StaffUser], StaffUser]:
    """A dependency refusing users below `needed` with the console's 403 page."""

    def check(user: ConsoleUser) -> StaffUser:
        if not user.role_enum.allows(needed):
            raise Forbidden(user, needed)
        return user

    return check


Viewer = ConsoleUser
Officer = Annotated[StaffUser, Depends(role(Role.officer))]
Manager = Annotated[StaffUser, Depends(role(Role.manager))]
Admin = Annotated[StaffUser, Depends(role(Role.admin))]
