"""The docs hold: every YAML example parses (config examples load as configs), every link and
path they name is in the repository, and none points outside it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.config import load_config_text
from bridge.routing import compile_routes
from bridge.routing.route_tests import run_test_file

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted(
    REPO / name
    for name in subprocess.run(
        ["git", "ls-files", "*.md"], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout.split()
)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
RELATIVE_PATH = re.compile(r"(?<![\w/.])\.\./[\w./-]*")
# `bridge/...`, `config/...` and the like in backticks: files the docs name (but not those they ask
# the reader to write).
TO_BE_WRITTEN = {"config/my-first.test.yaml"}
NAMED_PATH = re.compile(r"`((?:bridge|config|deploy|tests|bench|\.ci)/[\w./-]+)`")


def _blocks(doc: Path, language: str) -> list[tuple[int, str]]:
    text = doc.read_text(encoding="utf-8")
    return [
        (text[: m.start()].count("\n") + 2, m.group(2))
        for m in FENCE.finditer(text)
        if m.group(1) == language
    ]


YAML_BLOCKS = [(doc, line, body) for doc in DOCS for line, body in _blocks(doc, "yaml")]


def test_the_docs_are_found() -> None:
    names = {doc.relative_to(REPO).as_posix() for doc in DOCS}
    assert {"README.md", "config/README.md", "deploy/README.md"} <= names
    assert len(YAML_BLOCKS) >= 5


@pytest.mark.parametrize(
    ("doc", "line", "body"), YAML_BLOCKS, ids=[f"{d.relative_to(REPO)}:{n}" for d, n, _ in YAML_BLOCKS]
)
def test_every_yaml_example_parses(doc: Path, line: int, body: str, tmp_path: Path) -> None:
    try:
        data = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        pytest.fail(f"{doc.relative_to(REPO)}:{line}: {exc}")
    # A route test must pass against the example config it names.
    if isinstance(data, dict) and {"config", "tests"} <= data.keys():
        shutil.copy(REPO / "config" / data["config"], tmp_path / data["config"])
        (tmp_path / "example.test.yaml").write_text(body, encoding="utf-8")
        result = run_test_file(tmp_path / "example.test.yaml")
        assert [case.diff for case in result.cases if not case.passed] == []
    # A whole config (or a chart's `config` value) must also be one the bridge accepts.
    config = _config_in(data)
    if config is not None:
        loaded = load_config_text(
            yaml.safe_dump(config), file=f"{doc.name}:{line}", environ={}, strict_env=False
        )
        compile_routes(loaded)


def _config_in(data: Any) -> Any:
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]
    if isinstance(data, dict) and {"kafka", "signalr", "routes"} <= data.keys():
        return data
    return None


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_every_link_and_relative_path_stays_in_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    targets = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:|#", t)]
    targets += RELATIVE_PATH.findall(text)
    for target in targets:
        path = (doc.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(REPO), f"{doc.relative_to(REPO)}: {target} is outside the repository"
        assert path.exists(), f"{doc.relative_to(REPO)}: {target} does not exist"


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_every_file_the_docs_name_exists(doc: Path) -> None:
    for name in NAMED_PATH.findall(doc.read_text(encoding="utf-8")):
        if "*" in name or "<" in name or name in TO_BE_WRITTEN:
            continue  # a pattern, or the reader's own file
        assert (REPO / name).exists() or (doc.parent / name).exists(), f"{doc.relative_to(REPO)}: `{name}`"


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_every_markdown_file_the_docs_mention_is_in_the_repository(doc: Path) -> None:
    # A spec kept somewhere else (SIGNALR.md beside the repository, say) is no use to a reader.
    tracked = {path.name for path in DOCS}
    text = re.sub(r"https?://\S+", "", doc.read_text(encoding="utf-8"))
    mentioned = set(re.findall(r"\b[\w-]+\.md\b", text))
    assert mentioned <= tracked, (
        f"{doc.relative_to(REPO)}: {sorted(mentioned - tracked)} are not in the repository"
    )


def test_a_broken_example_would_be_caught() -> None:
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load("sasl: {password: ${KAFKA_SASL_PASSWORD}}")
