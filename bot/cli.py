"""The `openllm-bot` command line."""

from __future__ import annotations

# Ctrl-C while the modules load (a second or more) ends as quietly as at any other moment of start-up.
try:
    import argparse
    import errno
    import io
    import json
    import os
    import sys
    import traceback
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from functools import partial
    from pathlib import Path
    from typing import TYPE_CHECKING, Literal, TypeVar

    from dotenv import load_dotenv

    from knowledge import KnowledgeBase, KnowledgeError, Problem
    from knowledge.decision.embedding import EmbeddingError
    from knowledge.decision.evaluation import EvalSetError, evaluate, format_report, load_cases

    from . import interrupt
    from .config import ConfigError, FaqSettings, Mode, Settings, StoreSettings
    from .plaintext import result_text
except KeyboardInterrupt:
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from knowledge.content.written import Written
    from knowledge.decision.calibration import Calibration
    from knowledge.decision.decide import Policy

    from .digest import Schedule
    from .recorder import Recorder
    from .store import QuestionRecord, Store, TaughtRecord, WrittenRecord


FORMATS = ("text", "csv", "html")
T = TypeVar("T")


class OutputClosed(OSError):
    """Standard output was closed when the command started (`openllm-bot report >&-`)."""


class _ClosedOutput(io.TextIOBase):
    """Standard output when there is none: writing to it is an error said in one line, not a traceback."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OutputClosed(errno.EBADF, "standard output is closed")


def load_kb(faq: FaqSettings, policy: Policy | None = None) -> KnowledgeBase:
    """The knowledge base `faq` names; exits 1 listing every problem, or saying in one line why the embedding model
    (or anything else) could not be loaded."""
    try:
        return faq.load(policy)
    except EmbeddingError as exc:  # the model or its tokenizer: one file, one line
        problems: Sequence[Problem] = getattr(exc, "problems", None) or []
        said = "; ".join(f"{p.file}: {p.reason}" for p in problems) if problems else _first_line(exc)
        raise SystemExit(f"openllm-bot: {said}") from None
    except KnowledgeError as exc:
        print(f"openllm-bot: {invalid_files(exc)}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception as exc:  # a damaged tokenizer.json and the like: refused all the same, in one line
        if os.environ.get("LOG_LEVEL", "").strip().upper() == "DEBUG":
            traceback.print_exc()
        raise SystemExit(f"openllm-bot: cannot load the FAQ from {faq.faq_dir} and its embedding model: "
                         f"{exc.__class__.__name__}: {_first_line(exc)} (LOG_LEVEL=DEBUG shows where)") from None


def invalid_files(error: KnowledgeError) -> str:
    """What is invalid, for the line before the problems: the files they are in, and how many problems (those not
    listed too)."""
    files = list(error.files)
    count = f"{error.total:,} problem{'s' if error.total != 1 else ''}"
    if not files:
        return f"the FAQ is invalid ({count})"
    shown = files if len(files) <= 4 else [*files[:3], f"{len(files) - 3} other files"]
    named = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    return f"{named} {'is' if len(files) == 1 else 'are'} invalid ({count})"


def _first_line(exc: BaseException) -> str:
    said = str(exc).strip()
    return said.splitlines()[0] if said else exc.__class__.__name__


def cmd_ask(args: argparse.Namespace) -> int:
    kb = load_kb(args.settings.faq)
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
    kb = load_kb(args.settings.faq)
    for tag, entries in kb.knowledge.by_tag().items():
        print(f"{tag}: " + ", ".join(e.id for e in entries))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    kb = load_kb(args.settings.faq)
    knowledge = kb.knowledge
    quotes = sum(len(e.sources) for e in knowledge.entries)
    print(f"ok: {len(knowledge)} entries, {quotes} quotes verified in {len(knowledge.documents)} documents")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        cases = load_cases(args.file)
    except EvalSetError as exc:
        print(f"openllm-bot: {exc}", file=sys.stderr)
        return 1
    kb = load_kb(args.settings.faq)
    tallies = evaluate(cases, kb.ask)
    print(format_report(tallies, show_failures=not args.quiet))
    return 0


def _set_paths(files: Sequence[str]) -> list[Path]:
    from knowledge.decision.calibration import labelled_sets

    paths = [Path(f) for f in files] if files else labelled_sets()
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"openllm-bot: {path}: no such evaluation file")
    return paths


def _calibration_report(calibration: Calibration) -> str:
    lines = ["out of fold (each question decided by a policy fitted without it):", ""]
    by_set = calibration.tallies()
    header = f"{'set':<16}{'cases':>6}{'answer acc':>12}{'rescues':>9}{'wrong':>8}{'oos false':>11}{'combined':>10}"
    lines += [header, "-" * len(header)]
    for name, t in by_set.items():
        acc = f"{100 * t.correct / t.in_scope:5.1f}%" if t.in_scope else "    -"
        wrong = f"{100 * t.wrong / t.in_scope:5.1f}%" if t.in_scope else "    -"
        oos = f"{t.oos_answered}/{t.out_of_scope}" if t.out_of_scope else "-"
        lines.append(f"{name:<16}{t.cases:>6}{acc:>12}{t.rescued:>9}{wrong:>8}{oos:>11}{t.combined:>10.3f}")
    lines += ["", "by kind:", format_report(calibration.tallies_by_kind(), show_failures=False)]
    return "\n".join(lines)


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit the decision policy on the labelled sets; print the out-of-fold figures; --write saves it; --record also
    scores the blind sets and records every figure in docs/quality.md, if they hold the quality gate."""
    from knowledge.decision import gate
    from knowledge.decision.calibration import calibrate, neutral_policy
    from knowledge.decision.classifier import ClassifierSettings
    from knowledge.decision.decide import POLICY_FILES, dump_policy
    from knowledge.decision.hybrid import HybridMatcher

    if args.record and args.files:
        print("openllm-bot: --record measures the sets the gate records (eval/*.yaml, eval/blind/ and "
              "../shared/eval/dev.yaml): name no files", file=sys.stderr)
        return 2
    # The policy on disk may be for other signals: it is being refitted.
    kb = load_kb(args.settings.faq, neutral_policy())
    settings = ClassifierSettings(kind=args.classifier)
    measurement = None
    try:
        if args.record:
            measurement = gate.measure(kb.knowledge, settings=settings, folds=args.folds, cascade=not args.no_cascade)
            calibration = measurement.calibration
        else:
            matcher = HybridMatcher(kb.knowledge, policy=neutral_policy(), settings=settings)
            calibration = calibrate(matcher, _set_paths(args.files), folds=args.folds, cascade=not args.no_cascade)
    except EvalSetError as exc:
        print(f"openllm-bot: {exc}", file=sys.stderr)
        return 1
    print(_calibration_report(calibration))
    if not args.quiet:
        failures = calibration.tallies()["all"].failures
        print("\nnot answered correctly (out of fold):" if failures else "")
        print("\n".join("  " + f for f in failures))
    policy = calibration.policy
    print(f"\npolicy fitted on all of them: answer at p >= {policy.answer:.2f}, suggest at p >= {policy.suggest:.2f}")
    if policy.cascade is not None:  # the cascade's first stage: decided without the embedding model
        quickly = calibration.quickly
        print(f"without the embedding model: answer at p >= {policy.cascade.answer:.3f}, decline at p(in scope) <= "
              f"{policy.cascade.decline:.4f}; out of fold, {sum(quickly)} of {len(quickly)} questions decided so")
    floors = None
    if measurement is not None:
        try:
            floors, recorded = gate.load_floors(), gate.read_record()
        except gate.GateError as exc:
            print(f"openllm-bot: {exc}", file=sys.stderr)
            return 1
        print("\n" + gate.render_table(measurement.figures, floors.z))
        verdict = gate.judge(recorded, measurement.by_name(), floors, recording=True)
        if verdict.floors or (verdict.shortfalls and not args.accept_lower):
            print("openllm-bot: quality fell; nothing written (the policy and docs/quality.md are as they were):",
                  file=sys.stderr)
            print("\n".join(f"  {p}" for p in verdict.problems), file=sys.stderr)
            if not verdict.floors:
                print("  If the fall is meant (an entry removed, say), run `openllm-bot calibrate --record "
                      "--accept-lower` and say why in the commit; the floors in knowledge/floors.yaml hold anyway.",
                      file=sys.stderr)
            return 1
    if args.write or measurement is not None:
        POLICY_FILES[args.classifier].write_text(dump_policy(policy), encoding="utf-8")
        print(f"wrote {POLICY_FILES[args.classifier]}")
    if measurement is not None and floors is not None:
        gate.write_record(measurement.figures, floors.z)
        print(f"recorded the figures in {gate.QUALITY_DOC}")
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    from knowledge.content.coverage import coverage, format_coverage

    print(format_coverage(coverage(load_kb(args.settings.faq).knowledge), show_uncited=not args.summary))
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    """The console records into STORE_PATH or DATABASE_URL only when one is set; otherwise into a store of its own
    that lasts the session (so /home shows what was just asked), never into the bot's real one."""
    import tempfile
    from dataclasses import replace

    from .console import run_console
    from .recorder import open_recorder

    settings: Settings = args.settings
    kb = load_kb(settings.faq)
    if settings.store.chosen:
        return run_console(kb, sys.stdin, sys.stdout, _console_recorder(settings.store))
    if settings.store.url is None:
        return run_console(kb, sys.stdin, sys.stdout, None)
    with tempfile.TemporaryDirectory(prefix="openllm-console-") as scratch:
        scratch_store = replace(settings.store, url=f"sqlite:///{Path(scratch) / 'console.sqlite3'}")
        return run_console(kb, sys.stdin, sys.stdout, open_recorder(scratch_store))


