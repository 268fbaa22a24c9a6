"""A small USSD engine: screens and transitions declared as data, state in Redis.

Africa's Talking sends the whole input so far joined by `*`. We keep the text we
last saw for the session and take the latest answer as what was appended to it, so
an answer that itself contains `*` still arrives whole.

Navigation is the engine's, the same in every flow: `0` goes back one screen, `00`
to the caller's main menu, `98` to the next page of a screen too long for one.
A flow only declares its steps; it never sees these answers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from sqlmodel import Session

from messages.encoding import gsm_safe
from outreach.encryption import keys
from outreach.ussd import catalog

log = logging.getLogger(__name__)

MAX_SCREEN = 160
CON = "CON "
END = "END "
BACK = "0"
HOME = "00"
MORE = "98"
# Longer than any sensible answer on a keypad: a pasted text or a stuck key.
MAX_ANSWER = 120
RESUME_STEP = "_resume"


class Reprompt(Exception):
    """The answer is not acceptable: show the reason, then the same question."""

    def __init__(self, reason_key: str, **values: object) -> None:
        super().__init__(reason_key)
        self.reason_key = reason_key
        self.values = values


@dataclass(frozen=True, slots=True)
class End:
    """A final screen."""

    key: str
    values: dict[str, object] = field(default_factory=dict)


@dataclass
class State:
    """What we remember of one USSD session between hops."""

    session_id: str
    phone: str
    step: str = ""
    language: str = catalog.DEFAULT_LANGUAGE
    last_text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    # Steps to go back to with `0`, most recent last.
    history: list[str] = field(default_factory=list)
    # The current screen, cut in pages; `page` is the one on the handset.
    pages: list[str] = field(default_factory=list)
    page: int = 0
    # The caller's main menu, once known (after the PIN, or who is calling).
    home: str | None = None
    # Set once the session ended: a replayed hop gets the same answer.
    final: str | None = None
    final_key: str | None = None
    pending_end: str | None = None
    started_at: float = field(default_factory=time.time)
    hops: int = 0


@dataclass
class Ctx:
    """What a step sees: the database session and the USSD state."""

    db: Session
    state: State

    @property
    def data(self) -> dict[str, Any]:
        return self.state.data

    def text(self, key: str, **values: object) -> str:
        return catalog.text(key, self.state.language, **values)


# Where an answer leads: a step's name, a final screen, or a function choosing one.
Target = str | End | Callable[[Ctx], "str | End"]
Handler = Callable[[Ctx, str], "str | End"]
Prompt = Callable[[Ctx], str]


@dataclass(frozen=True, slots=True)
class Step:
    """One screen: how to draw it, and what to do with the answer.

    `root` screens (main menus, the PIN) clear the back history and are never offered
    for resuming; `resumable=False` alone keeps a screen out of resuming.
    """

    prompt: Prompt
    on_answer: Handler
    root: bool = False
    resumable: bool = True


def go(ctx: Ctx, target: Target) -> str | End:
    """Resolve a Target to a step name or an End."""
    if callable(target):
        return target(ctx)
    return target


def ask(key: str, **values: object) -> Prompt:
    """A prompt that is a plain catalog text."""
    return lambda ctx: ctx.text(key, **values)


def menu(title: str | Prompt, options: Sequence[tuple[str, Target]], *, root: bool = False) -> Step:
    """A numbered menu: option n leads to its target."""

    def prompt(ctx: Ctx) -> str:
        head = ctx.text(title) if isinstance(title, str) else title(ctx)
        lines = [f"{i} {ctx.text(label)}" for i, (label, _) in enumerate(options, 1)]
        return "\n".join([head, *lines])

    def on_answer(ctx: Ctx, answer: str) -> str | End:
        index = choice(answer, len(options))
        return go(ctx, options[index][1])

    return Step(prompt=prompt, on_answer=on_answer, root=root, resumable=not root)


def field_step(
    prompt: str | Prompt,
    parse: Callable[[Ctx, str], Any],
    *,
    save: str,
    then: Target,
) -> Step:
    """A free answer, parsed (or refused with a reason) and saved under `save`."""

    def on_answer(ctx: Ctx, answer: str) -> str | End:
        ctx.data[save] = parse(ctx, answer)
        return go(ctx, then)

    return Step(prompt=ask(prompt) if isinstance(prompt, str) else prompt, on_answer=on_answer)


Items = Callable[[Ctx], list[tuple[Any, str]]]


def pick(title: str, items: Items, *, save: str, then: Target, empty: str | None = None) -> Step:
    """A numbered list built at run time (villages, women on a phone...): paged like any screen.

    With `empty`, an empty list shows that text instead of a bare title; any answer to it
    is re-prompted, as a number out of range always is.
    """

    def prompt(ctx: Ctx) -> str:
        listed = items(ctx)
        ctx.data[f"_{save}_ids"] = [value for value, _ in listed]
        if not listed and empty is not None:
            return ctx.text(empty)
        lines = [f"{i} {label}" for i, (_, label) in enumerate(listed, 1)]
        return "\n".join([ctx.text(title), *lines])

    def on_answer(ctx: Ctx, answer: str) -> str | End:
        ids = ctx.data.get(f"_{save}_ids") or [value for value, _ in items(ctx)]
        ctx.data[save] = ids[choice(answer, len(ids))]
        return go(ctx, then)

    return Step(prompt=prompt, on_answer=on_answer)


def digits(answer: str) -> bool:
    """Only 0-9: `str.isdigit` also accepts superscripts and other scripts' digits."""
    return answer.isascii() and answer.isdigit()


