"""`python -m bot`: the command line (bot/cli.py). For the commands that serve Slack, SIGHUP is ignored from the
first moment: it means "reload the FAQ" once the bot serves (bot/serve.py), but by default it ends a process, and
loading the modules and the FAQ takes seconds before then."""

import signal
import sys

SERVING = {"serve", "run"}


def main() -> int:
    if SERVING & set(sys.argv[1:]):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from .cli import main as cli

    return cli()


if __name__ == "__main__":
    raise SystemExit(main())
