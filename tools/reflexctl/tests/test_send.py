"""`reflexctl send`: argument handling, exit codes and what reaches the transport (a fake: no server)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

import pytest

from reflexctl.__main__ import build_parser, main
from reflexctl.send import run


class FakeTransport:
    """Records what would have been POSTed and answers a fixed status."""

    def __init__(self, status: int = 202, body: bytes = b'{"id":"e1"}', error: OSError | None = None) -> None:
        self.status, self.body, self.error = status, body, error
        self.calls: list[tuple[str, dict[str, str], bytes, float]] = []

    def __call__(self, url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> tuple[int, bytes]:
        self.calls.append((url, dict(headers), body, timeout_s))
        if self.error is not None:
            raise self.error
        return self.status, self.body


def send(argv: list[str], transport: FakeTransport) -> int:
    return run(build_parser().parse_args(["send", *argv]), transport=transport)


URL = "http://localhost:8080/api/v1/events/gh"


def test_posts_a_signed_body_and_prints_the_answer(capsys):
    transport = FakeTransport()
    code = send(
        ["--kind", "github", "--url", URL, "--secret", "s3", "--body", '{"zen":"hi"}', "--event", "push"], transport
    )
    assert code == 0
    url, headers, body, _ = transport.calls[0]
    assert (url, body, headers["X-GitHub-Event"]) == (URL, b'{"zen":"hi"}', "push")
    assert headers["X-Hub-Signature-256"] == "sha256=" + hmac.new(b"s3", body, hashlib.sha256).hexdigest()
    assert capsys.readouterr().out == '202\n{"id":"e1"}\n'


def test_secret_from_env_or_file_and_body_from_file(monkeypatch, tmp_path):
    monkeypatch.setenv("GH_SECRET", "from-env")
    (tmp_path / "secret").write_text("from-file\n")
    (tmp_path / "body.json").write_bytes(b'{"a": 1}\n')
    for ref, key in (("env:GH_SECRET", b"from-env"), (f"file:{tmp_path / 'secret'}", b"from-file")):
        transport = FakeTransport()
        assert (
            send(["--kind", "github", "--url", URL, "--secret", ref, "--body", f"@{tmp_path / 'body.json'}"], transport)
            == 0
        )
        _, headers, body, _ = transport.calls[0]
        assert body == b'{"a": 1}\n'
        assert headers["X-Hub-Signature-256"] == "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def test_default_body_is_a_sample_event():
    transport = FakeTransport()
    argv = ["--kind", "stripe", "--url", URL, "--secret", "whsec_x", "--event", "charge.succeeded"]
    assert send(argv, transport) == 0
    payload = json.loads(transport.calls[0][2])
    assert payload["type"] == "charge.succeeded" and payload["id"]


def test_kind_options_and_signed_url(capsys):
    transport = FakeTransport()
    url = "https://example.com/api/v1/events/sms"
    assert send(["--kind", "twilio", "--url", url, "--secret", "tok", "--option", "json=true"], transport) == 0
    assert transport.calls[0][0].startswith(url + "?bodySHA256=")


@pytest.mark.parametrize("status", [400, 401, 429, 503])
def test_non_2xx_exits_1(status, capsys):
    assert send(["--kind", "github", "--url", URL, "--secret", "s"], FakeTransport(status, b'{"error":"x"}')) == 1
    assert capsys.readouterr().out.startswith(f"{status}\n")


def test_transport_failure_exits_1(capsys):
    refused = FakeTransport(error=ConnectionRefusedError(111, "x"))
    code = send(["--kind", "github", "--url", URL, "--secret", "s"], refused)
    assert code == 1
    assert "no answer" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--body", "{not json"],
        ["--body", "@/nonexistent/body.json"],
        ["--secret", "env:REFLEXCTL_TEST_UNSET"],
        ["--option", "novalue"],
    ],
)
def test_bad_input_exits_2_without_sending(argv, capsys):
    transport = FakeTransport()
    base = {"--kind": "github", "--url": URL, "--secret": "s"}
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        base[flag] = value
    assert send([x for pair in base.items() for x in pair], transport) == 2
    assert transport.calls == []
    assert "reflexctl send:" in capsys.readouterr().err


def test_secret_is_never_printed(capsys):
    send(["--kind", "gitlab", "--url", URL, "--secret", "super-secret-token"], FakeTransport(401, b"{}"))
    captured = capsys.readouterr()
    assert "super-secret-token" not in captured.out + captured.err


def test_main_has_subcommands_and_rejects_unknown_kinds(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["send", "--kind", "carrier-pigeon", "--url", URL, "--secret", "s"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit):
        main([])
    assert "send" in build_parser().format_help()


def test_a_header_value_http_cannot_carry_is_a_one_line_error(capsys):
    from reflexctl.__main__ import main

    code = main(
        [
            "send",
            "--kind",
            "github",
            "--url",
            "http://127.0.0.1:9/api/v1/events/x",
            "--secret",
            "s",
            "--event",
            "push→event",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("reflexctl send: cannot send this request:") and err.count("\n") == 1
