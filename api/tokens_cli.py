"""`warmnet token new NAME ROLE` / `warmnet token hash` (also `python -m api.tokens_cli`).

`new` prints a fresh token (give it to its owner; it is shown once) and the
`name:role:sha256` entry for `WARMNET_API_TOKENS` or the tokens file. `hash` reads a
token from stdin (not the command line: shell history) and prints its hash.
"""

import argparse
import sys
from collections.abc import Sequence

from api.auth import Role, TokenConfigError, hash_token, new_token


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `token` sub-commands, for `warmnet token` and for this module."""
    actions = parser.add_subparsers(dest="token_action", required=True)
    new = actions.add_parser("new", help="make a token; prints it and its config entry")
    new.add_argument("name", help="who holds it (recorded as `who` of their actions)")
    new.add_argument("role", choices=[r.value for r in Role])
    actions.add_parser("hash", help="hash a token read from stdin")


def run(args: argparse.Namespace) -> int:
    if args.token_action == "new":
        try:
            token, entry = new_token(args.name, args.role)
        except TokenConfigError as exc:
            sys.stderr.write(f"{exc}\n")
            return 2
        sys.stdout.write(
            f"token for {args.name} (shown once, give it to them):\n  {token}\n"
            f"entry for WARMNET_API_TOKENS or the tokens file:\n  {entry}\n"
        )
        return 0
    token = sys.stdin.readline().strip()
    if not token:
        sys.stderr.write("no token on stdin\n")
        return 2
    sys.stdout.write(hash_token(token) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="warmnet token", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