def choice(answer: str, count: int) -> int:
    """The 0-based index of a menu answer, or a re-prompt."""
    if not digits(answer) or len(answer) > 3 or not 1 <= int(answer) <= count:
        raise Reprompt("choice_invalid")
    return int(answer) - 1


@dataclass(frozen=True, slots=True)
class Flow:
    """All the steps of a menu tree and the function that picks the first one."""

    steps: dict[str, Step]
    start: Callable[[Ctx], str | End]


class SessionStore:
    """USSD session state in Redis, keyed by the gateway's sessionId, with an expiry.

    A second key per phone points at a session that was left mid-flow, so a caller
    whose session dropped can pick it up again from a new one.
    """

    def __init__(self, redis: Redis, *, ttl_seconds: int, resume_seconds: int) -> None:
        self._redis = redis
        # The state must outlive the resume window, or there would be nothing to resume.
        self._ttl = max(ttl_seconds, resume_seconds)
        self.resume_seconds = resume_seconds

    @staticmethod
    def _key(session_id: str) -> str:
        return f"ussd:session:{session_id}"

    @staticmethod
    def _pointer(phone: str) -> str:
        # Keyed hash, not the number: a Redis dump or MONITOR shows no phone numbers.
        return f"ussd:resume:{keys.blind_index(phone)}"

    def load(self, session_id: str) -> State | None:
        raw = self._redis.get(self._key(session_id))
        if raw is None:
            return None
        try:
            plain = keys.decrypt(raw.decode("ascii") if isinstance(raw, bytes) else str(raw))
        except (keys.UndecryptableValue, UnicodeDecodeError):
            # Written before a data key was retired, or not by us: start the menu afresh.
            return None
        return State(**json.loads(plain))

    @staticmethod
    def _sealed(state: State) -> str:
        # The state holds the caller's number, names typed in and the screens shown:
        # encrypted with the data key like the database's own copies.
        return keys.encrypt(json.dumps(vars(state)))

    def save(self, state: State, *, resumable: bool | None = None) -> None:
        """Store the state; with `resumable`, also set or clear the phone's resume pointer."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self._key(state.session_id), self._sealed(state), ex=self._ttl)
        if resumable is True and self.resume_seconds > 0:
            pipe.set(self._pointer(state.phone), state.session_id, ex=self.resume_seconds)
        elif resumable is False:
            # Only clear a pointer to this very session: an older dropped one stays offered.
            pipe.eval(_DELETE_IF_EQUAL, 1, self._pointer(state.phone), state.session_id)
        pipe.execute()

    def mark_dropped(self, session_id: str) -> bool:
        """The gateway says the session died mid-flow: offer it for resuming; True if it can be."""
        state = self.load(session_id)
        if state is None or state.final is not None or not state.data.get("_resumable"):
            return False
        if self.resume_seconds <= 0:
            return False
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self._key(session_id), self._sealed(state), ex=self._ttl)
        pipe.set(self._pointer(state.phone), session_id, ex=self.resume_seconds)
        pipe.execute()
        return True

    def forget_pointer(self, session_id: str, phone: str) -> None:
        self._redis.eval(_DELETE_IF_EQUAL, 1, self._pointer(phone), session_id)

    def dropped_session(self, phone: str, *, current: str) -> State | None:
        """The state of this phone's session left mid-flow, if any (never the current one)."""
        raw = self._redis.get(self._pointer(phone))
        if raw is None:
            return None
        old_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        if old_id == current:
            return None
        state = self.load(old_id)
        if state is None or state.final is not None:
            return None
        return state

    def drop(self, session_id: str) -> None:
        self._redis.delete(self._key(session_id))


