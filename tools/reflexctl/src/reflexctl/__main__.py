"""`reflexctl`: the on-call CLI. One subcommand per module; each registers its own parser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reflexctl import anomalies, breaker, dlq, migrate, send, status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reflexctl", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    send.add_parser(subcommands)
    status.add_parser(subcommands)
    dlq.add_parser(subcommands)
    breaker.add_parser(subcommands)
    migrate.add_parser(subcommands)
    anomalies.add_parser(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
