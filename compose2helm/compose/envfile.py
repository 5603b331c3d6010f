"""Read env files (dotenv, or set_env.sh-style `export K=V` scripts) as data, never executing them.

Values keep their variables as Templates (`http://${host_ip}:8090` stays a reference), quotes are
removed the way a shell would (`${model_cache:-"./data"}` means ./data), single quotes are literal.
A value that needs a command run (`$(...)`, backticks) is left unset, since we cannot know it without
executing the script.

A dotenv file (any name not ending in `.sh`) is strict: every line is a comment or `[export ]K=V`.
A shell script (`.sh`) is read the way its dotenv twin was derived from it (the `set_env*.env` files
beside GenAIExamples' `set_env*.sh`): unconditional assignments are read, every other line is
skipped and counted, and one warning per script names how many and where. Skipped: commands
(`source`, `pushd`, `echo`, function calls such as `check_var "HF_TOKEN"`, `declare`, `unset`, ...),
control flow, and whatever is inside a compound command: the body of a function, an `if`/`case`
branch, a loop, a `{ ...; }` group. Assignments there are conditional: a function's body runs only
when called, with arguments we do not evaluate, and a branch depends on a test we cannot run
(`(( numa_count % 2 == 0 ))` in ChatQnA's xeon script sets TP_NUM and PP_NUM three ways). So they
count as not taken, and an earlier unconditional value stands. The one exception is a here-document
written to an env file (`cat <<EOF > .env` in ChatQnA's gaudi script, outside any condition): its
body is the env the compose file will read, so its `K=V` lines are read like the script's own.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from .interpolate import parse
from .model import Template


_ASSIGN = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.S)
# Reserved words (they count only where a command starts) that open and close a compound command,
# and the words after which a command starts.
_OPENERS = frozenset({"if", "case", "for", "while", "until", "select"})
_CLOSERS = frozenset({"fi", "esac", "done"})
_LEADS = frozenset({"if", "then", "elif", "else", "while", "until", "do", "!", "{", "time"})
_OPERATORS = ";&|()<>"
_LISTED = 5                               # skipped line numbers a warning names


class _Unterminated(ValueError):
    """A quote is still open at the end of the text (the value may continue on the next line)."""


def read_env_file(path: Path) -> tuple[dict[str, Template], list[str]]:
    """Variables in file order (a later assignment wins) and warnings about skipped lines."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read env file: {getattr(e, 'strerror', None) or e}", file=path)
    return _Reader(path, lines).read()


class _Reader:
    """One pass over the lines of an env file; a script's skipped lines are collected for one warning."""

    def __init__(self, path: Path, lines: list[str]):
        self.path, self.lines = path, lines
        self.script = path.suffix.lower() == ".sh"
        self.values: dict[str, Template] = {}
        self.skipped: list[int] = []              # line numbers (1-based)
        self.unset: list[str] = []                # "KEY (line N)": values that need a command run
        self.depth = 0                            # compound commands open (if, loops, functions)
        self.heredocs: list[tuple[str, bool, bool]] = []   # pending: delimiter, strip tabs, as env
        self.i = 0

    def read(self) -> tuple[dict[str, Template], list[str]]:
        while self.i < len(self.lines):
            start, line = self.i, self.lines[self.i].strip()
            self.i += 1
            if self.heredocs:
                self._heredoc_line(start)
            elif not line or line.startswith("#"):
                continue
            elif (m := _ASSIGN.match(line)) and self.depth == 0:
                self._assign(m, start)
            elif self.script:
                self._skip(start)
            else:
                raise InputError(f"not a KEY=VALUE line: {line!r}", file=self.path, key=f"line {start + 1}")
        return self.values, self._warnings()

    def _assign(self, m: re.Match, start: int) -> None:
        key, raw = m.groups()
        while True:                       # a quoted value may span lines
            try:
                text, runs_command = _shell_word(raw)
                break
            except _Unterminated as e:
                raw += "\n" + self._next_line(e, start)
        if runs_command:
            self.values.pop(key, None)
            self.unset.append(f"{key} (line {start + 1})")
            return
        try:
            self.values[key] = parse(text)
        except InputError as e:
            raise InputError(e.message, file=self.path, key=f"line {start + 1}") from None

    def _skip(self, start: int) -> None:
        """Skip one command (it may continue over lines); follow compound commands and heredocs."""
        text = self.lines[start]
        while True:
            try:
                scan = _Scan(text)
                break
            except _Unterminated as e:
                text += "\n" + self._next_line(e, start)
        self.skipped += range(start + 1, self.i + 1)
        before = self.depth
        self.depth = max(0, self.depth + scan.opens - scan.closes)
        # A heredoc feeding an env file outside any condition is read as the env it writes.
        as_env = before == self.depth == 0 and any(
            t.strip("'\"").rsplit("/", 1)[-1].endswith(".env") for t in scan.targets)
        self.heredocs += [(delim, tabs, as_env) for delim, tabs in scan.heredocs]

    def _heredoc_line(self, start: int) -> None:
        delim, tabs, as_env = self.heredocs[0]
        raw = self.lines[start]
        line = raw.strip()
        if (raw.lstrip("\t") if tabs else raw) == delim:
            self.heredocs.pop(0)
            self.skipped.append(start + 1)
        elif not as_env:
            self.skipped.append(start + 1)
        elif line and not line.startswith("#"):
            if m := _ASSIGN.match(line):
                self._assign(m, start)
            else:
                self.skipped.append(start + 1)

    def _next_line(self, e: _Unterminated, start: int) -> str:
        if self.i >= len(self.lines):
            raise InputError(str(e), file=self.path, key=f"line {start + 1}") from None
        self.i += 1
        return self.lines[self.i - 1]

    def _warnings(self) -> list[str]:
        parts = []
        if self.skipped:
            n = len(self.skipped)
            shown = ", ".join(map(str, self.skipped[:_LISTED])) + (", …" if n > _LISTED else "")
            parts.append(f"{n} line{'s' if n > 1 else ''} skipped, only unconditional assignments are "
                         f"read (shell is not run): {shown}")
        if self.unset:
            parts.append(f"left unset (the value needs a command run): {', '.join(self.unset)}")
        return [f"{self.path}: " + "; ".join(parts)] if parts else []


