"""`python -m console.config --env-example`: print `.env.example` as the settings model says."""

from __future__ import annotations

import sys

from console.config import Settings
from console.config.env_example import env_example


def main(argv: list[str]) -> int:
    if argv != ["--env-example"]:
        print("usage: python -m console.config --env-example > .env.example", file=sys.stderr)
        return 2
    sys.stdout.write(env_example(Settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
