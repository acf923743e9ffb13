"""Helpers shared by the LINE and Telegram connectors.

* platform limits and text splitting/merging;
* settings from Rasa credentials with environment fallback (a channel with empty settings is off);
* retry with exponential backoff and full jitter, honouring Retry-After;
* a per-sender work queue so one person's events are handled in order, in the background;
* :class:`TurnBuffer`, an output channel that keeps each bot message whole (text + buttons +
  custom payload), so a connector can render a turn at once;
* the connector texts (``channels/texts.yml``);
* logging helpers: log lines carry event kinds, statuses and a shortened *pseudonymous* id,
  never message text or raw platform ids.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import weakref
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Text,
    Tuple,
    TypeVar,
    Union,
)

import yaml
from rasa.core.channels.channel import OutputChannel

from bot import config
from bot.domain import postback
from bot.paths import ROOT
from bot.security.pseudonym import log_ref
from channels.fallback import unavailable_text
from channels.wording import load_texts

logger = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=Mapping[str, Any])


# --- platform limits -------------------------------------------------------------------------
MAX_WEBHOOK_BODY = 1_000_000  # bytes; both platforms send far less
LINE_MAX_MESSAGES = 5  # message objects per reply/push call
LINE_MAX_TEXT = 5000  # characters per text message
LINE_MAX_QUICK_REPLIES = 13
LINE_MAX_LABEL = 20  # quick-reply label characters
LINE_MAX_ALT_TEXT = 400
LINE_MAX_BUBBLES = 12  # carousel
LINE_MAX_DISPLAY_TEXT = 300
TELEGRAM_MAX_TEXT = 4096  # UTF-16 code units, after entity parsing
TELEGRAM_MAX_CALLBACK_DATA = 64  # bytes

#: Failures that were given up on, by "<channel>.<operation>" (exported for metrics/tests).
FAILURES: Counter = Counter()


# --- settings --------------------------------------------------------------------------------
_UNEXPANDED = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


def setting(
    credentials: Optional[Mapping[str, Any]], key: Union[str, Tuple[str, ...]], env_name: str, default: str = ""
) -> str:
    """A setting from credentials.yml (first non-empty of ``key``), else the environment, else
    ``default``.

    A credentials value that is empty, or still a literal ``${VAR}`` (quoted in YAML, so Rasa
    did not expand it), counts as unset.
    """
    for k in (key,) if isinstance(key, str) else key:
        value = str((credentials or {}).get(k) or "").strip()
        if value and not _UNEXPANDED.match(value):
            return value
    return (config.settings().raw(env_name) or "").strip() or default


def float_setting(credentials: Optional[Mapping[str, Any]], key: str, env_name: str, default: float) -> float:
    raw = setting(credentials, key, env_name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        logger.warning("Ignoring non-numeric %s; using %s", env_name, default)
        return default


# --- texts -----------------------------------------------------------------------------------
def failure_text() -> str:
    """What a person sees when a turn produced nothing: the shared fallback (apology plus the
    verified 24-hour lines, ``channels.fallback``), or the plain apology if even that fails."""

    try:
        return unavailable_text()
    except Exception:  # a broken directory must not silence the apology
        logger.exception("fallback text unavailable")
        return load_texts()["error"]


# --- logging ---------------------------------------------------------------------------------
def short_id(sender_id: Optional[str]) -> str:
    """A log-safe handle for a *pseudonymous* sender id (never pass raw platform ids): a
    per-process random token (`bot.security.pseudonym.log_ref`), not a prefix of the pseudonym."""
    return log_ref(sender_id)


def record_failure(channel: str, operation: str, reason: str) -> None:
    """Count and log a delivery we gave up on (no message content in the log)."""
    FAILURES[f"{channel}.{operation}"] += 1
    logger.warning("%s %s failed for good: %s", channel, operation, reason)


# --- text helpers ----------------------------------------------------------------------------
def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int, length: Callable[[str], int] = len) -> List[str]:
    """Split ``text`` into chunks of at most ``limit`` (by ``length``), preferring paragraph,
    then line, then hard boundaries. Empty text gives no chunk."""
    text = text.strip()
    if not text:
        return []
    if length(text) <= limit:
        return [text]
    for sep in ("\n\n", "\n", "。", " "):
        cut = _last_fit(text, sep, limit, length)
        if cut > 0:
            head = text[:cut] + (sep if sep == "。" else "")
            return [head.strip(), *split_text(text[cut + len(sep) :], limit, length)]
    # No separator fits: cut hard at the largest prefix that fits.
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if length(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return [text[:lo], *split_text(text[lo:], limit, length)]


def _last_fit(text: str, sep: str, limit: int, length: Callable[[str], int]) -> int:
    best = -1
    start = 0
    while True:
        idx = text.find(sep, start)
        if idx <= 0:
            break
        head = text[:idx] + (sep if sep == "。" else "")
        if length(head) > limit:
            break
        best = idx
        start = idx + len(sep)
    return best


def neutralize_user_text(text: str) -> str:
    """Typed text must not act as a Rasa intent payload (``/delete_data``…): only buttons,
    whose keys are validated by ``bot.domain.postback``, may do that. A leading ``/`` becomes ``／``.

    Every connector passes typed text through here. The check strips leading whitespace the
    way Rasa does (``UserMessage`` calls ``str.strip``), so " /x" or "\u3000/x" cannot slip
    through; zero-width characters and a full-width 「／」 are not commands to Rasa, and the
    NLU normaliser (``bot.language.normaliser.normalize``) keeps them from becoming one after folding."""
    stripped = text.lstrip()
    return "／" + stripped[1:] if stripped.startswith("/") else text


def button_or_typed(text: str) -> str:
    """For channels where a button press arrives as the message itself (REST, like Rasa's
    own clients): a payload passes only when it is one of the bot's own buttons
    (:func:`bot_button`), written exactly as the bot wrote it (the form ``bot.domain.postback``
    encodes and decodes back unchanged), as LINE and Telegram accept from a postback; anything
    else (``/staff_reply{…}``, ``/inform{"phone":…}``) is typed text."""
    try:
        if postback.decode(postback.encode(text)) == text and bot_button(text):
            return text
    except postback.PostbackError:
        pass
    return neutralize_user_text(text)


# --- the bot's own buttons -------------------------------------------------------------------
DOMAIN_PATH = ROOT / "domain.yml"
#: Buttons the actions build rather than domain.yml: (intent, entity) whose value varies
#: (``actions.callback.ActionAskPreferredSlot``: the next business days' periods, ``any``).
BUILT_BUTTONS = frozenset({("choose_slot", "preferred_slot")})


@lru_cache(maxsize=4)
def bot_buttons(path: str = str(DOMAIN_PATH)) -> frozenset[str]:
    """Every payload a button of the bot can carry, in ``bot.domain.postback``'s canonical form:
    the buttons of domain.yml's responses (``{{``/``}}``, Rasa's template escape, read as braces)
    and the rich menu's keys (``bot.domain.postback.RICH_MENU_KEYS``)."""
    with open(path, encoding="utf-8") as fh:
        responses = (yaml.safe_load(fh) or {}).get("responses") or {}
    payloads = {f"/{key}" for key in postback.RICH_MENU_KEYS}
    for variants in responses.values():
        for variant in variants or []:
            for button in (variant or {}).get("buttons") or []:
                raw = str(button.get("payload") or "").replace("{{", "{").replace("}}", "}")
                try:
                    canonical = postback.decode(postback.encode(raw))
                except postback.PostbackError:
                    continue  # a plain-text button: the person's own words, never an intent
                if canonical:
                    payloads.add(canonical)
    return frozenset(payloads)


