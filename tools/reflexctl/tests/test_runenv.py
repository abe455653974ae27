"""reflexctl next to a local pipeline: variables from the environment, else from the `.run/env` that
`make run` leaves (found from any folder below it); `send --secret env:VAR` and the Redis commands both."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path

import pytest
import redis

from reflex_common.keys import PROCESSOR_GROUP, Keys
from reflexctl.__main__ import build_parser, main
from reflexctl.runenv import find_run_env, lookup, read_run_env
from reflexctl.send import run as send_run

URL = "http://127.0.0.1:8080/api/v1/events/demo"


@pytest.fixture
def pipeline_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository folder whose .run/env names things, entered from a subfolder; nothing exported."""
    for name in ("REDIS_URL", "KEY_PREFIX", "DATABASE_URL", "DEMO_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".run").mkdir()
    inner = tmp_path / "services" / "ingress"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    return tmp_path


def test_run_env_lines_with_export_quotes_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text(
        "# written by make run\nexport REDIS_URL=redis://127.0.0.1:7001/0\n"
        "DATABASE_URL='postgresql://postgres@127.0.0.1:7002/postgres'  # its own server\n"
        'export KEY_PREFIX=reflex DEMO_WEBHOOK_SECRET="a b"\n\n'
    )
    assert read_run_env(path) == {
        "REDIS_URL": "redis://127.0.0.1:7001/0",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:7002/postgres",
        "KEY_PREFIX": "reflex",
        "DEMO_WEBHOOK_SECRET": "a b",
    }


def test_the_environment_wins_over_run_env(pipeline_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (pipeline_dir / ".run" / "env").write_text("KEY_PREFIX=from-file\n")
    assert find_run_env() == pipeline_dir / ".run" / "env"
    found = lookup("KEY_PREFIX")
    assert found is not None and (found.value, found.where) == ("from-file", str(pipeline_dir / ".run" / "env"))
    monkeypatch.setenv("KEY_PREFIX", "from-env")
    found = lookup("KEY_PREFIX")
    assert found is not None and (found.value, found.where) == ("from-env", "the environment")
    assert lookup("NOT_THERE_ANYWHERE") is None


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], bytes]] = []

    def __call__(self, url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> tuple[int, bytes]:
        self.calls.append((url, dict(headers), body))
        return 202, b'{"id":"e1"}'


def test_send_reads_an_env_secret_from_run_env_when_the_variable_is_unset(pipeline_dir: Path) -> None:
    (pipeline_dir / ".run" / "env").write_text("export DEMO_WEBHOOK_SECRET=dev-secret\n")
    transport = Recorder()
    args = build_parser().parse_args(["send", "--kind", "github", "--url", URL, "--secret", "env:DEMO_WEBHOOK_SECRET"])
    assert send_run(args, transport=transport) == 0
    _, headers, body = transport.calls[0]
    assert headers["X-Hub-Signature-256"] == "sha256=" + hmac.new(b"dev-secret", body, hashlib.sha256).hexdigest()


def test_send_says_where_it_looked_for_a_missing_env_secret(
    pipeline_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transport = Recorder()
    args = build_parser().parse_args(["send", "--kind", "github", "--url", URL, "--secret", "env:DEMO_WEBHOOK_SECRET"])
    assert send_run(args, transport=transport) == 2
    error = capsys.readouterr().err
    assert "DEMO_WEBHOOK_SECRET is set neither in the environment nor in .run/env" in error and "file:PATH" in error
    assert transport.calls == []


def test_status_finds_the_pipeline_through_run_env_and_says_so(
    pipeline_dir: Path, redis_url: str, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = Keys(key_prefix)
    r = redis.Redis.from_url(redis_url)
    r.xgroup_create(keys.raw_stream, PROCESSOR_GROUP, id="0", mkstream=True)
    r.xadd(keys.raw_stream, {"a": "1"})
    r.close()
    (pipeline_dir / ".run" / "env").write_text(f"export REDIS_URL={redis_url} KEY_PREFIX={key_prefix}\n")
    assert main(["status"]) == 0
    captured = capsys.readouterr()
    assert any(line.startswith(keys.raw_stream) for line in captured.out.splitlines())
    assert f"REDIS_URL from {pipeline_dir / '.run' / 'env'}" in captured.err
    assert f"KEY_PREFIX from {pipeline_dir / '.run' / 'env'}" in captured.err