def _console_recorder(settings: StoreSettings) -> Recorder | None:
    """A recorder into the store STORE_PATH or DATABASE_URL names, once it is found usable: one that is not (in a
    folder that cannot be written, a file that is not a store, a database that cannot be reached) is one line and
    exit code 1, before anything is typed."""
    from .recorder import open_recorder
    from .store import Store

    if settings.url is None:
        return None
    probe = Store(settings.url)
    try:
        problem = probe.check()
    finally:
        probe.close()
    if problem is not None:
        raise SystemExit(f"openllm-bot: {problem}")
    try:
        return open_recorder(settings)
    except OSError as exc:  # the key user ids are hashed with, kept beside the store
        raise SystemExit(f"openllm-bot: cannot keep the store's hash key: {exc.strerror or exc}"
                         + (f" ({exc.filename})" if exc.filename else "")) from None


def _check_output(output: str | None) -> None:
    """`-o FILE` names a file that can be written: checked before the store is read."""
    if not output or output == "-":
        return
    path = Path(output)
    if path.is_dir():
        raise ValueError(f"-o {output}: is a folder; name a file in it, e.g. {path / 'report.csv'}")
    if not path.parent.is_dir():
        raise ValueError(f"-o {output}: the folder {path.parent} does not exist")


def _since(text: str) -> datetime:
    """`--since` as naive UTC; a span or date that cannot be read is an operator's mistake (exit 2)."""
    from .report import parse_since

    try:
        return parse_since(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _store_url(settings: StoreSettings, what: str) -> str:
    """The store a reading command reads (`what` it does with it, for the message); none is an operator's mistake."""
    if settings.url is None:
        raise ConfigError(f"STORE_ENABLED=false: there is no store to {what}")
    return settings.url


def _read_store(url: str, read: Callable[[Store], T]) -> T:
    """`read(store)` on the store at `url`, opened read-only: a mistyped STORE_PATH or an unrelated database is
    refused, never created or changed, and a store that cannot be read is one line and exit code 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from .store import Store, StoreError, describe

    try:
        store = Store(url, read_only=True)
    except StoreError as exc:
        raise SystemExit(f"openllm-bot: {exc}") from None
    try:
        return read(store)
    except StoreError as exc:
        raise SystemExit(f"openllm-bot: {exc}") from None
    except SQLAlchemyError as exc:
        raise SystemExit(f"openllm-bot: cannot read {describe(store.url)}: {str(exc).splitlines()[0]}") from None
    finally:
        store.close()


def _workspace(store: Store, team: str | None) -> str | None:
    """Whose rows a reading command reads: `--team`, required when the store holds several workspaces (exit 2 if
    it is missing, or names none the store holds); None, every row, when it holds one."""
    from .report import chosen_workspace

    try:
        return chosen_workspace(store.workspaces(), team)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _as_answered(kb: KnowledgeBase, taught: list[TaughtRecord], written: list[WrittenRecord]) -> KnowledgeBase:
    """`kb` as the bot answers from it: with what was taught and written from Slack (the rows read) applied."""
    from .reload import taught_phrasings, written_items

    return kb.with_taught(taught_phrasings(taught), written_items(written)) if taught or written else kb


def cmd_report(args: argparse.Namespace) -> int:
    from .report import report_from_store
    from .report_formats import render

    since = _since(args.since)
    try:
        _check_output(args.output)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    url = _store_url(args.settings.store, "report on")
    entry_ids = [e.id for e in load_kb(args.settings.faq).knowledge.entries]
    report = _read_store(url, lambda store: report_from_store(store, since, entry_ids=entry_ids,
                                                              team=_workspace(store, args.team)))
    text = render(report, args.format)
    if args.output and args.output != "-":
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"openllm-bot: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.output}: {report.questions} questions since {since:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_taught(args: argparse.Namespace) -> int:
    """The phrasings admins taught from Slack: `list` (undone ones too) or `export` (YAML to merge into the FAQ: those
    the bot applies to the FAQ as it is now; the others are named on standard error, with why)."""
    from knowledge import load_knowledge
    from knowledge.content.phrasings import load_out_of_scope

    from .taught import (
        applicable,
        skipped_text,
        taught_export_yaml,
        taught_list_text,
        write_into,
        written_export,
        written_export_yaml,
        written_list_text,
    )

    since = _since(args.since) if args.since else None
    url = _store_url(args.settings.store, "read taught phrasings from")
    if args.into is not None and args.action != "export":
        raise ConfigError(f"--into {args.into}: only `taught export` writes into the FAQ")
    if args.into is not None and not Path(args.into).is_dir():
        raise ConfigError(f"--into {args.into}: is not a folder: name the knowledge folder (or its faq/)")
    if args.action == "list":
        sys.stdout.write(taught_list_text(_read_store(url, lambda store: store.taught(
            since, include_undone=True, team=_workspace(store, args.team)))))
        sys.stdout.write(written_list_text(_read_store(url, lambda store: store.written(
            since, include_undone=True, team=_workspace(store, args.team)))))
        return 0
    # All of the workspace's: each is applied after the ones before.
    records = _read_store(url, lambda store: store.taught(team=_workspace(store, args.team)))
    faq: FaqSettings = args.settings.faq
    try:
        knowledge = load_knowledge(faq.faq_dir, faq.seeds_dir)
        out_of_scope = load_out_of_scope(knowledge=knowledge)
    except KnowledgeError as exc:
        print(f"openllm-bot: {invalid_files(exc)}:", file=sys.stderr)
        print("".join(f"  {problem}\n" for problem in exc.problems), end="", file=sys.stderr)
        return 1
    # Entries and answers written from Slack first: the phrasings are applied to the FAQ with them, as the bot does.
    written = written_export(_read_store(url, lambda store: store.written(team=_workspace(store, args.team))),
                             knowledge, since)
    applied, skipped = applicable(records, written.knowledge, out_of_scope)
    sys.stdout.write(taught_export_yaml(r for r in applied if since is None or r.taught_at >= since))
    left_out = [(r, why) for r, why in skipped if since is None or r.taught_at >= since]
    if left_out:
        print(f"openllm-bot: {len(left_out)} taught phrasing(s) left out, which the FAQ in {faq.faq_dir} refuses as "
              f"it is now:\n{skipped_text(left_out)}", end="", file=sys.stderr)
    if written.skipped:
        print(f"openllm-bot: {len(written.skipped)} entr{'y' if len(written.skipped) == 1 else 'ies'} or answer(s) "
              f"written from Slack left out, which the FAQ in {faq.faq_dir} refuses as it is now:", file=sys.stderr)
        print("".join(f"  {r.id}: {r.entry_id}: {why}\n" for r, why in written.skipped), end="", file=sys.stderr)
    if args.into is None:
        sys.stdout.write(written_export_yaml(written, knowledge))
        return 0
    try:
        wrote = write_into(written, Path(args.into), faq.seeds_dir)
    except KnowledgeError as exc:
        print(f"openllm-bot: nothing written: with what was written from Slack, {invalid_files(exc)}:", file=sys.stderr)
        print("".join(f"  {problem}\n" for problem in exc.problems), end="", file=sys.stderr)
        return 1
    except OSError as exc:
        raise SystemExit(f"openllm-bot: cannot write into {args.into}: {exc.strerror or exc}") from None
    for path, changes in wrote.items():
        print(f"openllm-bot: wrote {changes} into {path}", file=sys.stderr)
    if not wrote:
        print("openllm-bot: no entries or answers written from Slack to write", file=sys.stderr)
    return 0


def _draft_out(out: str | None, force: bool) -> Path | None:
    """`draft --out FILE`: a file that can be written, and one that exists only with --force; checked before any work
    (a mistake is one line and exit code 2). None: standard output."""
    if not out or out == "-":
        return None
    path = Path(out)
    if path.is_dir():
        raise ConfigError(f"--out {out}: is a folder; name a file in it, e.g. {path / 'drafts.yaml'}")
    if not path.parent.is_dir():
        raise ConfigError(f"--out {out}: the folder {path.parent} does not exist")
    if path.exists() and not force:
        raise ConfigError(f"--out {out}: the file exists; add --force to overwrite it")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise ConfigError(f"--out {out}: cannot be written (permission denied)")
    return path


def _document_named(name: str, documents: Sequence[str], titles: dict[str, str], seeds_dir: Path) -> str:
    """The document `draft document NAME` means: its file name in the seeds folder (with or without its extension),
    a path to that file, or its title; anything else is an operator's mistake, said in one line."""
    given = Path(name)
    if name in documents:
        return name
    by_stem = [d for d in documents if Path(d).stem == name]
    by_title = [d for d in documents if titles[d].casefold() == name.strip().casefold()]
    if len(by_stem) == 1 or len(by_title) == 1:
        return (by_stem or by_title)[0]
    if given.name in documents:  # a path
        if not given.is_file():
            raise ConfigError(f"document {name}: no such file (name it as {given.name}, as sources.yaml does)")
        if given.resolve() != (seeds_dir / given.name).resolve():
            raise ConfigError(f"document {name}: not the file of that name in {seeds_dir}, which the FAQ cites; name "
                              f"{given.name}, or set SEEDS_DIR to the folder {given.parent}")
        return given.name
    if (seeds_dir / given.name).is_file():
        raise ConfigError(f"document {given.name} is in {seeds_dir} but not listed in its sources.yaml: add its row "
                          "first (see 'Adding a document' in docs/keeping-the-faq.md)")
    listed = ", ".join(documents) if len(documents) <= 6 else ", ".join([*documents[:5], "…"])
    raise ConfigError(f"unknown document {name!r}: name a file of {seeds_dir / 'sources.yaml'} ({listed}), its path "
                      "or its title")


def cmd_draft(args: argparse.Namespace) -> int:
    """YAML drafts of new entries for a person to complete (a question and the passages to cite; never an answer):
    for the most asked groups of unanswered questions, or for a document's uncited paragraphs."""
    from knowledge import load_knowledge
    from knowledge.content.drafts import Ids, document_drafts, drafts_yaml

    from .store import utcnow

    out = _draft_out(args.out, args.force)
    faq: FaqSettings = args.settings.faq
    today = f"{utcnow():%Y-%m-%d}"
    if args.drafting == "unanswered":
        from .draft import unanswered_drafts

        since = _since(args.since)
        url = _store_url(args.settings.store, "draft from")
        _a_store_at(url)
        kb = load_kb(faq)

        def read(store: Store) -> tuple[list[QuestionRecord], list[TaughtRecord], list[WrittenRecord]]:
            team = _workspace(store, args.team)
            return store.questions_since(since, team), store.taught(team=team), store.written(team=team)

        records, taught, written = _read_store(url, read)
        kb = _as_answered(kb, taught, written)

        def closest(question: str) -> list[tuple[str, str, float]]:
            return [(near.passage.doc, near.passage.text, near.similarity) for near in kb.closest_passages(question)]

        def answers(question: str) -> str | None:
            result = kb.ask(question)
            return result.id if result.status == "answer" else None

        result = unanswered_drafts(records, taught, since, kb.knowledge, closest, answers, args.limit,
                                   Ids({e.id for e in kb.knowledge.entries}))
        drafts = list(result.drafts)
        comments = [f"Drafts of FAQ entries for the questions the bot did not answer since {since:%Y-%m-%d %H:%M} UTC "
                    f"(`openllm-bot draft unanswered`, {today}):",
                    f"{len(drafts)} draft{'s' if len(drafts) != 1 else ''}, for the most asked of the {result.groups} "
                    "groups of near-duplicate questions"
                    + (f" ({len(result.left_out)} left out, named on standard error)." if result.left_out else "."),
                    "Each question is the wording most like the group's others; the passages are the documents' "
                    "closest to it, by the matcher's embedding model."]
        for why in result.left_out:
            print(f"openllm-bot: left out {why}", file=sys.stderr)
        nothing = f"no group of unanswered questions since {since:%Y-%m-%d %H:%M} UTC to draft"
    else:
        try:
            knowledge = load_knowledge(faq.faq_dir, faq.seeds_dir)
        except KnowledgeError as exc:
            print(f"openllm-bot: {invalid_files(exc)}:", file=sys.stderr)
            print("".join(f"  {problem}\n" for problem in exc.problems), end="", file=sys.stderr)
            return 1
        titles = {name: document.title for name, document in knowledge.documents.items()}
        file = _document_named(args.name, list(knowledge.documents), titles, faq.seeds_dir)
        from_slack = _written_if_any(args.settings.store)
        if from_slack:  # what admins wrote from Slack cites paragraphs too: they are not drafted again
            from knowledge.content.written import with_written

            knowledge = with_written(knowledge, from_slack).knowledge
        drafts = document_drafts(knowledge, file)
        comments = [f"Drafts of FAQ entries for the paragraphs of {file} no entry cites "
                    f"(`openllm-bot draft document`, {today}):",
                    f"{titles[file]}. Each question is the one the document asks near its paragraph, where it asks "
                    "one no entry asks; else it is yours to write."]
        nothing = f"every paragraph of {file} is cited: nothing to draft"
    if not drafts:
        print(f"openllm-bot: {nothing}", file=sys.stderr)
        return 0
    text = drafts_yaml(drafts, comments)
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {args.out}: cannot be written ({exc.strerror or exc})") from None
    print(f"wrote {out}: {len(drafts)} draft{'s' if len(drafts) != 1 else ''}", file=sys.stderr)
    return 0


def _written_if_any(settings: StoreSettings) -> tuple[Written, ...]:
    """The entries and answers written from Slack, when there is a store to read them from; none without one (a
    command that does not need the store). A store that cannot be read is said in one line, and read as empty."""
    from sqlalchemy.exc import SQLAlchemyError

    from .reload import written_items
    from .store import Store, StoreError

    if settings.url is None:
        return ()
    try:
        store = Store(settings.url, read_only=True)
    except StoreError:  # no store (yet): nothing was written from Slack
        return ()
    try:
        return written_items(store.written())
    except (StoreError, SQLAlchemyError) as exc:
        print(f"openllm-bot: the entries written from Slack were not read ({_first_line(exc)}): paragraphs they cite "
              "are drafted too", file=sys.stderr)
        return ()
    finally:
        store.close()


def _a_store_at(url: str) -> None:
    """There is a store at `url` (a SQLite file that is not there is an operator's mistake: exit code 2)."""
    from .store import Store, StoreError

    try:
        Store(url, read_only=True).close()
    except StoreError as exc:
        raise ConfigError(str(exc)) from None


def cmd_digest(args: argparse.Namespace) -> int:
    """The weekly digest of a week: printed, or posted in DIGEST_CHANNEL (claimed in the store as the bot claims it,
    so that it is not posted twice)."""
    from datetime import UTC, date

    from .digest import Digest, Schedule, as_text, build_digest, digest_reply

    settings: Settings = args.settings
    schedule = Schedule.from_settings(settings.digest)
    now = datetime.now(UTC)
    if args.week == "last":
        end = schedule.due(now)
    else:
        try:
            end = schedule.week_of(date.fromisoformat(args.week))
        except ValueError:
            raise ConfigError(f"--week {args.week!r}: give a date like 2026-12-07 (the week that holds it), or "
                              "last") from None
    if args.post:
        if args.team:
            raise ConfigError("--team: a digest is posted for the one workspace of SLACK_BOT_TOKEN (installed with "
                              "OAuth, the bot posts none): print it with --team instead")
        if end > now:
            raise ConfigError(f"--post: the week to {end:%Y-%m-%d %H:%M %Z} is not over yet: post it from then on")
        if settings.slack is None:
            raise ConfigError("--post: SLACK_BOT_TOKEN is not set: run it with the bot's own settings")
        if settings.digest.channel is None:
            raise ConfigError("--post: DIGEST_CHANNEL is not set: set it to the channel the digest goes to (e.g. "
                              "#faq-digest)")
    url = _store_url(settings.store, "make a digest from")
    kb = load_kb(settings.faq)
    command = settings.slack.command if settings.slack is not None else "/openllm"
    if args.post:
        return _post_digest(settings, kb, schedule, end, args.again)
    entry_ids = [e.id for e in kb.knowledge.entries]

    def read(store: Store) -> tuple[Digest, list[TaughtRecord], list[WrittenRecord]]:
        team = _workspace(store, args.team)
        return build_digest(store, schedule, end, entry_ids, team), store.taught(team=team), store.written(team=team)

    digest, taught, written = _read_store(url, read)
    kb = _as_answered(kb, taught, written)  # entries written from Slack named as the bot names them
    if not digest.week.questions:
        print(f"openllm-bot: no questions in the week to {end:%Y-%m-%d %H:%M %Z}: no digest (the bot posts none "
              "for such a week)", file=sys.stderr)
        return 0
    sys.stdout.write(as_text(digest_reply(kb, digest, command)))
    if end > now:
        print(f"openllm-bot: the week is not over: this is it so far (until {end:%Y-%m-%d %H:%M %Z})",
              file=sys.stderr)
    return 0


def _post_digest(settings: Settings, kb: KnowledgeBase, schedule: Schedule, end: datetime, again: bool) -> int:
    import asyncio
    import socket

    from .app import web_client
    from .channels import Channel
    from .digest import DigestPoster
    from .recorder import Recorder, hash_key_for
    from .state import KnowledgeHolder
    from .store import Store, StoreError

    assert settings.slack is not None and settings.digest.channel is not None and settings.store.url is not None
    config, url = settings.slack, settings.store.url
    store = Store(url)
    if (problem := store.check()) is not None:
        raise SystemExit(f"openllm-bot: {problem}")
    recorder = Recorder(store, hash_key_for(store.url, settings.store.hash_key))
    key = schedule.key(end)

    async def post() -> str:
        client = web_client(config)
        poster = DigestPoster(schedule, Channel("DIGEST_CHANNEL", settings.digest.channel or ""), recorder,
                              KnowledgeHolder(kb), client, config.command,
                              name=f"openllm-bot digest on {socket.gethostname()}")
        return await poster.post(end, again=again)

    try:
        outcome = asyncio.run(post())
        record = store.digest_record(key)
    except (StoreError, ConfigError) as exc:
        raise SystemExit(f"openllm-bot: {exc}") from None
    finally:
        recorder.close()
    period = f"the week to {end:%Y-%m-%d %H:%M %Z}"
    if outcome == "posted":
        print(f"openllm-bot: posted the digest of {period} in {settings.digest.channel}", file=sys.stderr)
        return 0
    if outcome == "empty":
        print(f"openllm-bot: no questions in {period}: nothing posted", file=sys.stderr)
        return 0
    if outcome == "taken" and record is not None:
        print(f"openllm-bot: the digest of {period} was {'posted' if record.status == 'posted' else record.status} "
              f"already ({record.claimed_by}, {record.claimed_at:%Y-%m-%d %H:%M} UTC): --again posts it anyway",
              file=sys.stderr)
        return 1
    print(f"openllm-bot: the digest of {period} could not be posted (see above)", file=sys.stderr)
    return 1


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    settings: Settings = args.settings
    try:
        # Given what loads the FAQ rather than the loaded FAQ, serve listens at once and answers 503 while it loads.
        serve(settings, partial(load_kb, settings.faq))
    except TimeoutError:  # Slack's Web API accepted the connection and never answered the token check
        where = settings.slack.api_url if settings.slack is not None and settings.slack.api_url else "Slack's Web API"
        raise ConfigError(f"{where} did not answer when the bot checked its token: check the network and "
                          "SLACK_API_URL") from None
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Slack when credentials are configured, else the local console."""
    return cmd_serve(args) if args.settings.slack is not None else cmd_console(args)


def _mode(args: argparse.Namespace) -> Mode | Literal["if configured"] | None:
    """Which Slack settings the command needs: `run` serves Slack when it is configured."""
    if args.command == "serve":
        return args.mode
    if args.command == "digest" and args.post:
        return "if configured"
    return "if configured" if args.command == "run" else None


def _positive(text: str) -> int:
    """A whole number above 0, for a command-line option."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not above 0")
    return value