class _Scan:
    """The words of one shell command, as far as following compound commands and heredocs needs.

    Counts reserved words that open (`if`, `case`, loops) and close (`fi`, `esac`, `done`) a
    compound command where a command starts, and `{`/`}` anywhere (function bodies, groups);
    collects heredoc delimiters and redirection targets. Quoted text, `$(...)`, `${...}` and
    backticks are single words whatever they hold. Raises _Unterminated when the command goes on
    to the next line (an open quote or a trailing backslash).
    """

    def __init__(self, text: str):
        self.opens = self.closes = 0
        self.heredocs: list[tuple[str, bool]] = []
        self.targets: list[str] = []
        command, expect = True, ""        # a command starts at the next word; what that word is
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            if c in " \t\n":
                i += 1
            elif c == "#":                # a comment, at the start of a word
                j = text.find("\n", i)
                i = n if j < 0 else j
            elif c in "<>":
                j = i
                while j < n and text[j] in "<>&-":
                    j += 1
                op, i = text[i:j], j
                expect = ("heredoc-" if op == "<<-" else "heredoc" if op.startswith("<<") and
                          not op.startswith("<<<") else "target" if ">" in op else "word")
            elif text.startswith("((", i):    # arithmetic: `<<` there is a shift, not a heredoc
                i, command = _skip(text, i + 1, "("), False
            elif c in _OPERATORS:
                i, command = i + 1, True
            else:
                j, quoted = _word_end(text, i)
                word, i = text[i:j], j
                if expect.startswith("heredoc"):
                    self.heredocs.append((re.sub(r"[\\'\"]", "", word), expect == "heredoc-"))
                elif expect == "target":
                    self.targets.append(word)
                elif not quoted:
                    self.opens += (command and word in _OPENERS) or word == "{"
                    self.closes += (command and word in _CLOSERS) or word == "}"
                if not expect:
                    command = not quoted and word in _LEADS
                expect = ""


def _word_end(text: str, i: int) -> tuple[int, bool]:
    """Where the word starting at i ends, and whether any of it is quoted or substituted."""
    quoted, n = False, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                raise _Unterminated("line continues past the end of the file")
            i += 2
        elif c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise _Unterminated("unterminated single quote")
            i, quoted = j + 1, True
        elif c in '"`':
            i, quoted = _skip(text, i + 1, c), True
        elif c == "$" and text[i + 1:i + 2] in ("(", "{"):
            i, quoted = _skip(text, i + 2, text[i + 1]), True
        elif c in " \t\n" or c in _OPERATORS:
            break
        else:
            i += 1
    return i, quoted


_CLOSE = {'"': '"', "`": "`", "(": ")", "{": "}"}
_NAMES = {'"': "double quote", "`": "backtick", "(": "$(", "{": "${"}


def _skip(text: str, i: int, opener: str) -> int:
    """The index after what closes `opener` (`"`, a backtick, `$(`, `${`), the text at i onwards
    being inside it."""
    close, nest, n = _CLOSE[opener], 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == close and nest == 0:
            return i + 1
        if opener == "`":
            pass
        elif c == "$" and text[i + 1:i + 2] in ("(", "{"):
            i = _skip(text, i + 2, text[i + 1])
            continue
        elif c == "`":
            i = _skip(text, i + 1, c)
            continue
        elif opener != '"' and c == '"':
            i = _skip(text, i + 1, c)
            continue
        elif opener != '"' and c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise _Unterminated("unterminated single quote")
            i = j + 1
            continue
        elif opener == "(" and c in "()":
            nest += 1 if c == "(" else -1
        i += 1
    raise _Unterminated(f"unterminated {_NAMES[opener]}")


def _shell_word(raw: str) -> tuple[str, bool]:
    """Remove shell quoting from a value, giving compose interpolation syntax.

    Returns the text (literal `$` escaped as `$$`) and whether the value runs a command.
    Unquoted: ` #` starts a comment, trailing blanks dropped, `\\x` is x.
    """
    out: list[str] = []
    runs = False
    kept = 0                              # length of output that trailing-blank stripping must keep
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "'":
            j = raw.find("'", i + 1)
            if j < 0:
                raise _Unterminated("unterminated single quote")
            out.append(raw[i + 1:j].replace("$", "$$"))
            i = j + 1
            kept = len("".join(out))
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise _Unterminated("unterminated double quote")
                c = raw[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and raw[i + 1] in '"\\$`':
                    out.append("$$" if raw[i + 1] == "$" else raw[i + 1])
                    i += 2
                    continue
                runs = runs or c == "`" or raw.startswith("$(", i)
                out.append(c)
                i += 1
            kept = len("".join(out))
        elif c == "#" and i > 0 and raw[i - 1] in " \t":
            break
        elif c == "\\" and i + 1 < n:
            out.append("$$" if raw[i + 1] == "$" else raw[i + 1])
            i += 2
        else:
            runs = runs or c == "`" or raw.startswith("$(", i)
            out.append(c)
            i += 1
    text = "".join(out)
    return text[:kept] + text[kept:].rstrip(), runs
