import pytest

from compose2helm.compose.interpolate import check_required, is_set, lookup, parse, resolve
from compose2helm.compose.model import Template, Var
from compose2helm.errors import InputError


def V(**kw):
    return {k: parse(v) for k, v in kw.items()}


@pytest.mark.parametrize("text,parts", [
    ("${V}", (Var("V"),)),
    ("$V", (Var("V"),)),
    ("${V:-d}", (Var("V", ":-", Template(("d",))),)),
    ("${V-d}", (Var("V", "-", Template(("d",))),)),
    ("${V:?msg here}", (Var("V", ":?", Template(("msg here",))),)),
    ("${V?msg}", (Var("V", "?", Template(("msg",))),)),
    ("${V:+alt}", (Var("V", ":+", Template(("alt",))),)),
    ("${V+alt}", (Var("V", "+", Template(("alt",))),)),
    ("${V:-}", (Var("V", ":-", Template(())),)),
    ("a$$b", ("a$b",)),
    ("cost $5 and $ and $}", ("cost $5 and $ and $}",)),
    ("x$V-y", ("x", Var("V"), "-y")),
    ("${A:-${HOST_IP}}", (Var("A", ":-", Template((Var("HOST_IP"),))),)),
    ("${A:-http://${B}:80}/p",
     (Var("A", ":-", Template(("http://", Var("B"), ":80"))), "/p")),
])
def test_parse_forms(text, parts):
    t = parse(text)
    assert t.parts == parts
    assert parse(t.source()) == t


def test_adjacent_literals_merged():
    assert parse("a$$b$$").parts == ("a$b$",)
    assert parse("").parts == ()


@pytest.mark.parametrize("text", ["${A", "x ${A:-${B}", "${A:-", "${}", "${A B}", "${1A}"])
def test_parse_errors(text):
    with pytest.raises(InputError):
        parse(text)


def test_resolve_defaults_and_alternatives():
    v = V(EMPTY="", SET="x")
    r = lambda s: resolve(parse(s), v)  # noqa: E731
    assert r("${UNSET:-d}|${EMPTY:-d}|${SET:-d}") == "d|d|x"
    assert r("${UNSET-d}|${EMPTY-d}|${SET-d}") == "d||x"
    assert r("${UNSET:+a}|${EMPTY:+a}|${SET:+a}") == "||a"
    assert r("${UNSET+a}|${EMPTY+a}|${SET+a}") == "|a|a"
    assert r("[$UNSET]") == "[]"
    assert r("${UNSET:-${SET}/y}") == "x/y"


def test_resolve_recursive_variables():
    v = V(host_ip="10.0.0.1", PORT="8090", URL="http://${host_ip}:${PORT}", U2="$URL/v1")
    assert resolve(parse("${U2}"), v) == "http://10.0.0.1:8090/v1"


def test_required():
    v = V(EMPTY="", SET="x")
    with pytest.raises(InputError, match="required variable NOPE is not set: need it"):
        resolve(parse("${NOPE?need it}"), v)
    with pytest.raises(InputError, match="EMPTY"):
        resolve(parse("${EMPTY:?x}"), v)
    assert resolve(parse("${EMPTY?x}"), v) == ""
    assert resolve(parse("${NOPE:?x}"), v, strict_required=False) == ""
    assert resolve(parse("${SET:?x}"), v) == "x"


def test_check_required_is_lazy_and_follows_definitions():
    v = V(SET="x", INDIRECT="${MISSING:?set MISSING}")
    check_required(parse("${SET:-${MISSING:?no}}"), v)
    with pytest.raises(InputError, match="MISSING"):
        check_required(parse("${UNSET:-${MISSING:?no}}"), v)
    with pytest.raises(InputError, match="set MISSING"):
        check_required(parse("$INDIRECT"), v)


def test_self_reference_is_unset():
    v = V(HF_TOKEN="$HF_TOKEN", LLM_MODEL_ID="${LLM_MODEL_ID}", D="${D:-5}",
          no_proxy="${no_proxy},svc")
    assert lookup("HF_TOKEN", v) is None and not is_set("HF_TOKEN", v)
    assert lookup("LLM_MODEL_ID", v) is None
    assert resolve(parse("${HF_TOKEN-unset}|${LLM_MODEL_ID:-m}"), v) == "unset|m"
    assert resolve(parse("$D"), v) == "5"
    assert resolve(parse("$no_proxy"), v) == ",svc"
    assert lookup("no_proxy", v) == Template((",svc",))


def test_cycle_is_unset():
    v = V(A="$B", B="$A", C="${A:-c}", E="x$E$F", F="$E")
    assert lookup("A", v) is None and lookup("B", v) is None
    assert resolve(parse("$C"), v) == "c"
    assert resolve(parse("[$E]"), v) == "[x]"


def test_lookup_keeps_other_references():
    v = V(URL="http://${host_ip}:80")
    assert lookup("URL", v) == parse("http://${host_ip}:80")
    assert lookup("nothing", v) is None
    assert is_set("URL", v)
