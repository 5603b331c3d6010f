"""yamlout.dump lays out mappings and sequences itself: it must write what PyYAML writes."""
from __future__ import annotations

import math

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compose2helm import yamlout


WORDS = st.sampled_from(["y", "n", "yes", "No", "on", "null", "~", "", "true", "1.0", "017", "0x1f", ".inf",
                         "- a", "a: b", "#c", "a #b", "'q'", '"d"', "x\ny", "x\n", " lead", "trail ", "{a}",
                         "[b]", "*c", "&d", "!e", "%f", "@g", "`h", "http://tgi:80/v1", "${X:-1}", "é",
                         "{{ .Release.Name }}-tgi", "k" * 130, "2024-01-01", "<<", "=", "?", "a\tb"])
TEXT = st.one_of(WORDS, st.text(max_size=12))
SCALARS = st.one_of(TEXT, st.integers(), st.booleans(), st.none(),
                    st.floats(allow_nan=False), st.sampled_from([math.inf, -math.inf, math.nan, 1e20, 0.5, -0.0]))
DATA = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.one_of(TEXT, st.integers()), inner,
                                                                     max_size=4)),
                    max_leaves=25)


@settings(max_examples=600, deadline=None)
@given(data=DATA)
def test_dump_writes_what_pyyaml_writes(data):
    assert yamlout.dump(data) == yamlout._pyyaml(data)


def test_the_layout_covers_what_overlays_hold():
    """Block scalars and keys PyYAML writes as "? key" go to PyYAML whole; the rest is laid out here."""
    calls = []
    real = yamlout._pyyaml

    def counting(data):
        calls.append(data)
        return real(data)

    yamlout._pyyaml, saved = counting, real
    try:
        doc = {"tgi": {"enabled": True, "env": {"A": "http://x:80", "B": "y", "C": 1}, "args": ["--p", 80],
                       "resources": {"limits": {"habana.ai/gaudi": 1}}, "extra": [], "more": {}}}
        assert yamlout.dump(doc) == real(doc)
        assert all(isinstance(c, list) and len(c) == 1 for c in calls)   # single scalars only
        calls.clear()
        assert yamlout.dump({"cmd": "line 1\nline 2"}) == real({"cmd": "line 1\nline 2"})
        assert calls == [["line 1\nline 2"], {"cmd": "line 1\nline 2"}]
    finally:
        yamlout._pyyaml = saved
    assert yaml.safe_load(yamlout.dump(doc)) == doc
