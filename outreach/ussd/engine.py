"""A small USSD engine: steps declared as data, state in Redis, replies always valid.

Africa's Talking sends the whole input so far joined by `*`. We keep the text we
last saw for the session and take the latest answer as what was appended to it, so
an answer that itself contains `*` still arrives whole.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from redis import Redis
from sqlmodel import Session

from messages.encoding import gsm_safe
from outreach.ussd import catalog

log = logging.getLogger(__name__)

MAX_SCREEN = 160
FINAL = "_final_reply"
ELLIPSIS = "..."


class Reprompt(Exception):
    """The answer is not acceptable: show the reason, then the same question."""

    def __init__(self, reason_key: str, **values: object) -> None:
        super().__init__(reason_key)
        self.reason_key = reason_key
        self.values = values


@dataclass
class State:
    """What we remember of one USSD session between hops."""

    session_id: str
    phone: str
    step: str = ""
    language: str = catalog.DEFAULT_LANGUAGE
    last_text: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class End:
    """A final screen."""

    key: str
    values: dict[str, object] = field(default_factory=dict)


@dataclass
class Ctx:
    """What a step sees: the database session, the USSD state and the caller's phone."""

    db: Session
    state: State

    def text(self, key: str, **values: object) -> str:
        return catalog.text(key, self.state.language, **values)


# A step's answer handler returns the next step's name, or an End.
Handler = Callable[[Ctx, str], "str | End"]


@dataclass(frozen=True, slots=True)
class Step:
    """One screen: how to draw it, and what to do with the answer."""

    prompt: Callable[[Ctx], str]
    on_answer: Handler


def ask(key: str) -> Callable[[Ctx], str]:
    """A prompt that is a plain catalog text."""
    return lambda ctx: ctx.text(key)


@dataclass(frozen=True, slots=True)
class Flow:
    """All the steps of a menu tree and the function that picks the first one."""

    steps: dict[str, Step]
    start: Callable[[Ctx], str | End]


class SessionStore:
    """USSD session state in Redis, keyed by the gateway's sessionId, with an expiry."""

    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    def load(self, session_id: str) -> State | None:
        raw = self._redis.get(f"ussd:session:{session_id}")
        if raw is None:
            return None
        return State(**json.loads(raw))

    def save(self, state: State) -> None:
        self._redis.set(f"ussd:session:{state.session_id}", json.dumps(asdict(state)), ex=self._ttl)

    def drop(self, session_id: str) -> None:
        self._redis.delete(f"ussd:session:{session_id}")


def latest_answer(previous: str, text: str) -> str | None:
    """The answer this hop added to the cumulative `text`; None for a replayed hop."""
    if text == previous:
        return None
    if not previous:
        return text
    if text.startswith(previous + "*"):
        return text[len(previous) + 1 :]
    # The gateway and we disagree on history (a lost hop): trust the last segment.
    return text.rsplit("*", 1)[-1]


def fit(prefix: str, body: str) -> str:
    """A screen of at most 160 GSM-7 characters, prefix included."""
    safe = gsm_safe(body.strip(), "fr")
    room = MAX_SCREEN - len(prefix)
    if len(safe) > room:
        safe = safe[: room - len(ELLIPSIS)].rstrip() + ELLIPSIS
    return prefix + safe


def con(body: str) -> str:
    return fit("CON ", body)


def end(body: str) -> str:
    return fit("END ", body)


class Engine:
    """Runs a Flow for one hop at a time."""

    def __init__(self, flow: Flow, store: SessionStore) -> None:
        self.flow = flow
        self.store = store

    def handle(self, db: Session, *, session_id: str, phone: str, text: str) -> str:
        """Answer one hop with a `CON ` or `END ` screen."""
        state = self.store.load(session_id)
        if state is not None and FINAL in state.data:
            # The gateway replayed the last hop: answer the same, do nothing twice.
            return str(state.data[FINAL])
        if state is None:
            state = State(session_id=session_id, phone=phone, last_text=text)
            ctx = Ctx(db=db, state=state)
            return self._enter(ctx, self.flow.start(ctx))
        ctx = Ctx(db=db, state=state)
        answer = latest_answer(state.last_text, text)
        state.last_text = text
        step = self.flow.steps[state.step]
        if answer is None:
            return self._show(ctx, step.prompt(ctx))
        try:
            target = step.on_answer(ctx, answer.strip())
        except Reprompt as exc:
            reason = ctx.text(exc.reason_key, **exc.values)
            return self._show(ctx, f"{reason}\n{step.prompt(ctx)}")
        return self._enter(ctx, target)

    def _enter(self, ctx: Ctx, target: str | End) -> str:
        if isinstance(target, End):
            reply = end(ctx.text(target.key, **target.values))
            ctx.state.data[FINAL] = reply
            self.store.save(ctx.state)
            return reply
        ctx.state.step = target
        return self._show(ctx, self.flow.steps[target].prompt(ctx))

    def _show(self, ctx: Ctx, body: str) -> str:
        self.store.save(ctx.state)
        return con(body)