def bot_button(payload: str) -> bool:
    """Whether ``payload`` (canonical, as ``bot.domain.postback.decode`` gives it) is one the bot's
    own buttons carry (:func:`bot_buttons`, :data:`BUILT_BUTTONS`). Nothing else may come in from
    a person as an intent: not ``/staff_reply{…}`` (the staff app's, through Rasa's API), not
    ``/unfollow``, not an entity no button sets."""
    if payload in bot_buttons():
        return True
    try:
        key = postback.encode(payload)
    except postback.PostbackError:
        return False
    fields = {name: value for name, _, value in (part.partition("=") for part in key.split("&"))}
    return (fields.get("i"), fields.get("e")) in BUILT_BUTTONS and bool(fields.get("v"))


# --- retry -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter.

    Attributes:
        attempts (:obj:`int`): total tries, including the first.
        base (:obj:`float`): first backoff ceiling in seconds; doubles per try up to ``cap``.
        cap (:obj:`float`): backoff ceiling in seconds.
        max_retry_after (:obj:`float`): a server asking us to wait longer than this is given up on.
    """

    attempts: int = 4
    base: float = 0.5
    cap: float = 8.0
    max_retry_after: float = 30.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * (2**attempt)))


@dataclass(frozen=True)
class Verdict:
    """How to treat a failed attempt: retry (after ``retry_after`` seconds if given) or not."""

    retry: bool
    retry_after: Optional[float] = None


async def with_retries(
    call: Callable[[], Awaitable[T]],
    classify: Callable[[BaseException], Verdict],
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> T:
    """Run ``call`` until it succeeds, the classifier says stop, or attempts run out.

    The last exception propagates; the caller decides whether to count it as a failure.
    A server's Retry-After is honoured (plus a little jitter so clients do not stampede).
    """
    attempt = 0
    while True:
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # classified below
            verdict = classify(exc)
            attempt += 1
            if not verdict.retry or attempt >= policy.attempts:
                raise
            if verdict.retry_after is not None:
                if verdict.retry_after > policy.max_retry_after:
                    raise
                delay = verdict.retry_after + random.uniform(0, min(1.0, policy.base))
            else:
                delay = policy.backoff(attempt - 1)
            logger.info("%s: attempt %d failed (%s); retrying in %.2fs", what, attempt, type(exc).__name__, delay)
            await sleep(delay)


# --- ordered background work -----------------------------------------------------------------
DEFAULT_MAX_TURNS = 8


def max_turns() -> int:
    """MADOGUCHI_MAX_TURNS: concurrent Rasa turns per process (0 = no cap)."""
    try:
        return max(0, config.settings().integer("MADOGUCHI_MAX_TURNS"))
    except ValueError:
        return DEFAULT_MAX_TURNS


class TurnGate:
    """A process-wide cap on concurrent Rasa turns, shared by every channel.

    Rasa's CPU is the bottleneck: past capacity, fifty turns started together all finish late
    and stall the event loop (webhook acknowledgements included), while eight at a time finish
    in arrival order and the rest wait cheaply (docs/reliability.md, P5b). One semaphore per
    event loop, because asyncio primitives are bound to the loop they first run on; keyed by the
    loop itself (weakly), never by ``id(loop)``, which a new loop can reuse after an old one is
    gone and would then be handed the old loop's semaphore.
    """

    def __init__(self, limit: Optional[int] = None) -> None:
        self._limit = limit
        self._semaphores: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = (
            weakref.WeakKeyDictionary()
        )
        self.waiting = 0

    @property
    def limit(self) -> int:
        return max_turns() if self._limit is None else self._limit

    def _semaphore(self) -> Optional[asyncio.Semaphore]:
        if self.limit <= 0:
            return None
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return semaphore

    async def run(self, job: Callable[[], Awaitable[T]]) -> T:
        semaphore = self._semaphore()
        if semaphore is None:
            return await job()
        self.waiting += 1
        try:
            await semaphore.acquire()
        finally:
            self.waiting -= 1
        try:
            return await job()
        finally:
            semaphore.release()


TURN_GATE = TurnGate()


class SenderQueue:
    """Runs submitted jobs in the background, one at a time and in order per key.

    Webhooks must be answered at once (LINE treats >2 s as a timeout), but one person's
    messages must still reach Rasa in the order they were sent. Jobs of different people run
    concurrently up to `gate`'s cap.
    """

    def __init__(self, gate: Optional[TurnGate] = None) -> None:
        self._tails: Dict[str, asyncio.Task] = {}
        self._tasks: set = set()
        self._gate = gate or TURN_GATE

    def submit(self, key: str, job: Callable[[], Awaitable[Any]]) -> asyncio.Task:
        previous = self._tails.get(key)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])  # its failure must not stop this job
            try:
                await self._gate.run(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("background job failed (key %s)", short_id(key))

        task = asyncio.get_running_loop().create_task(run())
        self._tails[key] = task
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if self._tails.get(key) is t:
                del self._tails[key]

        task.add_done_callback(done)
        return task

    async def drain(self) -> None:
        """Wait until every submitted job (including ones submitted meanwhile) has finished."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    def __len__(self) -> int:
        return len(self._tasks)


