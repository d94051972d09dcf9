"""`python -m bot`: the command line (bot/cli.py). For the commands that serve Slack, SIGHUP is ignored from the
first moment: it means "reload the FAQ" once the bot serves (bot/serve.py), but by default it ends a process, and
loading the modules and the FAQ takes seconds before then. Ctrl-C in those seconds ends it with 130 and nothing
said, whatever a library turned it into (bot/interrupt.py)."""

import signal
import sys

from . import interrupt

SERVING = {"serve", "run"}


def main() -> int:
    interrupt.watch()
    if SERVING & set(sys.argv[1:]):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        from .cli import main as cli

        return cli()
    except BaseException:
        if interrupt.came():  # whatever Ctrl-C was turned into while starting: it ends as quietly as Ctrl-C
            return 130
        raise


if __name__ == "__main__":
    raise SystemExit(main())
