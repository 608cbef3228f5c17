"""The demo's browser chat page and the negotiate function it calls (``make demo`` serves both).

    GET  /                 the chat page (plain HTML and JavaScript, no build step)
    GET  /signalr.js       the official @microsoft/signalr browser bundle, from node_modules
    POST /api/negotiate    what an app's negotiate function returns: {url, accessToken}

The page connects with ``withUrl("/api")``: the official client posts to ``/api/negotiate``
and follows the answer to the SignalR service (here the emulator), exactly as it does with
an Azure Functions negotiate function. Every browser gets a user id of its own.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from bridge.signalr.connection_string import parse_connection_string
from bridge.signalr.tokens import client_access

HERE = Path(__file__).resolve().parent
SIGNALR_JS: Final = (
    HERE.parents[1]
    / "tests"
    / "emulator"
    / "js"
    / "node_modules"
    / "@microsoft"
    / "signalr"
    / "dist"
    / "browser"
)


class DemoWeb:
    """The chat page on ``host:port`` for clients of ``hub``; ``port=0`` binds a free port."""

    def __init__(
        self, connection_string: str, *, hub: str, host: str = "127.0.0.1", port: int = 8080
    ) -> None:
        self._connection = parse_connection_string(connection_string)
        self._hub = hub
        self._host = host
        self._port = port
        self._users = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}/"

    def _app(self) -> web.Application:
        client_url, _ = client_access(self._connection, self._hub)
        page_policy = _content_security_policy(client_url)

        async def page(_: web.Request) -> web.FileResponse:
            return web.FileResponse(
                HERE / "chat" / "index.html", headers={"Content-Security-Policy": page_policy}
            )

        async def script(request: web.Request) -> web.FileResponse:
            name = request.match_info["name"]
            folder = SIGNALR_JS if name.startswith("signalr") else HERE / "chat"
            return web.FileResponse(folder / name, headers={"Cache-Control": "no-cache"})

        async def negotiate(_: web.Request) -> web.Response:
            url, token = client_access(self._connection, self._hub, user_id=f"browser-{next(self._users)}")
            return web.json_response({"url": url, "accessToken": token})

        app = web.Application()
        app.router.add_get("/", page)
        app.router.add_get("/{name:(signalr(\\.min)?\\.js(\\.map)?|chat\\.js|chat\\.css)}", script)
        app.router.add_post("/api/negotiate", negotiate)
        return app

    async def start(self) -> None:
        if not (SIGNALR_JS / "signalr.js").is_file():
            raise FileNotFoundError(
                f"{SIGNALR_JS / 'signalr.js'} is missing: run .ci/setup.d/20-emulator-js.sh"
            )
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


def _content_security_policy(client_url: str) -> str:
    """Scripts from this server only; connections to this server and to the SignalR service."""
    parts = urlsplit(client_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    websocket = origin.replace("http", "ws", 1)
    return (
        f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {origin} {websocket}; base-uri 'none'; form-action 'none'"
    )
