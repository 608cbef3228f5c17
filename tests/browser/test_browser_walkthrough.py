"""README's "The first ten minutes", step by step, with its own commands, in a real browser.

Start the demo, open the chat page and the bridge's live page, produce a record and watch it
arrive, break one and find it with ``dlq show``, write a route test and run it. The shell
commands and the route test are read from the README, so the README cannot drift from what
works.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import sys
import time
from pathlib import Path

import pytest
from browser_support import Browser, text_contains
from e2e_support import REPO, demo

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CLI = ".venv/bin/signalr-bridge"


def readme_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## The first ten minutes")
    return text[start : text.index("\n## ", start + 1)]


def readme_blocks(language: str) -> list[str]:
    return [
        body for lang, body in re.findall(r"```(\w*)\n(.*?)```", readme_section(), re.S) if lang == language
    ]


def readme_commands() -> list[list[str]]:
    return [
        shlex.split(line)
        for block in readme_blocks("bash")
        for line in block.splitlines()
        if line.startswith(CLI)
    ]


async def run(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """A README command as a user runs it (``.venv/bin/signalr-bridge`` is this interpreter's)."""
    assert argv[0] == CLI
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", *argv[1:], cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, output.decode(errors="replace")


def test_the_walkthrough_is_the_demo_the_makefile_runs() -> None:
    assert readme_blocks("bash")[0].strip() == "make demo"
    assert "deploy/local/stack.py" in (REPO / "Makefile").read_text()
    commands = [argv[1] for argv in readme_commands()]
    assert commands == ["produce", "produce", "dlq", "test"]


async def test_the_first_ten_minutes(browser: Browser, tmp_path: Path) -> None:
    produce_mine, produce_broken, dlq_show, route_test = readme_commands()
    steps: list[tuple[str, float]] = []
    began = time.monotonic()

    def done(step: str) -> None:
        steps.append((step, time.monotonic() - began - sum(seconds for _, seconds in steps)))

    async with demo("--random-ports") as output:
        # 1. Start the demo: it says where everything is.
        await output.wait_for(r"Ctrl-C stops everything")
        text = output.text
        chat_url = re.search(r"the chat page:\s+(\S+)", text)
        live_url = re.search(r"the bridge's live page:\s+(\S+)", text)
        kafka = re.search(r"export KAFKA_BOOTSTRAP_SERVERS=(\S+)", text)
        assert chat_url, text
        assert live_url, text
        assert kafka, text
        environ = {
            k: v for k, v in os.environ.items() if not k.upper().startswith(("SIGNALR_BRIDGE", "KAFKA_"))
        }
        env = {**environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.group(1)}
        done("start the demo")

        # 2. Open the chat page and the bridge's live page: messages arrive, the route counts them.
        chat = await browser.open(chat_url.group(1))
        await browser.wait_for(text_contains("#connection", "connected"), chat)
        await browser.wait_for(text_contains("#messages li .text", "hello #"), chat)
        live = await browser.open(live_url.group(1))
        delivered = "#routes tr[data-key='chat-broadcast'] td.delivered"
        await browser.wait_for(f"parseInt(document.querySelector({delivered!r})?.textContent) > 0", live)
        await browser.wait_for(
            text_contains("#state", "ready") + " && !" + text_contains("#state", "not"), live
        )
        assert await browser.text("#endpoints td.up", live) == ["up"]
        # Lag is reported every 5 s: one row per partition of topic chat (and of chat-in).
        rows = " && ".join(f"document.querySelector('#lag tr[data-key=\"chat[{p}]\"]')" for p in range(3))
        await browser.wait_for(rows, live)
        done("open the pages")

        # 3. Produce your own record: it appears on the chat page.
        code, said = await run(produce_mine, env)
        assert code == 0, said
        assert said.startswith("produced 1 record to chat[")
        await browser.wait_for(text_contains("#messages li", "hello from Kafka"), chat)
        mine = await browser.evaluate(
            "[...document.querySelectorAll('#messages li')]"
            ".filter(li => li.textContent.includes('hello from Kafka'))"
            ".map(li => [li.querySelector('.user').textContent, li.querySelector('.text').textContent])",
            chat,
        )
        assert mine == [["you", "hello from Kafka"]]
        done("produce your own record, watch it arrive")

        # 4. Break a record on purpose and find it: on the live page, then with dlq show.
        code, said = await run(produce_broken, env)
        assert code == 0, said
        await browser.wait_for(text_contains("#failures td.reason", "decode_error"), live)
        await browser.wait_for(
            text_contains("#routes tr[data-key='chat-broadcast'] td.dead-lettered", "1"), live
        )
        code, shown = await run(dlq_show, env)
        assert code == 0, shown
        assert "  reason:  decode_error\n" in shown
        assert "  route:   chat-broadcast\n" in shown
        assert "  value:   not json  (text, not JSON)\n" in shown
        assert re.search(r"  bridge\.source\.topic\s+chat\n", shown)
        done("break a record, find it with dlq show")

        # 5. Write a route test and run it.
        (suite,) = readme_blocks("yaml")
        shutil.copy(REPO / "config" / "local.yaml", tmp_path / "local.yaml")
        target = tmp_path / "my-first.test.yaml"
        target.write_text(suite, encoding="utf-8")
        code, said = await run(
            [arg.replace("config/my-first.test.yaml", str(target)) for arg in route_test], env
        )
        assert code == 0, said
        assert said.splitlines()[-1] == "2 tests: 2 passed, 0 failed"
        done("write and run a route test")

        assert await browser.errors() == []
    assert output.process.returncode == 0, output.text[-3000:]
    assert "bridge stopped drained=true" in output.text
    print("\n".join(f"{step}: {seconds:.1f}s" for step, seconds in steps))
