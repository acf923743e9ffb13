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
  ``poll_interval`` seconds (default 20 ms, Rasa's default is 1 s);
* release = ``ZREM`` + ``DEL`` of one's own ticket only.

It uses ``redis.asyncio`` so waiting never blocks the event loop.

endpoints.yml::

    lock_store:
      type: deploy.lock_store.AtomicRedisLockStore
      url: 127.0.0.1          # host
      port: 6379
      db: 1
      key_prefix: madoguchi   # alphanumeric
      poll_interval: 0.02
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


class AtomicRedisLockStore(LockStore):
    """Per-conversation FIFO locks in Redis, race-free across processes."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, *, host: str = "localhost",
                 port: int = 6379, db: int = 1, password: Optional[str] = None, key_prefix: Optional[str] = None,
                 poll_interval: float = 0.02, socket_timeout: float = 10.0, use_ssl: bool = False,
                 username: Optional[str] = None) -> None:
        import redis.asyncio as aioredis

        kw: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config is not None else {}
        host = (endpoint_config.url if endpoint_config is not None and endpoint_config.url else host)
        port = int(kw.get("port", port))
        db = int(kw.get("db", db))
        password = kw.get("password", password) or None
        username = kw.get("username", username) or None
        key_prefix = kw.get("key_prefix", key_prefix)
        self.poll_interval = float(kw.get("poll_interval", poll_interval))
        self.red = aioredis.Redis(host=host, port=port, db=db, username=username, password=password,
                                  ssl=bool(kw.get("use_ssl", use_ssl)),
                                  socket_timeout=float(kw.get("socket_timeout", socket_timeout)))
        # Tickets from this process are issued one at a time, so that two messages of one
        # person arriving here together keep their arrival order (asyncio.Lock is FIFO).
        self._issuing = asyncio.Lock()
        self._issue_script = self.red.register_script(_ISSUE)
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
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        ticket = await self._issue(conversation_id, lock_lifetime)
        beat = asyncio.get_running_loop().create_task(self._heartbeat(conversation_id, ticket, lock_lifetime))
        try:
            await self._wait_for_turn(conversation_id, ticket, lock_lifetime)
            yield TicketLock(conversation_id)
        finally:
            beat.cancel()
            await self._release(conversation_id, ticket)
            try:
                await beat
            except asyncio.CancelledError:
                pass

    async def _heartbeat(self, cid: Text, ticket: int, lifetime: float) -> None:
        """Keep our ticket (and the queue) alive while we wait and while we hold the lock."""
        ttl_ms = max(1, int(lifetime * 1000))
        every = max(0.05, min(5.0, lifetime / 4))
        while True:
            await asyncio.sleep(every)
            try:
                async with self.red.pipeline(transaction=True) as pipe:
                    pipe.set(self._alive(cid, ticket), 1, px=ttl_ms)
                    pipe.pexpire(self._queue(cid), ttl_ms * 2)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 (next beat retries; the key lives `lifetime`)
                logger.warning("lock: heartbeat for ticket %s failed", ticket)

    async def _issue(self, cid: Text, lifetime: float) -> int:
        try:
            ttl_ms = max(1, int(lifetime * 1000))
            async with self._issuing:
                # The bookkeeping keys disappear on their own once a conversation is quiet.
                ticket = await self._issue_script(
                    keys=[self._seq(cid), self._queue(cid)],
                    args=[f"{self.key_prefix}{cid}:t:", ttl_ms, ttl_ms * 2, max(ttl_ms * 2, 24 * 3600 * 1000)])
            return int(ticket)
        except Exception as exc:  # noqa: BLE001 (Rasa expects LockError)
            raise LockError(f"Error while issuing a lock ticket: {exc}") from exc

    async def _wait_for_turn(self, cid: Text, ticket: int, lifetime: float) -> None:
        # Waiting is bounded only as a last resort: the queue moves as long as holders are
        # alive, and a dead holder's ticket expires after `lifetime`.
        deadline = time.monotonic() + max(600.0, lifetime * 10)
        while True:
            head = await self.red.zrange(self._queue(cid), 0, 0)
            if not head:
                # Our own ticket vanished (queue key expired after >2 lifetimes): re-enter.
                await self.red.zadd(self._queue(cid), {str(ticket): ticket})
                continue
            first = int(head[0])
            if first == ticket:
                return
            if not await self.red.exists(self._alive(cid, first)):
                # Released just now, or its holder died past its lifetime: skip it.
                if await self.red.zrem(self._queue(cid), str(first)):
                    logger.warning("lock: dropped expired ticket %s of %s", first, cid[:12])
                continue
            if time.monotonic() > deadline:
                raise LockError(f"Could not acquire lock for conversation_id '{cid}'.")
            await asyncio.sleep(self.poll_interval)

    async def _release(self, cid: Text, ticket: int) -> None:
        try:
            async with self.red.pipeline(transaction=True) as pipe:
                pipe.zrem(self._queue(cid), str(ticket))
                pipe.delete(self._alive(cid, ticket))
                await pipe.execute()
        except Exception:  # noqa: BLE001 (the liveness key expires anyway)
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
