"""Command line: ``serve``, ``once``, ``check-config``, ``hash-password``, ``history``, ``simulate`` and ``demo``.

Turns argv into calls of `app` and the simulator and maps outcomes to exit codes
(0 success, 1 a source failed, 2 bad configuration or start-up refusal). No business logic here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from github_stats_exporter import app, gc_policy
from github_stats_exporter.config import ConfigError, Settings, config_warnings, load_config, parse_config
from github_stats_exporter.exposition import Format
from github_stats_exporter.logs import configure_logging
from github_stats_exporter.webconfig import WebConfigError, load_web_config

EXIT_OK = 0
EXIT_SOURCE_FAILED = 1
EXIT_BAD_CONFIG = 2


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


def _report_config_error(path: str, exc: ConfigError) -> int:
    _err(f"{path}: {len(exc.problems)} configuration problem(s):")
    for problem in exc.problems:
        _err(f"  - {problem}")
    return EXIT_BAD_CONFIG


def _with_web_config(settings: Settings, flag: str | None) -> Settings:
    """``--web.config.file`` wins over ``server.web_config_file``."""
    if not flag:
        return settings
    server = settings.server.model_copy(update={"web_config_file": flag})
    return settings.model_copy(update={"server": server})


def _load(args: argparse.Namespace) -> Settings | int:
    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        return _report_config_error(args.config, exc)
    return _with_web_config(settings, getattr(args, "web_config_file", None))


def _check_web_config(path: str, *, read_files: bool) -> bool:
    if not path:
        return True
    try:
        web = load_web_config(path, read_files=read_files)
    except WebConfigError as exc:
        _err(f"{path}: {len(exc.problems)} web config problem(s):")
        for problem in exc.problems:
            _err(f"  - {problem}")
        return False
    served = f"TLS, client_auth_type {web.tls.client_auth_type}" if web.tls is not None else "plain HTTP"
    _out(f"{path}: web config is valid ({served}, {len(web.users)} basic auth user(s))")
    return True


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        settings = load_config(args.config, resolve_secrets=not args.no_secrets)
    except ConfigError as exc:
        return _report_config_error(args.config, exc)
    settings = _with_web_config(settings, args.web_config_file)
    if not _check_web_config(settings.server.web_config_file, read_files=not args.no_secrets):
        return EXIT_BAD_CONFIG
    for notice in settings.notices:
        _out(f"notice: {notice}")
    # Accepted but without effect: worth a warning, not a failure (the exit code stays 0).
    for warning in config_warnings(settings):
        _out(f"warning: {warning}")
    _out(f"{args.config}: configuration is valid ({len(settings.github.orgs)} org(s))")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _load(args)
    if isinstance(settings, int):
        return settings
    configure_logging(settings.server.log_level, settings.server.log_format)
    gc_policy.apply()
    try:
        asyncio.run(app.serve(settings))
    except app.StartupError as exc:
        _err(f"cannot start: {exc}")
        return EXIT_BAD_CONFIG
    return EXIT_OK


def cmd_once(args: argparse.Namespace) -> int:
    settings = _load(args)
    if isinstance(settings, int):
        return settings
    configure_logging(settings.server.log_level, settings.server.log_format)
    fmt = Format.OPENMETRICS if args.format == "openmetrics" else Format.TEXT
    try:
        result = asyncio.run(app.once(settings, fmt=fmt))
    except app.StartupError as exc:
        _err(f"cannot start: {exc}")
        return EXIT_BAD_CONFIG
    sys.stdout.buffer.write(result.body)
    sys.stdout.flush()
    if not result.ok:
        _err(f"sources that failed: {', '.join(result.failures)}")
        return EXIT_SOURCE_FAILED
    return EXIT_OK


MAX_PASSWORD_BYTES = 72
"""bcrypt uses at most 72 bytes of a password; a longer one is refused rather than cut silently."""


def cmd_hash_password(args: argparse.Namespace) -> int:
    # From stdin, never argv: arguments show up in `ps` and in shell history.
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            _err("the passwords differ")
            return EXIT_BAD_CONFIG
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    encoded = password.encode("utf-8")
    if not encoded:
        _err("the password is empty")
        return EXIT_BAD_CONFIG
    if len(encoded) > MAX_PASSWORD_BYTES:
        _err(f"the password is {len(encoded)} bytes long; bcrypt allows at most {MAX_PASSWORD_BYTES}")
        return EXIT_BAD_CONFIG
    _out(bcrypt.hashpw(encoded, bcrypt.gensalt(args.cost)).decode("ascii"))
    return EXIT_OK


def _cost(text: str) -> int:
    if not text.isdigit() or not 4 <= int(text) <= 31:
        msg = f"{text!r} is not a bcrypt cost (4..31)"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        msg = f"not a YYYY-MM-DD date: {text!r}"
        raise argparse.ArgumentTypeError(msg) from exc


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        msg = f"must be a whole number of at least 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def cmd_history(args: argparse.Namespace) -> int:
    # Imported here so `serve` never loads the history command (and its progress bars).
    from github_stats_exporter.history.assembly import HistoryOptions, dry_run, run_history
    from github_stats_exporter.history.plan import HistoryError
    from github_stats_exporter.history.progress import progress_for

    settings = _load(args)
    if isinstance(settings, int):
        return settings
    configure_logging(settings.server.log_level, "console")
    options = HistoryOptions(
        first=args.from_day,
        last=args.to_day,
        output=Path(args.output),
        state=Path(args.state) if args.state else None,
        tsdb=Path(args.tsdb) if args.tsdb else None,
        copilot=not args.no_copilot,
        loc=not args.no_loc,
        concurrency=args.concurrency,
    )
    try:
        if args.dry_run:
            plan = asyncio.run(dry_run(settings, options))
            _out(f"days {plan.span.first}..{plan.span.last} ({len(plan.span.days())})")
            for warning in plan.span.warnings:
                _err(f"warning: {warning}")
            for (scope_id, report), count in plan.requests.items():
                _out(f"  {scope_id} {report}: {count} request(s)")
            for scope_id, est in plan.installations.items():
                wait = (
                    "unknown"
                    if est.wait_seconds is None
                    else f"{est.wait_seconds / 60:.0f} min of budget waits"
                )
                _out(f"  {scope_id}: {est.requests} request(s), {est.remaining}/{est.limit} left now, {wait}")
            return EXIT_OK
        outcome = asyncio.run(run_history(settings, options, progress_for(sys.stderr)))
    except HistoryError as exc:
        _err(f"history: {exc}")
        return EXIT_BAD_CONFIG
    except KeyboardInterrupt:
        _err(f"history: interrupted; run the same command again to continue from {options.state_dir}")
        return 130
    s = outcome.summary
    written = s.written
    _out(
        f"history: {s.days} day(s), {s.tasks} report-day(s) ({s.finished_before} finished earlier, "
        f"{s.no_report} without a report), {s.repos} repositories, {s.requests} request(s), "
        f"{s.downloaded / 1e6:.1f} MB downloaded"
    )
    if written is not None:
        _out(
            f"wrote {args.output}: {written.series} series, {written.samples} samples, {written.bytes} bytes"
        )
    if outcome.blocks:
        _out(outcome.blocks.rstrip())
    if not s.ok:
        _err(f"history: {len(s.failed)} task(s) failed; run the same command again to retry them:")
        for key in s.failed[:20]:
            _err(f"  - {key}")
        return EXIT_SOURCE_FAILED
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    # The simulator is imported only by the commands that run it, so `serve` never loads it.
    from github_stats_exporter.simulator.server import run_standalone
    from github_stats_exporter.simulator.spec import demo_spec

    configure_logging("info", "console")
    key_dir = Path(args.key_dir) if args.key_dir else Path(tempfile.mkdtemp(prefix="gh-sim-keys-"))
    spec = demo_spec(time.time(), seed=args.seed)

    def announce(text: str) -> None:
        _out(text)
        _out("\nPut these values into your config (see docs/configuration.md); Ctrl-C stops the simulator.")

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_standalone(spec, args.host, args.port, args.download_port, key_dir, announce=announce)
        )
    return EXIT_OK


def demo_settings(api_url: str, key_paths: dict[int, Path], port: int) -> Settings:
    """The shipped demo config with the simulator's address and generated App keys filled in."""
    text = resources.files("github_stats_exporter").joinpath("demo/demo.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    data["github"]["api_base_url"] = api_url
    for org in data["github"]["orgs"]:
        org["private_key_path"] = str(key_paths[int(org["app_id"])])
    enterprise = data.get("copilot", {}).get("enterprise", {})
    if enterprise.get("enabled"):
        enterprise["private_key_path"] = str(key_paths[int(enterprise["app_id"])])
    data["server"]["listen_addr"] = f"127.0.0.1:{port}"
    return parse_config(data)


async def _run_demo(port: int, seed: int) -> None:
    from github_stats_exporter.simulator.server import Simulator, write_app_keys
    from github_stats_exporter.simulator.spec import demo_spec

    spec = demo_spec(time.time(), seed=seed)
    with tempfile.TemporaryDirectory(prefix="gh-demo-keys-") as key_dir:
        keys = await asyncio.to_thread(write_app_keys, spec, Path(key_dir))
        async with Simulator(spec) as sim:
            for app_id, (_, public) in keys.items():
                sim.add_app(app_id, public)
            settings = demo_settings(sim.api_url, {a: p for a, (p, _) in keys.items()}, port)

            def listening(bound: int) -> None:
                _out(
                    "\n".join(
                        [
                            "github-stats-exporter demo is running (Ctrl-C to stop)",
                            f"  metrics:   http://127.0.0.1:{bound}/metrics",
                            f"  health:    http://127.0.0.1:{bound}/healthz",
                            f"  simulator: {sim.api_url} (simulated GitHub, seed {seed})",
                        ]
                    )
                )

            await app.serve(settings, on_listening=listening)


def cmd_demo(args: argparse.Namespace) -> int:
    configure_logging("info", "console")
    try:
        asyncio.run(_run_demo(args.port, args.seed))
    except app.StartupError as exc:
        _err(f"cannot start: {exc}")
        return EXIT_BAD_CONFIG
    except OSError as exc:
        _err(f"demo could not start: {exc} (is port {args.port} free? try --port)")
        return EXIT_SOURCE_FAILED
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="github-stats-exporter",
        description="GitHub organization activity and Copilot usage metrics for Prometheus.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config", default="config/local.yaml", help="YAML config file (default: %(default)s)"
        )

    def with_web_config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--web.config.file",
            dest="web_config_file",
            default=None,
            help="TLS and basic auth config (docs/tls.md); overrides server.web_config_file",
        )

    p = sub.add_parser("serve", help="run the exporter until SIGTERM/SIGINT")
    with_config(p)
    with_web_config(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("once", help="one collection cycle; print the exposition; exit 1 if a source failed")
    with_config(p)
    p.add_argument("--format", choices=("text", "openmetrics"), default="text")
    p.set_defaults(func=cmd_once)

    p = sub.add_parser("check-config", help="validate a config file; print every problem; exit 2 if invalid")
    with_config(p)
    with_web_config(p)
    p.add_argument("--no-secrets", action="store_true", help="check the shape only; do not read keys or env")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser(
        "hash-password", help="read a password from stdin; print its bcrypt hash for basic_auth_users"
    )
    p.add_argument("--cost", type=_cost, default=10, help="bcrypt cost, 4..31 (default: %(default)s)")
    p.set_defaults(func=cmd_hash_password)

    p = sub.add_parser(
        "history",
        help="Copilot 1-day reports and weekly LOC as timestamped OpenMetrics for promtool (docs/history.md)",
    )
    with_config(p)
    p.add_argument(
        "--from", dest="from_day", type=_day, required=True, metavar="YYYY-MM-DD", help="first day"
    )
    p.add_argument(
        "--to",
        dest="to_day",
        type=_day,
        default=None,
        metavar="YYYY-MM-DD",
        help="last day (default: newest available)",
    )
    p.add_argument("--output", required=True, metavar="FILE", help="the OpenMetrics file to write")
    p.add_argument("--state", default="", metavar="DIR", help="state directory (default: FILE.state)")
    p.add_argument(
        "--tsdb", default="", metavar="DIR", help="also run promtool tsdb create-blocks-from into DIR"
    )
    p.add_argument("--dry-run", action="store_true", help="print the requests it would make, then exit")
    p.add_argument("--no-copilot", action="store_true", help="skip the Copilot reports")
    p.add_argument("--no-loc", action="store_true", help="skip the weekly lines of code")
    p.add_argument(
        "--concurrency",
        type=_positive,
        default=4,
        metavar="N",
        help="reports read at once (default: %(default)s)",
    )
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("simulate", help="run the GitHub simulator standalone")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9900)
    p.add_argument("--download-port", type=int, default=9901)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--key-dir", default="", help="where to write the App private keys (default: a temp dir)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("demo", help="simulator + exporter with the built-in demo config")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
