"""A fake LINE Messaging API + Telegram Bot API on 127.0.0.1:<free port>, for tests.

Every request is recorded (:attr:`FakeApi.calls`). Answers default to success with the shapes
the real APIs return; :meth:`FakeApi.script` queues failures (429 with Retry-After or
``parameters.retry_after``, 500, 400 "Invalid reply token", slow answers) for paths that match.

Usage::

    async with FakeApi() as fake:
        monkeypatch.setenv("LINE_API_BASE_URL", fake.base_url)
        ...
        assert fake.calls_to("/v2/bot/message/reply")
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qsl

from aiohttp import web

TELEGRAM_TOKEN = "123456:TEST-token_for-fake-api"


@dataclass
class Call:
    """One recorded request."""

    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    at: float
    json: Any = None
    form: Optional[Dict[str, Any]] = None

    @property
    def params(self) -> Dict[str, Any]:
        """JSON body (LINE) or form fields with JSON-looking values decoded (Telegram)."""
        if self.json is not None:
            return self.json
        return self.form or {}

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class Scripted:
    match: str
    status: int
    body: Any
    headers: Dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1


class FakeApi:
    """Records calls and answers like LINE / Telegram would."""

    def __init__(self, telegram_token: str = TELEGRAM_TOKEN) -> None:
        self.telegram_token = telegram_token
        self.calls: List[Call] = []
        self._scripts: List[Scripted] = []
        self._updates: List[List[Dict[str, Any]]] = []
        self._runner: Optional[web.AppRunner] = None
        self.port = 0
        self._message_id = 100

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> "FakeApi":
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> "FakeApi":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting -----------------------------------------------------------------------------------
    def script(
        self,
        match: str,
        status: int,
        body: Any = None,
        *,
        headers: Optional[Dict[str, str]] = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests whose path contains ``match`` get this answer."""
        self._scripts.append(Scripted(match, status, body if body is not None else {}, headers or {}, delay, times))

    def line_rate_limited(self, match: str, retry_after: float = 1, times: int = 1) -> None:
        self.script(
            match,
            429,
            {"message": "The API rate limit has been exceeded. Try again later."},
            headers={"Retry-After": str(retry_after)},
            times=times,
        )

    def line_invalid_reply_token(self) -> None:
        self.script("/v2/bot/message/reply", 400, {"message": "Invalid reply token"})

    def telegram_rate_limited(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        self.script(
            f"/{method}",
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
            times=times,
        )

    def queue_updates(self, updates: List[Dict[str, Any]]) -> None:
        """The next getUpdates call returns these updates (later calls return [])."""
        self._updates.append(updates)

    # -- inspection ----------------------------------------------------------------------------------
    def calls_to(self, match: str) -> List[Call]:
        return [c for c in self.calls if match in c.path]

    # -- handler -------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        call = Call(request.method, request.path, dict(request.headers), body, time.monotonic())
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("application/json") and body:
            call.json = json.loads(body)
        elif ctype.startswith("application/x-www-form-urlencoded"):
            call.form = {k: _maybe_json(v) for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True)}
        elif ctype.startswith("multipart/form-data"):
            call.form = {}
        self.calls.append(call)

        for s in self._scripts:
            if s.match in request.path and s.times > 0:
                s.times -= 1
                if s.delay:
                    await asyncio.sleep(s.delay)
                return web.json_response(s.body, status=s.status, headers=s.headers)

        if request.path.startswith("/bot"):
            return self._telegram(request.path, call)
        return self._line(request.method, request.path)

    def _line(self, method: str, path: str) -> web.Response:
        if path == "/v2/bot/message/push":
            return web.json_response({"sentMessages": [{"id": "1", "quoteToken": "q"}]})
        if path == "/v2/bot/chat/loading/start":
            return web.json_response({}, status=202)
        if path == "/v2/bot/richmenu" and method == "POST":
            return web.json_response({"richMenuId": "richmenu-fake-0001"})
        if path == "/v2/bot/richmenu/list":
            return web.json_response({"richmenus": []})
        if path.startswith("/v2/bot/"):
            return web.json_response({})
        return web.json_response({"message": "Not found"}, status=404)

    def _telegram(self, path: str, call: Call) -> web.Response:
        token, _, method = path[len("/bot") :].partition("/")
        if token != self.telegram_token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params = call.params
        if method == "sendMessage":
            self._message_id += 1
            chat_id = int(params.get("chat_id", 0))
            result: Any = {
                "message_id": self._message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": params.get("text", ""),
            }
        elif method == "getUpdates":
            result = self._updates.pop(0) if self._updates else []
        elif method == "getMe":
            result = {"id": 123456, "is_bot": True, "first_name": "madoguchi", "username": "madoguchi_test_bot"}
        elif method in ("answerCallbackQuery", "setWebhook", "deleteWebhook", "sendChatAction"):
            result = True
        else:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.json_response({"ok": True, "result": result})


def _maybe_json(value: str) -> Any:
    if value[:1] in ("{", "[") or value in ("true", "false"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
