"""faust's data directory: inside $FAUST_DATADIR when set (the chart's writable volume), removed on stop."""

from __future__ import annotations

import asyncio
import stat
import tempfile
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.config import load_config_text
from bridge.observability.health import HealthState
from bridge.observability.metrics import BridgeMetrics
from bridge.pipeline.service import BridgeService

pytestmark = pytest.mark.unit

CONFIG = """
kafka: {bootstrap_servers: "127.0.0.1:9092"}
signalr: {hub: h, connection_string: "Endpoint=http://127.0.0.1;Port=1;AccessKey=k123456789012345678901234567890;Version=1.0;"}
routes:
  - name: r
    topics: [t]
    actions:
      - send: {target: m, all: true}
"""


def _service() -> BridgeService:
    metrics = BridgeMetrics(process_metrics=False)
    return BridgeService(load_config_text(CONFIG).config, metrics=metrics, health=HealthState(metrics))


def test_faust_data_dir_lives_in_faust_datadir_and_goes_on_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "kept.txt").write_text("another process's file")
    monkeypatch.setenv("FAUST_DATADIR", str(volume))
    service = _service()
    datadir = Path(service.app.conf.datadir)
    assert datadir.parent == volume
    assert datadir.is_dir()
    asyncio.run(service.stop())
    assert not datadir.exists()
    assert sorted(p.name for p in volume.iterdir()) == ["kept.txt"]  # only its own directory went


def test_without_faust_datadir_the_system_temp_dir_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAUST_DATADIR", raising=False)
    service = _service()
    datadir = Path(service.app.conf.datadir)
    try:
        assert datadir.parent == Path(tempfile.gettempdir())
    finally:
        asyncio.run(service.stop())
    assert not datadir.exists()


def test_check_refuses_a_faust_datadir_that_is_not_a_writable_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(CONFIG)
    missing = tmp_path / "not-mounted"
    monkeypatch.setenv("FAUST_DATADIR", str(missing))
    assert main(["check", "--config", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"environment variable FAUST_DATADIR: {missing} is not a writable directory\n"
    )
    missing.mkdir()
    missing.chmod(stat.S_IRWXU)
    assert main(["check", "--config", str(path)]) == 0
