"""A Redis lock store that is safe between Rasa replicas (RasaHQ/rasa#9213).

Rasa's ``RedisLockStore`` keeps one JSON ``TicketLock`` per conversation and changes it with
read-modify-write (GET, change in Python, SET) from every replica: two replicas issuing a ticket
at the same moment get the *same* ticket number, and a replica finishing its turn can write back
a lock without the ticket another replica just added, then delete the lock while that replica
waits — which then fails with ``LockError`` and its message is dropped. Two turns of one
conversation processed at once also lose or duplicate tracker events, because the SQL tracker
store appends "the events past the stored count".

Here every step is atomic in Redis, so no update can be lost:

* issuing a ticket is ONE server-side step (a Lua script): ``INCR <prefix><conversation>:seq``
  (unique, monotonic), the ticket joins ``<prefix><conversation>:queue`` (a sorted set, score =
  ticket) and gets its liveness key. (Done as separate commands, a lower ticket could join the
  queue *after* a higher one had already seen itself at the head and started: two holders at
  once — measured in docs/deploy.md);
* the ticket's liveness key
  ``SET <prefix><conversation>:t:<ticket> PX lifetime`` that its process renews every few
  seconds while the ticket waits and while it holds the lock (a heartbeat) — so a replica that
  dies mid-turn stops blocking the queue once its key expires (Rasa's lock lifetime,
  TICKET_LOCK_LIFETIME, 60 s), but a turn that is merely slow, or a ticket that waits behind a
  backlog, never expires. (Rasa's TicketLock counts the lifetime from the moment the ticket is
  issued: under a backlog of more than 60 s, waiting tickets expire and two turns of one
  conversation run at once — measured in docs/deploy.md.);
* the holder is the lowest ticket in the queue whose liveness key exists; waiters poll every
  ``poll_interval`` seconds (default 20 ms, Rasa's default is 1 s). One poll is ONE Lua script
  that drops dead tickets ahead of us and says whether we are the head, or that our own ticket
  is gone (it expired: we lost our place, and never take the lock on a stale ticket);
* release = ``ZREM`` + ``DEL`` of one's own ticket only;
* waiting is bounded: a waiter that has not reached the head after ``max_wait`` seconds (default
  ``lifetime + 15 s``, so a crashed replica's ticket expires first) leaves the queue and raises
  ``LockError``; the connectors then send the gentle "please send it again" reply
  (channels/texts.yml ``unavailable``) and the message never half-happens.

Cancellation is never used to stop the heartbeat. On Python 3.10, redis-py 4.6's asyncio client
swallows a ``Task.cancel()`` that arrives while a command is fetching a pooled connection
(``async_timeout(0)`` in ``can_read_destructive``) or flushing (``asyncio.wait_for`` around
``drain``): the task carries on as if never cancelled. The first version cancelled its heartbeat
task and awaited it; a lost cancel left that heartbeat beating forever and the turn waiting for
it — the hang of issue 10 (tests/production/test_lock_store.py reproduces the lost cancel). The
heartbeat now stops when an event is set, and the release runs shielded, so neither depends on a
cancel arriving.

It uses ``redis.asyncio`` so waiting never blocks the event loop.

endpoints.yml::

    lock_store:
      type: deploy.lock_store.AtomicRedisLockStore
      url: 127.0.0.1          # host
      port: 6379
      db: 1
      key_prefix: madoguchi   # alphanumeric
      poll_interval: 0.02
      max_wait: 75            # seconds (default lifetime + 15); env MADOGUCHI_LOCK_MAX_WAIT
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Optional, Text

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from bot import config
from bot.security.pseudonym import log_ref

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "lock:"

# KEYS: seq, queue; ARGV: alive-key prefix, ticket ttl ms, queue ttl ms, seq ttl ms → ticket
_ISSUE = """
local t = redis.call('INCR', KEYS[1])
redis.call('SET', ARGV[1] .. t, 1, 'PX', tonumber(ARGV[2]))
redis.call('ZADD', KEYS[2], t, tostring(t))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return t
"""


# KEYS: queue; ARGV: alive-key prefix, our ticket → 1: we hold the lock, 0: a live ticket is
# ahead of us, -1: our own ticket is gone (expired and dropped: we must not take the lock).
_POLL = """
local mine = ARGV[2]
if not redis.call('ZSCORE', KEYS[1], mine) or redis.call('EXISTS', ARGV[1] .. mine) == 0 then
  return -1