# --- output buffering --------------------------------------------------------------------------
_MESSAGE_KEYS = ("text", "buttons", "custom", "image", "attachment")


def normalize_message(message: Mapping[str, Any]) -> Dict[str, Any]:
    """Keep what a connector renders from a Rasa bot message (plus the response name, see
    :func:`drop_superseded`); quick_replies count as buttons."""
    out = {k: message[k] for k in _MESSAGE_KEYS if message.get(k)}
    if not out.get("buttons") and message.get("quick_replies"):
        out["buttons"] = message["quick_replies"]
    if out and message.get("utter_action"):
        out["utter_action"] = message["utter_action"]
    return out


def drop_superseded(messages: Sequence[M], texts: Mapping[str, Any]) -> List[M]:
    """Drop plain texts that only spell out this turn's window cards (``superseded_by_windows``
    in texts.yml): they are there for text-only channels."""
    if not any(windows_of(m.get("custom")) for m in messages):
        return list(messages)
    names = set(texts.get("superseded_by_windows") or ())
    return [
        m for m in messages if not (m.get("utter_action") in names and not m.get("custom") and not m.get("buttons"))
    ]


class TurnBuffer(OutputChannel):
    """Collects the bot's messages of one turn, each kept whole.

    Rasa's default ``send_response`` would send a message's text and its custom payload as two
    messages; here the text of a custom message stays with it (as alt text / intro).
    """

    def __init__(self) -> None:
        self.messages: List[Dict[str, Any]] = []

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        normalized = normalize_message(message)
        if normalized:
            self.messages.append(normalized)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        await self.send_response(recipient_id, {"text": text, "buttons": buttons})

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"custom": json_message})

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"image": image})


