"""Shell-style patterns on image repositories and service names, as fnmatch.fnmatchcase matches them.

Rules name their images with patterns that hold only `*` ("opea/nginx", "*/opea/nginx"). fnmatch
compiles a regular expression for each distinct pattern, which costs more than the matching in
a single conversion (160 patterns in the rules: a tenth of a short run). A pattern with only `*`
is matched here by its literal pieces; any other goes to fnmatch.
"""
from __future__ import annotations

import fnmatch


def glob_match(text: str, pattern: str) -> bool:
    """fnmatch.fnmatchcase(text, pattern): `*` matches any characters, `/` included."""
    if "?" in pattern or "[" in pattern:
        return fnmatch.fnmatchcase(text, pattern)
    if "*" not in pattern:
        return text == pattern
    pieces = pattern.split("*")
    head, tail = pieces[0], pieces[-1]
    if len(text) < len(head) + len(tail) or not text.startswith(head) or not text.endswith(tail):
        return False
    # The pieces between stars in order, each at its leftmost place: if any placement fits, this one does.
    pos, end = len(head), len(text) - len(tail)
    for piece in pieces[1:-1]:
        found = text.find(piece, pos, end)
        if found < 0:
            return False
        pos = found + len(piece)
    return True
