"""Test helpers: fixture loading, a stub Rasa (`on_new_message`) and a real Sanic server
around a channel blueprint."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional

from sanic import Sanic

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load_fixture(name: str) -> Dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class RasaStub:
    """Stands in for Rasa's ``on_new_message``: records each UserMessage and answers through
    the given output channel with canned bot messages (by user text), like the processor does."""

    def __init__(self, replies: Optional[Dict[str, List[Dict[str, Any]]]] = None, delay: float = 0.0) -> None:
        self.replies = replies or {}
        self.delay = delay
        self.messages: List[Any] = []
        self.fail_on: set = set()

    async def __call__(self, message: Any) -> None:
        self.messages.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        if message.text in self.fail_on:
            raise RuntimeError("rasa exploded")
        for reply in self.replies.get(message.text, [{"text": f"echo:{message.text}"}]):
            await message.output_channel.send_response(message.sender_id, dict(reply))

    @property
    def texts(self) -> List[str]:
        return [m.text for m in self.messages]


@asynccontextmanager
async def serve(channel: Any, on_new_message: Any, prefix: str) -> AsyncIterator[str]:
    """Run the channel's blueprint in a real Sanic server on 127.0.0.1; yields the base URL."""
    Sanic.test_mode = True
    app = Sanic(f"t{uuid.uuid4().hex}", configure_logging=False)
    app.blueprint(channel.blueprint(on_new_message), url_prefix=prefix)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.start_serving()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