class NullOutput(TurnBuffer):
    """Swallows output: for turns that must stay silent (unfollow / blocked bot)."""

    @classmethod
    def name(cls) -> Text:
        return "null"


def windows_of(custom: Any) -> List[Mapping[str, Any]]:
    """The ``{"windows": [...]}`` custom payload's window dicts (``Recommendation.to_payload``)."""
    if isinstance(custom, Mapping) and isinstance(custom.get("windows"), list):
        return [w for w in custom["windows"] if isinstance(w, Mapping) and w.get("name")]
    return []


def ticket_of(custom: Any) -> Optional[Dict[str, Any]]:
    """The ``{"ticket": {...}}`` custom payload, if any."""
    if isinstance(custom, Mapping) and isinstance(custom.get("ticket"), Mapping):
        return dict(custom["ticket"])
    return None


def ticket_lines(ticket: Mapping[str, Any], cards: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """(label, value) rows of a ticket confirmation, in display order.

    Reads what ``action_book_callback`` sends (``number``, ``contact_label``, ``slot_label``);
    ``contact_method`` (chat|phone) and ``preferred_slot_label`` are accepted as well.
    """
    rows = []
    number = ticket.get("number", ticket.get("id"))
    if number is not None:
        rows.append((cards["ticket_number"], str(number)))
    method = ticket.get("contact_label") or cards["contact_methods"].get(ticket.get("contact_method") or "")
    if method:
        rows.append((cards["ticket_contact"], str(method)))
    slot = ticket.get("slot_label") or ticket.get("preferred_slot_label")
    if slot:
        rows.append((cards["ticket_slot"], str(slot)))
    return rows


def window_detail_lines(window: Mapping[str, Any], cards: Mapping[str, Any]) -> List[str]:
    """Hours / next dates / place lines of a window, for either renderer."""
    lines = []
    if window.get("hours"):
        lines.append(f"{cards['hours']}：{window['hours']}")
    dates = [d for d in window.get("next_dates") or [] if d]
    if dates:
        lines.append(f"{cards['next_dates']}：{'、'.join(_md(d) for d in dates)}")
    place = "　".join(p for p in (window.get("place"), window.get("address")) if p)
    if place:
        lines.append(f"{cards['place']}：{place}")
    return lines


def _md(iso: str) -> str:
    """``2026-11-30`` → ``11/30``; anything else unchanged."""
    m = re.fullmatch(r"\d{4}-(\d{2})-(\d{2})", str(iso))
    return f"{int(m.group(1))}/{int(m.group(2))}" if m else str(iso)


def is_web_url(url: Any) -> bool:
    return isinstance(url, str) and url.startswith(("https://", "http://"))


def buttons_of(messages: Iterable[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """The buttons of the last message that has any (platforms show one set per turn)."""
    found: List[Dict[str, Any]] = []
    for m in messages:
        if m.get("buttons"):
            found = list(m["buttons"])
    return found
