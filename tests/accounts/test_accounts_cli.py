"""`outreach user`: add, token, passwd, deactivate, list."""

from __future__ import annotations

from sqlmodel import Session, select
from typer.testing import CliRunner

from outreach.accounts import service
from outreach.audit.models import AuditEntry
from outreach.cli import app

runner = CliRunner()
PASSWORD = "segou-2026"


def _add(email: str = "chef@ong.ml", role: str = "admin", password: str = PASSWORD):
    return runner.invoke(
        app,
        ["user", "add", "--email", email, "--name", "Chef", "--role", role, "--password-stdin"],
        input=password + "\n",
    )


def test_first_admin_is_created_from_stdin_and_audited(db: Session) -> None:
    # when the first admin is added by a script
    result = _add()
    # then the account exists with an argon2 hash and the creation is audited as the CLI
    assert result.exit_code == 0, result.output
    assert "Compte créé" in result.output
    user = service.get_by_email(db, email="chef@ong.ml")
    assert user is not None and user.role == "admin"
    assert service.authenticate(db, email="chef@ong.ml", password="segou-2026") is not None
    entry = db.exec(select(AuditEntry)).one()
    assert (entry.actor, entry.action, entry.object_id) == ("cli", "user.create", str(user.id))


def test_interactive_prompt_hides_and_confirms_the_password(db: Session) -> None:
    # when the password is typed twice at the prompt
    result = runner.invoke(
        app,
        ["user", "add", "--email", "m@ong.ml", "--name", "M", "--role", "manager"],
        input="segou-2026\nsegou-2026\n",
    )
    # then the account is created and the password is not echoed
    assert result.exit_code == 0, result.output
    assert "segou-2026" not in result.output
    assert service.get_by_email(db, email="m@ong.ml") is not None


def test_weak_password_unknown_role_and_duplicates_fail_in_french(db: Session) -> None:
    weak = _add(password="court")
    assert weak.exit_code == 1 and "mot de passe trop court" in weak.output
    bad_role = _add(role="chef")
    assert bad_role.exit_code != 0
    assert _add().exit_code == 0
    again = _add()
    assert again.exit_code == 1 and "existe déjà" in again.output


def test_token_is_printed_once_and_works(db: Session) -> None:
    # given an officer
    _add(email="o@ong.ml", role="officer")
    # when a 30-day token is issued for a script
    result = runner.invoke(app, ["user", "token", "o@ong.ml", "--name", "export", "--days", "30"])
    # then the printed token identifies her
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    user = service.user_for_token(db, token=token)
    assert user is not None and user.email == "o@ong.ml"
    assert "token.create" in [e.action for e in db.exec(select(AuditEntry))]


def test_unknown_email_fails_with_exit_code(db: Session) -> None:
    for args in (
        ["user", "token", "x@ong.ml", "--name", "t"],
        ["user", "passwd", "x@ong.ml", "--password-stdin"],
        ["user", "deactivate", "x@ong.ml"],
    ):
        result = runner.invoke(app, args, input="segou-2027\n")
        assert result.exit_code == 1, args
        assert "aucun compte pour x@ong.ml" in result.output


def test_passwd_changes_the_password_and_revokes_tokens(db: Session) -> None:
    # given a viewer with a token
    _add(email="v@ong.ml", role="viewer")
    token = runner.invoke(app, ["user", "token", "v@ong.ml", "--name", "t"]).stdout.split()[-1]
    # when her password is changed
    result = runner.invoke(
        app, ["user", "passwd", "v@ong.ml", "--password-stdin"], input="bamako-2027\n"
    )
    # then only the new password works and the old token is revoked
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert service.authenticate(db, email="v@ong.ml", password="segou-2026") is None
    assert service.authenticate(db, email="v@ong.ml", password="bamako-2027") is not None
    assert service.user_for_token(db, token=token) is None


def test_deactivate_and_list(db: Session) -> None:
    # given two accounts
    _add(email="a@ong.ml")
    _add(email="b@ong.ml", role="officer")
    # when one is deactivated
    assert runner.invoke(app, ["user", "deactivate", "b@ong.ml"]).exit_code == 0
    # then she can no longer log in, and the list shows both with their state
    db.expire_all()
    assert service.authenticate(db, email="b@ong.ml", password="segou-2026") is None
    listing = runner.invoke(app, ["user", "list"])
    assert listing.exit_code == 0
    assert "a@ong.ml" in listing.output and "b@ong.ml" in listing.output
    assert "non" in listing.output
    actions = [e.action for e in db.exec(select(AuditEntry))]
    assert actions.count("user.deactivate") == 1


def test_tokens_are_listed_with_their_last_use_but_never_shown(db: Session) -> None:
    # Given an officer with a token used once by a script
    _add(email="o@ong.ml", role="officer")
    issued = runner.invoke(app, ["user", "token", "o@ong.ml", "--name", "export"])
    token = issued.stdout.strip().splitlines()[-1]
    service.user_for_token(db, token=token)
    db.commit()
    # When an admin lists her tokens
    result = runner.invoke(app, ["user", "tokens", "o@ong.ml"], env={"COLUMNS": "200"})
    # Then the token is there by name with a last use, and its secret is not printed
    assert result.exit_code == 0, result.output
    assert "export" in result.output
    line = next(x for x in result.output.splitlines() if "export" in x)
    assert line.count("/") >= 4  # created and last used, both dated
    assert token not in result.output
    # And an unknown account fails in French
    unknown = runner.invoke(app, ["user", "tokens", "x@ong.ml"])
    assert unknown.exit_code == 1 and "aucun compte" in unknown.output