_DELETE_IF_EQUAL = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


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


def _split_long(line: str, room: int) -> list[str]:
    """Cut one line into pieces of at most `room` characters, between words when possible."""
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        while len(word) > room:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:room])
            word = word[room:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= room:
            current = candidate
        else:
            pieces.append(current)
            current = word
    if current:
        pieces.append(current)
    return pieces


def paginate(body: str, language: str, *, prefix: str = CON) -> list[str]:
    """Screen bodies of at most 160 GSM-7 characters with their prefix; all but the last
    end with the "98" next-page line."""
    safe = gsm_safe(body.strip(), language) or "-"
    if len(prefix) + len(safe) <= MAX_SCREEN:
        return [safe]
    more = "\n" + gsm_safe(catalog.text("nav_more", language), language)
    room = MAX_SCREEN - len(CON) - len(more)
    lines: list[str] = []
    for line in safe.split("\n"):
        lines.extend(_split_long(line, room) if len(line) > room else [line])
    pages: list[str] = []
    current: list[str] = []
    for line in lines:
        if current and len("\n".join([*current, line])) > room:
            pages.append("\n".join(current))
            current = []
        current.append(line)
    if current:
        pages.append("\n".join(current))
    return [page + more for page in pages[:-1]] + [pages[-1]]


def end(body: str, language: str = catalog.DEFAULT_LANGUAGE) -> str:
    """A stand-alone final screen (no session to page it in): cut to fit if it must."""
    safe = gsm_safe(body.strip(), language)
    room = MAX_SCREEN - len(END)
    if len(safe) > room:
        safe = safe[: room - 3].rstrip() + "..."
    return END + safe


class Engine:
    """Runs a Flow for one hop at a time."""

    def __init__(self, flow: Flow, store: SessionStore) -> None:
        self.flow = flow
        self.store = store
        self.steps: dict[str, Step] = {**flow.steps, RESUME_STEP: _resume_step(self)}

    def handle(self, db: Session, *, session_id: str, phone: str, text: str) -> str:
        """Answer one hop with a `CON ` or `END ` screen."""
        state = self.store.load(session_id)
        if state is not None and state.final is not None:
            # The gateway replayed the last hop: answer the same, do nothing twice.
            return state.final
        if state is None:
            state = State(session_id=session_id, phone=phone, last_text=text)
            ctx = Ctx(db=db, state=state)
            dropped = self.store.dropped_session(phone, current=session_id)
            if dropped is not None and dropped.step in self.steps:
                state.language = dropped.language
                state.data["_resume_from"] = dropped.session_id
                return self._enter(ctx, RESUME_STEP, push=False)
            return self._enter(ctx, self.flow.start(ctx), push=False)
        ctx = Ctx(db=db, state=state)
        answer = latest_answer(state.last_text, text)
        state.last_text = text
        if answer is None:
            return self._current(ctx)
        state.hops += 1
        return self._answer(ctx, answer.strip())

    def _answer(self, ctx: Ctx, answer: str) -> str:
        state = ctx.state
        if state.pending_end is not None:
            # A long final screen is read page by page; any key turns the page.
            return self._turn_final_page(ctx)
        step = self.steps.get(state.step)
        if step is None:
            # The flow changed under a live session (a deploy): start it again.
            return self._enter(ctx, self.flow.start(ctx), push=False)
        if answer == MORE and len(state.pages) > 1:
            state.page = (state.page + 1) % len(state.pages)
            return self._current(ctx)
        if answer == BACK and state.step != RESUME_STEP:
            if state.history:
                return self._enter(ctx, state.history.pop(), push=False)
            return self._current(ctx)
        if answer == HOME and state.home and state.step != RESUME_STEP:
            state.history.clear()
            return self._enter(ctx, state.home, push=False)
        try:
            if len(answer) > MAX_ANSWER:
                raise Reprompt("err_too_long")
            target = step.on_answer(ctx, answer)
        except Reprompt as exc:
            reason = ctx.text(exc.reason_key, **exc.values)
            return self._show(ctx, f"{reason}\n{step.prompt(ctx)}")
        return self._enter(ctx, target, push=True)

    def _enter(self, ctx: Ctx, target: str | End, *, push: bool) -> str:
        state = ctx.state
        if isinstance(target, End):
            return self._end(ctx, target)
        step = self.steps[target]
        if step.root:
            state.history.clear()
        elif push and self._keeps_history(state, target):
            state.history.append(state.step)
        state.step = target
        return self._show(ctx, step.prompt(ctx))

    def _keeps_history(self, state: State, target: str) -> bool:
        """Whether `0` on `target` should lead back to the current screen."""
        if not state.step or state.step in (target, RESUME_STEP):
            return False
        # A root screen is only gone back to when it is the caller's main menu (not the PIN).
        return not self.steps[state.step].root or state.step == state.home

    def _show(self, ctx: Ctx, body: str) -> str:
        state = ctx.state
        state.pages = paginate(body, state.language)
        state.page = 0
        return self._current(ctx)

    def _current(self, ctx: Ctx) -> str:
        state = ctx.state
        step = self.steps.get(state.step)
        resumable = bool(step and step.resumable and not step.root and state.step != RESUME_STEP)
        state.data["_resumable"] = resumable
        self.store.save(state, resumable=resumable)
        page = state.pages[state.page] if state.pages else ""
        if state.pending_end is not None and state.page == len(state.pages) - 1:
            return self._finish(ctx, END + page)
        return CON + page

    def _end(self, ctx: Ctx, target: End) -> str:
        state = ctx.state
        state.final_key = target.key
        pages = paginate(ctx.text(target.key, **target.values), state.language, prefix=END)
        if len(pages) == 1:
            return self._finish(ctx, END + pages[0])
        # Too long for one END screen: read it as pages, the last one ends the session.
        state.pending_end = target.key
        state.pages = pages
        state.page = 0
        return self._current(ctx)

    def _turn_final_page(self, ctx: Ctx) -> str:
        state = ctx.state
        state.page = min(state.page + 1, len(state.pages) - 1)
        return self._current(ctx)

    def _finish(self, ctx: Ctx, reply: str) -> str:
        state = ctx.state
        state.final = reply
        state.data["_resumable"] = False
        self.store.save(state, resumable=False)
        return reply


def _resume_step(engine: Engine) -> Step:
    """ "1 Continue / 2 Start again", offered when the same phone calls back after a drop."""

    def on_answer(ctx: Ctx, answer: str) -> str | End:
        state = ctx.state
        old_id = state.data.get("_resume_from")
        index = choice(answer, 2)
        old = engine.store.load(old_id) if old_id else None
        if old_id:
            engine.store.forget_pointer(old_id, state.phone)
        if index == 0 and old is not None and old.final is None and old.step in engine.steps:
            state.language = old.language
            state.data = {k: v for k, v in old.data.items() if k != "_resume_from"}
            state.history = list(old.history)
            state.home = old.home
            state.step = old.step
            engine.store.drop(old.session_id)
            return old.step
        state.data = {}
        if old is not None:
            engine.store.drop(old.session_id)
        return engine.flow.start(ctx)

    return Step(prompt=ask("resume"), on_answer=on_answer, resumable=False)
