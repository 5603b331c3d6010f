"""Exit codes, and how an error reaches the user: one line on stderr (`compose2helm: error: ...`)
and, with --format json, `{"error": {...}}` on stdout where the report would have gone."""
from __future__ import annotations

import json
import sys
from typing import Any, NoReturn


# One meaning each: done; a check failed (unexplained differences, lint or schema errors, stale
# output, a rejected file); bad input or usage (every usage error of the CLI framework too); a bug
# of compose2helm (numbered as Black numbers it), printed with the hint to set COMPOSE2HELM_DEBUG.
EXIT_OK, EXIT_VERIFY, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 123


def wants_json(args: list[str]) -> bool:
    """--format json anywhere on the command line: errors are JSON too."""
    return "--format=json" in args or any(a == "--format" and b == "json" for a, b in zip(args, args[1:]))


def usage_error(exc: Exception) -> str | None:
    """The one-line message of a usage error of the CLI framework, naming the option or command
    ("" when its help was printed instead; None: not a usage error). typer 0.28 carries its own
    copy of click (typer._click); older typer uses click itself."""
    for name in ("typer._click.exceptions", "click.exceptions"):
        module = sys.modules.get(name)
        if module is None:
            continue
        abort = getattr(module, "Abort", None)    # typer 0.28 keeps its Abort in typer.exceptions
        if abort is not None and isinstance(exc, abort):
            return "aborted"
        if not isinstance(exc, module.ClickException):
            continue
        if type(exc).__name__ == "NoArgsIsHelpError":
            return ""
        message = " ".join(exc.format_message().split())
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            message += f" (see '{ctx.command_path} --help')"
        return message
    return None


def error_payload(message: str) -> dict[str, Any]:
    """An error that names no file, as JSON: the fields of InputError.as_dict()."""
    return {"message": " ".join(message.split()), "file": None, "service": None, "key": None,
            "line": None, "column": None}


def exit_with_error(line: str, payload: dict[str, Any], code: int, as_json: bool) -> NoReturn:
    print(f"compose2helm: error: {line}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": payload}, indent=2))
    sys.exit(code)
