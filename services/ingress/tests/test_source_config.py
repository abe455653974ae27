"""Sources file and secrets: fail closed at start, rotate without restart."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reflex_common.errors import ConfigError
from reflex_ingress.sources.config import SourceConfig, load_sources
from reflex_ingress.sources.registry import build_source, build_sources
from reflex_ingress.sources.secrets import Secret

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("sources:\n  - {name: a, kind: nope, secrets: [x]}\n", "unknown kind 'nope'"),
        ("sources:\n  - {name: a, kind: github}\n", "needs at least one secret"),
        ("sources:\n  - {name: a, kind: github, secrets: ['env:REFLEX_TEST_UNSET_VAR']}\n", "REFLEX_TEST_UNSET_VAR"),
        ("sources:\n  - {name: a, kind: github, secrets: ['file:/nonexistent/secret']}\n", "cannot read"),
        ("sources:\n  - {name: A!, kind: github, secrets: [x]}\n", "sources.0.name"),
        ("sources:\n  - {name: a, kind: github, secrets: [x], colour: red}\n", "colour"),
        (
            "sources:\n  - {name: a, kind: github, secrets: [x]}\n  - {name: a, kind: github, secrets: [y]}\n",
            "duplicate source names: a",
        ),
        ("sources: [", "not valid YAML"),
    ],
)
def test_configuration_errors_stop_the_service_with_a_clear_message(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    os.environ.pop("REFLEX_TEST_UNSET_VAR", None)
    with pytest.raises(ConfigError, match=message):
        build_sources(load_sources(write(tmp_path, yaml_text)))


def test_none_kind_needs_no_secret_but_must_be_named(tmp_path: Path) -> None:
    sources = build_sources(load_sources(write(tmp_path, "sources:\n  - {name: open, kind: none}\n")))
    assert sources["open"].kind == "none"


def test_secrets_resolve_from_literal_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLEX_TEST_SECRET", "from-env")
    path = tmp_path / "s"
    path.write_text("from-file\n")
    assert Secret.resolve(0, "literal", None, "x").value == b"literal"
    assert Secret.resolve(1, "env:REFLEX_TEST_SECRET", None, "x").value == b"from-env"
    assert Secret.resolve(2, f"file:{path}", None, "x").value == b"from-file"


def test_file_secret_is_reread_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_text("old")
    secret = Secret.resolve(0, f"file:{path}", None, "x")
    assert secret.value == b"old"
    path.write_text("new")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    secret._checked_at = -10.0  # skip the once-a-second stat throttle
    assert secret.value == b"new"


def test_expired_secrets_stop_matching(tmp_path: Path) -> None:
    yaml_text = (
        "sources:\n  - name: a\n    kind: github\n    secrets:\n"
        f"      - {{value: old, not_after: '{(NOW - timedelta(days=1)).isoformat()}'}}\n"
        "      - new\n"
    )
    source = build_sources(load_sources(write(tmp_path, yaml_text)))["a"]
    ring = source.verifier.ring  # type: ignore[attr-defined]
    assert [i for i, _ in ring.active(NOW)] == [1]
    assert [i for i, _ in ring.active(NOW - timedelta(days=2))] == [0, 1]


@pytest.mark.parametrize("how", ["delete", "empty"])
def test_a_file_secret_is_revoked_when_its_file_goes_away(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflex_ingress.sources import secrets

    path = tmp_path / "s"
    path.write_text("compromised\n")
    secret = Secret.resolve(0, f"file:{path}", None, "x")
    clock = [1000.0]
    monkeypatch.setattr(secrets.time, "monotonic", lambda: clock[0])
    path.unlink() if how == "delete" else path.write_text("")
    clock[0] += 2
    assert secret.value == b"compromised"  # within the grace: maybe a rotation in progress
    clock[0] += secrets.REVOKE_AFTER_S
    assert secret.value == b""
    ring = secrets.SecretRing([secret])
    assert ring.active(NOW) == []  # an empty secret never matches


def test_a_rewrite_within_the_same_mtime_is_still_noticed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reflex_ingress.sources import secrets

    path = tmp_path / "s"
    path.write_text("0123456789abcdef")
    secret = Secret.resolve(0, f"file:{path}", None, "x")
    mtime = path.stat().st_mtime_ns
    clock = [1000.0]
    monkeypatch.setattr(secrets.time, "monotonic", lambda: clock[0])
    path.write_text("n")  # a torn write, read as it is
    os.utime(path, ns=(mtime, mtime))
    clock[0] += 2
    assert secret.value == b"n"
    path.write_text("new-secret-0123456789")  # completed within the same mtime tick
    os.utime(path, ns=(mtime, mtime))
    clock[0] += 2
    assert secret.value == b"new-secret-0123456789"


def test_a_yaml_syntax_error_names_line_and_column_but_never_the_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text('sources:\n  - name: gh\n    kind: github\n    secrets: ["hunter2-literal-secret"\n')
    with pytest.raises(ConfigError) as caught:
        load_sources(path)
    message = str(caught.value)
    assert "line" in message and "column" in message
    assert "hunter2" not in message  # before: the offending line, secret and all


@pytest.mark.parametrize("options", [{"delivery_key_headr": "X-Id"}, {"sends_json": "no"}, {"delivery_key_header": 5}])
def test_kind_none_validates_its_options_like_every_kind(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="bad options"):
        build_source(SourceConfig(name="open", kind="none", options=options))