def _team_option(parser: argparse.ArgumentParser, what: str) -> None:
    """`--team`, for a command reading a store that may hold several workspaces (installed with OAuth)."""
    parser.add_argument("--team", metavar="ID", help=f"the workspace (T…), or the org of an org-wide installation "
                        f"(E…), {what}; needed when the store holds several")


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

    cal = sub.add_parser("calibrate", help="fit the decision policy on labelled sets; print out-of-fold figures")
    cal.add_argument("files", nargs="*", help="labelled sets (default: eval/*.yaml and ../shared/eval/dev.yaml)")
    cal.add_argument("--folds", type=int, default=10, help="cross-validation folds (default 10)")
    cal.add_argument("--write", action="store_true", help="save the policy to knowledge/policy.yaml "
                     "(policy-nearest.yaml with --classifier nearest)")
    cal.add_argument("--classifier", choices=("svm", "nearest"), default="svm",
                     help="svm (FAQs up to 2,000 entries, the default) or nearest (larger FAQs)")
    cal.add_argument("--record", action="store_true", help="also score the blind sets and, if every figure holds "
                     "the quality gate (its record within noise, and the floors), save the policy and record the "
                     "figures in docs/quality.md (what `make calibrate` does)")
    cal.add_argument("--accept-lower", action="store_true", help="with --record: record figures below the record "
                     "(never below the floors of knowledge/floors.yaml)")
    cal.add_argument("--quiet", action="store_true", help="figures only, without the failing cases")
    cal.add_argument("--no-cascade", action="store_true", help="fit no cascade: every question decided with the "
                     "embedding model (the cascade's first stage decides easy ones without it)")
    cal.set_defaults(func=cmd_calibrate)

    cov = sub.add_parser("coverage", help="which paragraphs of each document the FAQ cites")
    cov.add_argument("--summary", action="store_true", help="percentages only, without the uncited paragraphs")
    cov.set_defaults(func=cmd_coverage)

    rep = sub.add_parser("report", help="what people asked: unanswered questions, votes per entry, volume")
    rep.add_argument("--since", default="7d", help="a span (7d, 12h, 2w) or a date (2026-11-01); default 7d")
    rep.add_argument("--format", choices=FORMATS, default="text", help="text (default), csv or html")
    rep.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    _team_option(rep, "to report on")
    rep.set_defaults(func=cmd_report)

    taught = sub.add_parser("taught", help="the phrasings admins taught from Slack: list them, or export them as YAML")
    taught.add_argument("action", choices=("list", "export"),
                        help="list: one a line, undone ones marked; export: YAML per entry, to merge into knowledge/")
    taught.add_argument("--since", help="taught from then on: a span (7d, 12h, 2w) or a date (2026-11-01); default all")
    taught.add_argument("--into", metavar="DIR", help="export: write the entries and answers written from Slack into "
                        "the FAQ files of DIR (a knowledge folder, or its faq/) instead of printing them")
    _team_option(taught, "whose phrasings, entries and answers to read")
    taught.set_defaults(func=cmd_taught)

    draft = sub.add_parser("draft", help="YAML drafts of new entries (a question and the passages to cite, the answer "
                           "left empty) for a person to complete")
    kinds = draft.add_subparsers(dest="drafting", required=True, metavar="KIND")
    written = argparse.ArgumentParser(add_help=False)
    written.add_argument("-o", "--out", metavar="FILE", help="write to FILE instead of standard output")
    written.add_argument("--force", action="store_true", help="with --out: overwrite FILE if it exists")
    unanswered = kinds.add_parser("unanswered", parents=[written], help="one draft per group of questions the bot "
                                  "did not answer, most asked first")
    unanswered.add_argument("--since", default="7d", help="asked from then on: a span (7d, 12h, 2w) or a date "
                            "(2026-11-01); default 7d")
    unanswered.add_argument("--limit", type=_positive, default=10, help="at most this many drafts (default 10)")
    _team_option(unanswered, "whose questions to draft")
    document = kinds.add_parser("document", parents=[written], help="drafts for the paragraphs of a document no "
                                "entry cites")
    document.add_argument("name", help="the document: its file name in the seeds folder, its path, or its title")
    draft.set_defaults(func=cmd_draft)

    digest = sub.add_parser("digest", help="the weekly digest of a week, as the bot posts it in DIGEST_CHANNEL")
    digest.add_argument("--week", default="last", help="a date (2026-12-07): the week that holds it, ending when "
                        "its digest is due (DIGEST_DAY, DIGEST_HOUR); default last: the latest week over")
    digest.add_argument("--post", action="store_true", help="post it in DIGEST_CHANNEL (once: not if the bot or "
                        "another run posted it already) rather than print it")
    digest.add_argument("--again", action="store_true", help="with --post: post it even if it was posted already")
    _team_option(digest, "whose week to print")
    digest.set_defaults(func=cmd_digest)

    sub.add_parser("console", help="an interactive console that answers like the bot").set_defaults(func=cmd_console)

    serve = sub.add_parser("serve", help="serve Slack")
    mode = serve.add_mutually_exclusive_group(required=True)
    mode.add_argument("--socket", dest="mode", action="store_const", const="socket", help="Socket Mode")
    mode.add_argument("--http", dest="mode", action="store_const", const="http", help="HTTP mode on $PORT")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("run", help="serve Slack if configured, else the local console").set_defaults(func=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stdout is None:  # started with standard output closed (`>&-`)
        # Descriptor 1 taken by /dev/null, so that no file opened later (the store) gets it; writing is still refused.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        sys.stdout = _ClosedOutput()
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C during start-up (once serving, it stops the bot gracefully instead)
        return 130  # 128 + SIGINT, as a shell reports it: nothing more to say


def _main(argv: Sequence[str] | None) -> int:
    dotenv = os.environ.get("DOTENV_PATH", ".env")
    try:
        load_dotenv(dotenv)
    except UnicodeDecodeError as exc:
        at = exc.object[:exc.start].count(b"\n") + 1
        print(f"openllm-bot: {dotenv}:{at}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}): save it as "
              "UTF-8, or name another file with DOTENV_PATH", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"openllm-bot: {dotenv} cannot be read ({exc.strerror or exc}): name a file with DOTENV_PATH, or "
              "remove it", file=sys.stderr)
        return 2
    try:
        args = build_parser().parse_args(argv)
        # Every setting, read and checked once, before any work: each mistake is one line, and exit code 2.
        args.settings = Settings.from_env(mode=_mode(args), faq_dir=getattr(args, "dir", None) or args.faq)
        return args.func(args)
    except ConfigError as exc:  # also Slack refusing the tokens when `serve` starts
        if interrupt.came():  # a library turned Ctrl-C into an error of its own while the settings were checked
            return 130
        for line in exc.lines:
            print(f"openllm-bot: {line}", file=sys.stderr)
        return 2
    except OutputClosed:
        print("openllm-bot: standard output is closed (started with >&-?): nothing can be written; send it to a "
              "file or to /dev/null instead", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`openllm-bot topics | head`): nothing more to say, and nowhere to say it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by a closed pipe
