"""The demo sources of `make run` and what it prints once the pipeline is up.

The demo secret is never printed: it is read from the variable DEMO_WEBHOOK_SECRET when that is set,
else from .run/demo-secret (made on first use, mode 0600, random), and the printed lines name the
variable or the file. Two sources share it: `demo` (kind github, HMAC-signed, for `reflexctl send`)
and `demo-token` (kind token, a bearer token, so that a curl line needs nothing but curl and the
shell).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

DEMO_SECRET_VAR = "DEMO_WEBHOOK_SECRET"


@dataclass(frozen=True, slots=True)
class DemoSecret:
    ref: str  # the secret reference in sources.yaml and for `reflexctl send --secret`
    shell_prelude: str  # what a shell line runs first to have the secret in a variable
    shell_value: str  # the secret as the shell line expands it
    where: str  # for the reader: where the secret is kept


def demo_secret(run_dir: Path) -> DemoSecret:
    """DEMO_WEBHOOK_SECRET when set, else the file `run_dir`/demo-secret, made (random, 0600) if missing."""
    if os.environ.get(DEMO_SECRET_VAR):
        return DemoSecret(f"env:{DEMO_SECRET_VAR}", "", f"${DEMO_SECRET_VAR}", f"the variable {DEMO_SECRET_VAR}")
    path = run_dir / "demo-secret"
    if not path.exists():
        run_dir.mkdir(exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24))
    return DemoSecret(f"file:{path}", f"read -r secret < {shlex.quote(str(path))}; ", "$secret", f"the file {path}")


def sources_yaml(secret: DemoSecret) -> str:
    return f"""\
sources:
  - name: demo
    kind: github
    secrets: [{json.dumps(secret.ref)}]
  - name: demo-token
    kind: token
    secrets: [{json.dumps(secret.ref)}]
    options: {{header: Authorization, prefix: "Bearer ", delivery_key_header: X-Delivery}}
"""


def curl_line(base_url: str, secret: DemoSecret) -> str:
    """A webhook to `demo-token` with only curl and the shell; a new delivery key each time ($RANDOM)."""
    return (
        f"{secret.shell_prelude}curl -i -X POST {base_url}/api/v1/events/demo-token "
        f'-H "Authorization: Bearer {secret.shell_value}" -H "X-Delivery: demo-$$-$RANDOM" '
        "-H 'Content-Type: application/json' --data '{\"action\":\"opened\"}'"
    )


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    metrics_url: str
    webhooks_url: str | None = None


def instructions(
    *,
    base_url: str,
    secret: DemoSecret,
    custom_sources: bool,
    endpoints: list[Endpoint],
    redis_url: str,
    database_url: str,
    key_prefix: str,
    psql: str,
) -> list[str]:
    """The lines printed once every service is ready."""
    width = max(len(e.name) for e in endpoints)
    query = "SELECT source, type, received_at FROM events ORDER BY received_at DESC LIMIT 10"
    exports = " ".join(
        f"{name}={shlex.quote(value)}"
        for name, value in (("REDIS_URL", redis_url), ("DATABASE_URL", database_url), ("KEY_PREFIX", key_prefix))
    )
    lines = ["", f"run_pipeline: the pipeline is up; webhooks go to {base_url}/api/v1/events/<source>"]
    for e in endpoints:
        extra = f"   webhooks {e.webhooks_url}" if e.webhooks_url else ""
        lines.append(f"  {e.name:<{width}}  metrics {e.metrics_url}{extra}")
    if custom_sources:
        lines.append("Your SOURCES_FILE is in use: the lines below work if it has the demo sources.")
    lines += [
        f"Send a test event (the secret is in {secret.where}):",
        f"  {curl_line(base_url, secret)}",
        "or a GitHub-signed one:",
        f"  uv run reflexctl send --kind github --url {base_url}/api/v1/events/demo --secret {shlex.quote(secret.ref)}",
        "Point reflexctl and psql at this pipeline:",
        f"  export {exports}",
        "  uv run reflexctl status",
        f'  {shlex.quote(psql)} "$DATABASE_URL" -c {shlex.quote(query)}',
        "Ctrl-C stops everything.",
        "",
    ]
    return lines
