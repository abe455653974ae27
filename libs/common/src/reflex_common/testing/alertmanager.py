"""A real Alertmanager for tests (Debian's `prometheus-alertmanager`), never a mock of it.

`start_alertmanager_process()` runs one on a free loopback port with its own configuration and
data directory, clustering off, optionally notifying a webhook (with resolved notifications) so a
test sees what on-call would be sent. `find_alertmanager()` finds the binary, installing the Debian
package once when it is missing and we are root with apt-get (as the deploy tests fetch their
pinned validators on first use); otherwise it raises MissingBinaryError naming what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from reflex_common.testing.servers import MissingBinaryError, ServerProcess, free_port

PACKAGE = "prometheus-alertmanager"
_BINARIES = ("prometheus-alertmanager", "alertmanager")
_INSTALL_TIMEOUT_S = 600


def _which() -> str | None:
    return next((path for name in _BINARIES if (path := shutil.which(name))), None)


def find_alertmanager(install: bool = True) -> str:
    if found := _which():
        return found
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install_cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE]
        for argv in (install_cmd, ["apt-get", "update", "-qq"], install_cmd):
            subprocess.run(argv, env=env, capture_output=True, timeout=_INSTALL_TIMEOUT_S, check=False)
            if found := _which():
                return found
    raise MissingBinaryError(
        f"no Alertmanager binary on PATH ({' or '.join(_BINARIES)}): apt-get install {PACKAGE}"
        + ("" if os.geteuid() == 0 else " (as root; the tests install it themselves when run as root)")
    )


class AlertmanagerProcess(ServerProcess):
    name = "alertmanager"

    def __init__(self, binary: str, base_dir: Path, port: int, webhook_url: str | None) -> None:
        super().__init__(base_dir, port)
        self._binary = binary
        (base_dir / "data").mkdir(exist_ok=True)
        (base_dir / "alertmanager.yml").write_text(_config(webhook_url))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        return [
            self._binary,
            f"--config.file={self.base_dir / 'alertmanager.yml'}",
            f"--storage.path={self.base_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # no gossip port: a lone, private instance
            "--log.level=warn",
        ]

    def _accepts_connections(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def _config(webhook_url: str | None) -> str:
    receiver = "  - name: hook\n"
    if webhook_url:
        receiver += f"    webhook_configs:\n      - url: {webhook_url}\n        send_resolved: true\n"
    # Notify fast (tests), group per alert, and never repeat within a test.
    return (
        "route:\n"
        "  receiver: hook\n"
        "  group_by: [alertname, source, type, kind]\n"
        "  group_wait: 100ms\n"
        "  group_interval: 500ms\n"
        "  repeat_interval: 1h\n"
        f"receivers:\n{receiver}"
    )


def start_alertmanager_process(webhook_url: str | None = None) -> AlertmanagerProcess:
    """A running Alertmanager; the caller must close() it (or use it as a context manager)."""
    binary = find_alertmanager()
    process = AlertmanagerProcess(binary, Path(tempfile.mkdtemp(prefix="reflex-am-")), free_port(), webhook_url)
    try:
        process.start()
    except BaseException:
        process.close()
        raise
    return process
