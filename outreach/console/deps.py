"""Who may see and do what in the console: the signed-in user, by role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from outreach.accounts.models import Role, StaffUser
from outreach.accounts.sessions import console_role

Viewer = Annotated[StaffUser, Depends(console_role(Role.viewer))]
Officer = Annotated[StaffUser, Depends(console_role(Role.officer))]
Manager = Annotated[StaffUser, Depends(console_role(Role.manager))]
