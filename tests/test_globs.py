"""The rules' image and service-name patterns match as fnmatch.fnmatchcase matches them."""
from __future__ import annotations

import fnmatch

from hypothesis import given, settings, strategies as st

from compose2helm.util.globs import glob_match

# Few letters, so that pieces recur and overlap (the cases where a greedy match could go wrong).
_TEXT = st.text(alphabet="ab/*-.", max_size=12)
_PATTERN = st.text(alphabet="ab/*?[]!-.", max_size=8)


@given(_TEXT, _PATTERN)
@settings(max_examples=3000, deadline=None)
def test_any_pattern_matches_as_fnmatchcase(text, pattern):
    assert glob_match(text, pattern) == fnmatch.fnmatchcase(text, pattern)


def test_rule_shaped_patterns():
    cases = [("opea/nginx", "opea/nginx", True), ("ghcr.io/opea/nginx", "*/opea/nginx", True),
             ("opea/nginx-x", "*/opea/nginx", False), ("opea/tei-gaudi", "opea/tei*", True),
             ("aba", "a*ba", True), ("ab", "a*ba", False), ("x/y/z", "*/*", True), ("OPEA/nginx", "opea/*", False)]
    for text, pattern, expected in cases:
        assert glob_match(text, pattern) is expected, (text, pattern)
