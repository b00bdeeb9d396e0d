"""Entry point of `noduleseg-segment` (not yet implemented: its issue is open)."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("noduleseg-segment: not yet implemented", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