end
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if head == mine then return 1 end
  if redis.call('EXISTS', ARGV[1] .. head) == 1 then return 0 end
  redis.call('ZREM', KEYS[1], head)
end
"""

#: Past the lock lifetime (a crashed replica's ticket expires within it), a waiter gives up.
MAX_WAIT_MARGIN = 15.0


class AtomicRedisLockStore(LockStore):
    """Per-conversation FIFO locks in Redis, race-free across processes."""

    def __init__(
        self,
        endpoint_config: Optional[EndpointConfig] = None,
        *,
        host: str = "localhost",
        port: int = 6379,
        db: int = 1,
        password: Optional[str] = None,
        key_prefix: Optional[str] = None,
        poll_interval: float = 0.02,
        socket_timeout: float = 10.0,
        use_ssl: bool = False,
        username: Optional[str] = None,
        max_wait: Optional[float] = None,
    ) -> None:
        import redis.asyncio as aioredis

        kw: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config is not None else {}
        host = endpoint_config.url if endpoint_config is not None and endpoint_config.url else host
        port = int(kw.get("port", port))
        db = int(kw.get("db", db))
        password = kw.get("password", password) or None
        username = kw.get("username", username) or None
        key_prefix = kw.get("key_prefix", key_prefix)
        self.poll_interval = float(kw.get("poll_interval", poll_interval))
        cfg = config.settings()
        if "max_wait" in kw:  # the endpoints file, then the environment, then the argument
            wait = kw["max_wait"]
        elif cfg.is_set("MADOGUCHI_LOCK_MAX_WAIT"):
            wait = cfg.number("MADOGUCHI_LOCK_MAX_WAIT")
        else:
            wait = max_wait
        self.max_wait: Optional[float] = float(wait) if wait not in (None, "") else None
        timeout = float(kw.get("socket_timeout", socket_timeout))
        self.red = aioredis.Redis(
            host=host,
            port=port,
            db=db,
            username=username,
            password=password,
            ssl=bool(kw.get("use_ssl", use_ssl)),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        # Tickets from this process are issued one at a time, so that two messages of one
        # person arriving here together keep their arrival order (asyncio.Lock is FIFO).
        self._issuing = asyncio.Lock()
        self._issue_script = self.red.register_script(_ISSUE)
        self._poll_script = self.red.register_script(_POLL)
        self.key_prefix = DEFAULT_PREFIX
        if key_prefix:
            if str(key_prefix).isalnum():
                self.key_prefix = f"{key_prefix}:{DEFAULT_PREFIX}"
            else:
                logger.warning("Ignoring non-alphanumeric lock key_prefix %r", key_prefix)
        super().__init__()

    # -- keys ------------------------------------------------------------------------------------
    def _seq(self, cid: Text) -> str:
        return f"{self.key_prefix}{cid}:seq"

    def _queue(self, cid: Text) -> str:
        return f"{self.key_prefix}{cid}:queue"

    def _alive(self, cid: Text, ticket: int) -> str:
        return f"{self.key_prefix}{cid}:t:{ticket}"

    # -- the lock --------------------------------------------------------------------------------
    @asynccontextmanager
    async def lock(
        self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = 1
    ) -> AsyncGenerator[TicketLock, None]:
        ticket = await self._issue(conversation_id, lock_lifetime)
        stop = asyncio.Event()
        beat = asyncio.get_running_loop().create_task(self._heartbeat(conversation_id, ticket, lock_lifetime, stop))
        try:
            await self._wait_for_turn(conversation_id, ticket, lock_lifetime)
            yield TicketLock(conversation_id)
        finally:
            stop.set()
            # Shielded: a caller cancelled right now must still leave the queue.
            await asyncio.shield(self._finish(conversation_id, ticket, beat))

    async def _finish(self, cid: Text, ticket: int, beat: "asyncio.Task[None]") -> None:
        await beat  # ends by itself once `stop` is set (at most one renewal in flight)
        await self._release(cid, ticket)

    async def _heartbeat(self, cid: Text, ticket: int, lifetime: float, stop: asyncio.Event) -> None:
        """Keep our ticket (and the queue) alive while we wait and while we hold the lock."""
        ttl_ms = max(1, int(lifetime * 1000))
        every = max(0.05, min(5.0, lifetime / 4))
        while True:
            try:
                await asyncio.wait_for(stop.wait(), every)
                return
            except asyncio.TimeoutError:
                pass
            try:
                async with self.red.pipeline(transaction=True) as pipe:
                    pipe.set(self._alive(cid, ticket), 1, px=ttl_ms)
                    pipe.pexpire(self._queue(cid), ttl_ms * 2)
                    await pipe.execute()
            except Exception:  # next beat retries; the key lives `lifetime`
                logger.warning("lock: heartbeat for ticket %s failed", ticket)

    async def _issue(self, cid: Text, lifetime: float) -> int:
        try:
            ttl_ms = max(1, int(lifetime * 1000))
            async with self._issuing:
                # The bookkeeping keys disappear on their own once a conversation is quiet.
                ticket = await self._issue_script(
                    keys=[self._seq(cid), self._queue(cid)],
                    args=[f"{self.key_prefix}{cid}:t:", ttl_ms, ttl_ms * 2, max(ttl_ms * 2, 24 * 3600 * 1000)],
                )
            return int(ticket)
        except Exception as exc:  # Rasa expects LockError
            raise LockError(f"Error while issuing a lock ticket: {exc}") from exc

    async def _wait_for_turn(self, cid: Text, ticket: int, lifetime: float) -> None:
        # The queue moves as long as holders are alive, and a dead holder's ticket expires after
        # `lifetime`; past `max_wait` something is stuck, and the person is asked to resend.
        max_wait = self.max_wait if self.max_wait is not None else lifetime + MAX_WAIT_MARGIN
        deadline = time.monotonic() + max_wait
        prefix = f"{self.key_prefix}{cid}:t:"
        while True:
            try:
                state = int(await self._poll_script(keys=[self._queue(cid)], args=[prefix, ticket]))
            except Exception as exc:  # Rasa expects LockError
                raise LockError(f"Error while waiting for the lock of '{cid}': {exc}") from exc
            if state == 1:
                return
            if state < 0:
                raise LockError(f"Lock ticket {ticket} of '{cid}' expired while waiting.")
            if time.monotonic() > deadline:
                logger.warning("lock: gave up waiting for %s after %.0f s", log_ref(cid), max_wait)
                raise LockError(f"Could not acquire lock for conversation_id '{cid}' in {max_wait:.0f} s.")
            await asyncio.sleep(self.poll_interval)

    async def _release(self, cid: Text, ticket: int) -> None:
        try:
            async with self.red.pipeline(transaction=True) as pipe:
                pipe.zrem(self._queue(cid), str(ticket))
                pipe.delete(self._alive(cid, ticket))
                await pipe.execute()
        except Exception:  # the liveness key expires anyway
            logger.exception("lock: could not release ticket %s", ticket)

    # -- LockStore's synchronous API (not used by the message path) -------------------------------
    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        return None

    def delete_lock(self, conversation_id: Text) -> None:
        return None

    def save_lock(self, lock: TicketLock) -> None:
        return None

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        raise NotImplementedError("AtomicRedisLockStore issues tickets inside lock()")
