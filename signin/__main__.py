"""``python -m signin``: the bridge on waitress, settings from ``SIGNIN_*`` (signin/settings.py)."""

from __future__ import annotations

import logging
import os
import sys

from waitress import serve

from signin.app import create_app
from signin.settings import SettingsProblem, from_environment

PORT = 8080


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = from_environment()
    except SettingsProblem as err:
        print(f"signin: cannot start: {err}", file=sys.stderr)
        return 2
    serve(create_app(settings), host=os.environ.get("SIGNIN_LISTEN", "0.0.0.0"), port=PORT)  # noqa: S104
    return 0


if __name__ == "__main__":
    sys.exit(main())
