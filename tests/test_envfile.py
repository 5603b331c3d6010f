import pytest

from compose2helm.compose.envfile import read_env_file
from compose2helm.compose.interpolate import parse
from compose2helm.compose.model import Template
from compose2helm.errors import InputError


def load(tmp_path, text):
    p = tmp_path / "set_env.sh"
    p.write_text(text)
    return read_env_file(p)


def test_forms(tmp_path):
    values, warnings = load(tmp_path, """
# comment

KEY=value
export EXPORTED=yes
DQ="say \\"hi\\" to ${name}"
SQ='literal ${not_a_var} $(not run)'
UNQ=plain value   # trailing comment
HASH=a#b
EMPTY=
URL=http://${host_ip}:8090
CACHE=${model_cache:-"./data"}
ESC="cost \\$5"
""")
    assert list(values) == ["KEY", "EXPORTED", "DQ", "SQ", "UNQ", "HASH", "EMPTY", "URL",
                            "CACHE", "ESC"]
    assert values["KEY"] == Template.literal("value")
    assert values["EXPORTED"] == Template.literal("yes")
    assert values["DQ"] == parse('say "hi" to ${name}')
    assert values["SQ"] == Template.literal("literal ${not_a_var} $(not run)")
    assert values["SQ"].is_literal()
    assert values["UNQ"] == Template.literal("plain value")
    assert values["HASH"] == Template.literal("a#b")
    assert values["EMPTY"] == Template(())
    assert values["URL"] == parse("http://${host_ip}:8090")
    assert values["CACHE"] == parse("${model_cache:-./data}")
    assert values["ESC"] == Template.literal("cost $5")
    assert warnings == []


def test_multiline_double_quotes(tmp_path):
    values, _ = load(tmp_path, 'A="line1\nline2"\nB=2\n')
    assert values["A"] == Template.literal("line1\nline2")
    assert values["B"] == Template.literal("2")


def test_later_assignment_wins(tmp_path):
    values, _ = load(tmp_path, "A=1\nB=2\nA=3\n")
    assert values == {"A": Template.literal("3"), "B": Template.literal("2")}


def test_shell_lines_skipped_with_warnings(tmp_path):
    values, warnings = load(tmp_path, """
pushd ../ > /dev/null
source .set_env.sh
if [ -z "$X" ]; then
  export X=1
fi
setup() {
}
host_ip=old
export host_ip=$(hostname -I | awk '{print $1}')
TICK=`date`
KEEP=1
""")
    assert values == {"X": Template.literal("1"), "KEEP": Template.literal("1")}
    assert len(warnings) == 8
    assert any("host_ip" in w and "left unset" in w for w in warnings)


@pytest.mark.parametrize("line", ["KEY VALUE", "=x", "1ABC=x", "KEY = value"])
def test_malformed_line(tmp_path, line):
    with pytest.raises(InputError) as e:
        load(tmp_path, f"A=1\n\n{line}\n")
    assert e.value.file.endswith("set_env.sh")
    assert e.value.key == "line 3"


def test_unterminated_quote_and_bad_interpolation(tmp_path):
    with pytest.raises(InputError) as e:
        load(tmp_path, 'A="never closed\nB=1\n')
    assert e.value.key == "line 1"
    with pytest.raises(InputError) as e:
        load(tmp_path, "A=1\nB=${oops\n")
    assert e.value.key == "line 2"


def test_unreadable(tmp_path):
    with pytest.raises(InputError) as e:
        read_env_file(tmp_path / "missing.env")
    assert "missing.env" in str(e.value)
    bad = tmp_path / "bin.env"
    bad.write_bytes(b"A=\xff\xfe\n")
    with pytest.raises(InputError):
        read_env_file(bad)
