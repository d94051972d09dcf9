"""The `openllm-bot` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from dotenv import load_dotenv

from knowledge import KnowledgeBase, KnowledgeError
from knowledge.evaluation import evaluate, format_report, load_cases

from .faq_source import Source
from .plaintext import result_text


def load_kb(faq_dir: str | None = None) -> KnowledgeBase:
    """The knowledge base named by the arguments or environment; exits 1 listing every problem."""
    source = Source.from_env(faq_dir)
    try:
        return source.load()
    except KnowledgeError as exc:
        print(f"openllm-bot: the FAQ in {source.faq_dir} is invalid ({len(exc.problems)} problems):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_ask(args: argparse.Namespace) -> int:
    kb = load_kb(args.faq)
    if args.question is None:
        # One question a line, one JSON object a line: how evaluations drive the bot in one process.
        for line in sys.stdin:
            result = kb.ask(line.rstrip("\n"), explain=args.explain)
            payload = result.to_json()
            if args.explain:
                payload["explain"] = list(result.explanation)
            print(json.dumps(payload, ensure_ascii=False), flush=True)
        return 0
    result = kb.ask(args.question, explain=args.explain)
    if args.json:
        payload = result.to_json()
        if args.explain:
            payload["explain"] = list(result.explanation)
        print(json.dumps(payload, ensure_ascii=False))
    else:
        print(result_text(kb, result))
        if args.explain:
            print("\nWhy:")
            print("\n".join(f"  {line}" for line in result.explanation))
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    kb = load_kb(args.faq)
    for tag, entries in kb.knowledge.by_tag().items():
        print(f"{tag}: " + ", ".join(e.id for e in entries))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    kb = load_kb(args.dir)
    knowledge = kb.knowledge
    quotes = sum(len(e.sources) for e in knowledge.entries)
    print(f"ok: {len(knowledge)} entries, {quotes} quotes verified in {len(knowledge.documents)} documents")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    kb = load_kb(args.faq)
    tallies = evaluate(load_cases(args.file), kb.ask)
    print(format_report(tallies, show_failures=not args.quiet))
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    from knowledge.coverage import coverage, format_coverage

    print(format_coverage(coverage(load_kb(args.faq).knowledge), show_uncited=not args.summary))
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    from .console import run_console

    return run_console(load_kb(args.faq), sys.stdin, sys.stdout)


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    return serve(args.mode, load_kb(args.faq), args.faq)


def cmd_run(args: argparse.Namespace) -> int:
    """Slack when credentials are configured, else the local console."""
    if os.environ.get("SLACK_BOT_TOKEN"):
        args.mode = "socket" if os.environ.get("SLACK_APP_TOKEN") else "http"
        return cmd_serve(args)
    return cmd_console(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openllm-bot", description=__doc__)
    parser.add_argument("--faq", metavar="DIR", help="knowledge folder (default: $KNOWLEDGE_DIR or the shipped FAQ)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ask = sub.add_parser("ask", help="answer a question (or one per line from stdin, as JSON)")
    ask.add_argument("question", nargs="?", help="the question; omit to read one per line from stdin")
    ask.add_argument("--json", action="store_true", help="print the match as JSON")
    ask.add_argument("--explain", action="store_true", help="show why the entry won")
    ask.set_defaults(func=cmd_ask)

    sub.add_parser("topics", help="list the entries by tag").set_defaults(func=cmd_topics)

    validate = sub.add_parser("validate", help="check a knowledge folder; exit 1 listing every error")
    validate.add_argument("dir", nargs="?", help="knowledge folder (default: the shipped FAQ)")
    validate.set_defaults(func=cmd_validate)

    ev = sub.add_parser("eval", help="run an evaluation set and print its figures")
    ev.add_argument("file", help="evaluation YAML (format of shared/eval/dev.yaml)")
    ev.add_argument("--quiet", action="store_true", help="figures only, without the failing cases")
    ev.set_defaults(func=cmd_eval)

    cov = sub.add_parser("coverage", help="which paragraphs of each document the FAQ cites")
    cov.add_argument("--summary", action="store_true", help="percentages only, without the uncited paragraphs")
    cov.set_defaults(func=cmd_coverage)

    sub.add_parser("console", help="an interactive console that answers like the bot").set_defaults(func=cmd_console)

    serve = sub.add_parser("serve", help="serve Slack")
    mode = serve.add_mutually_exclusive_group(required=True)
    mode.add_argument("--socket", dest="mode", action="store_const", const="socket", help="Socket Mode")
    mode.add_argument("--http", dest="mode", action="store_const", const="http", help="HTTP mode on $PORT")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("run", help="serve Slack if configured, else the local console").set_defaults(func=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    load_dotenv(os.environ.get("DOTENV_PATH", ".env"))
    args = build_parser().parse_args(argv)
    return args.func(args)
