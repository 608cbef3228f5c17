"""Debian's chromium, driven by playwright-core (tests/browser/js/browser.mjs) from async tests."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).resolve().parent / "js"
CHROMIUM = Path("/usr/bin/chromium")


class BrowserError(AssertionError):
    pass


class Browser:
    """One headless chromium with any number of pages; every call answers or fails within its timeout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._ids = itertools.count(1)
        self.version = ""

    @classmethod
    async def launch(cls) -> Browser:
        node = shutil.which("node")
        installed = (JS_DIR / "node_modules" / "playwright-core").is_dir() and CHROMIUM.exists()  # noqa: ASYNC240
        if node is None or not installed:
            raise BrowserError("chromium or playwright-core is missing: run .ci/setup.d/40-browser.sh")
        process = await asyncio.create_subprocess_exec(
            node, str(JS_DIR / "browser.mjs"), cwd=JS_DIR,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        browser = cls(process)
        browser.version = await browser._answer(0, timeout=60)
        return browser

    async def call(self, op: str, *, timeout: float = 30, **fields: Any) -> Any:
        number = next(self._ids)
        assert self._process.stdin is not None
        self._process.stdin.write((json.dumps({"id": number, "op": op, **fields}) + "\n").encode())
        await self._process.stdin.drain()
        return await self._answer(number, timeout=timeout + 10)

    async def _answer(self, number: int, *, timeout: float) -> Any:
        assert self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), timeout)
        except TimeoutError:
            raise BrowserError(f"the browser did not answer within {timeout}s") from None
        if not line:
            assert self._process.stderr is not None
            output = (await self._process.stderr.read()).decode(errors="replace")
            raise BrowserError(f"the browser driver exited: {output[-2000:]}")
        answer = json.loads(line)
        assert answer["id"] == number, answer
        if not answer["ok"]:
            raise BrowserError(answer["error"])
        return answer.get("value")

    async def open(self, url: str) -> int:
        page: int = await self.call("open", url=url)
        return page

    async def evaluate(self, expression: str, page: int = 0) -> Any:
        return await self.call("evaluate", page=page, expression=expression)

    async def wait_for(self, expression: str, page: int = 0, timeout: float = 30) -> None:
        """Wait until ``expression`` (JavaScript) is truthy on the page; on timeout, show what it shows."""
        try:
            await self.call(
                "waitFor", page=page, expression=expression, timeoutMs=timeout * 1000, timeout=timeout
            )
        except BrowserError as exc:
            text = await self.evaluate("document.body.innerText", page)
            raise BrowserError(f"{exc}\nwaiting for: {expression}\nthe page shows:\n{text}") from None

    async def text(self, selector: str, page: int = 0) -> list[str]:
        """The text of every element matching ``selector``."""
        texts: list[str] = await self.evaluate(
            f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent.trim())", page
        )
        return texts

    async def errors(self) -> list[str]:
        found: list[str] = await self.call("errors")
        return found

    async def close(self) -> None:
        if self._process.returncode is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                await asyncio.wait_for(self._process.wait(), 20)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()


def text_contains(selector: str, text: str) -> str:
    """A JavaScript condition: some element matching ``selector`` contains ``text``."""
    return (
        f"[...document.querySelectorAll({json.dumps(selector)})]"
        f".some(e => e.textContent.includes({json.dumps(text)}))"
    )
