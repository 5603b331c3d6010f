import textwrap

import pytest

from compose2helm.compose.envfile import read_env_file
from compose2helm.compose.interpolate import parse
from compose2helm.compose.load import load_project
from compose2helm.compose.model import Template
from compose2helm.errors import InputError

from conftest import CORPUS, needs_shared


def load(tmp_path, text, name="set_env.sh"):
    p = tmp_path / name
    p.write_text(text)
    return read_env_file(p)


def script(tmp_path, text):
    """Values (as source text) of a dedented set_env.sh, and what its one warning says was skipped:
    how many lines, and the first five line numbers."""
    values, warnings = load(tmp_path, textwrap.dedent(text).lstrip("\n"))
    assert len(warnings) == 1, warnings
    count = int(warnings[0].split(": ", 1)[1].split(" line", 1)[0])
    listed = warnings[0].split("(shell is not run): ", 1)[1].split(";")[0]
    return {k: v.source() for k, v in values.items()}, count, [int(n) for n in listed.split(", ") if n != "…"]


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


# --- shell scripts: what is skipped -----------------------------------------------------------------

CONSTRUCTS = {
    "function definition, body and call": ("""
        check_var() {
          local var_name="$1"
          export HF_TOKEN=from_function
          if [ -z "${!var_name}" ]; then
            echo "Error: $var_name is not set"
          fi
        }
        check_var "HF_TOKEN"
        prompt_for_env_var "EMBEDDING_MODEL_ID" "Enter the EMBEDDING_MODEL_ID" "BAAI/bge-base-en-v1.5" false
        A=1
        """, {"A": "1"}, [1, 2, 3, 4, 5, 6, 7, 8, 9]),
    "function keyword, brace on its own line": ("""
        function setup
        {
          X=1
        }
        setup2()
        {
          Y=1
        }
        A=1
        """, {"A": "1"}, [1, 2, 3, 4, 5, 6, 7, 8]),
    "if, else, nested: assignments not taken, an earlier value stands": ("""
        TP_NUM=0
        if (( numa_count % 2 == 0 )); then
            if (( numa_count == 6 )); then
                export TP_NUM=2
            else
                export TP_NUM=$numa_count
            fi
        elif [[ "$x" == "done" ]]; then
            TP_NUM=4
        else
            export PP_NUM=$numa_count
        fi
        export MAX_SEQS=256
        """, {"TP_NUM": "0", "MAX_SEQS": "256"}, list(range(2, 13))),
    "one-line conditionals": ("""
        if [ -z "$X" ]; then export X=1; fi
        [ -z "$Y" ] && export Y=1
        test -n "$Z" || Z=1
        A=1
        """, {"A": "1"}, [1, 2, 3]),
    "case": ("""
        case "$platform" in
          gaudi) export DEVICE=hpu ;;
          *)
            DEVICE=cpu
            ;;
        esac
        A=1
        """, {"A": "1"}, [1, 2, 3, 4, 5, 6]),
    "loops": ("""
        for m in a b; do
          export MODEL=$m
        done
        while read -r line; do X=1; done < list.txt
        until false
        do
          Y=1
        done
        A=1
        """, {"A": "1"}, [1, 2, 3, 4, 5, 6, 7, 8]),
    "source, dot, pushd, popd, cd": ("""
        pushd "$SCRIPT_DIR/../../../../../" > /dev/null
        source .set_env.sh
        . ./common.sh
        popd > /dev/null
        cd -- "$(dirname -- "${BASH_SOURCE[0]}")" &> /dev/null
        A=1
        """, {"A": "1"}, [1, 2, 3, 4, 5]),
    "echo, set, unset, bare export, declare": ("""
        set -e
        echo "Error: HF_TOKEN is not set. Please set HF_TOKEN."
        echo done
        export host_ip # Example: host_ip="192.168.1.1"
        unset A
        declare -g numa_count=$(lscpu | grep "NUMA node(s):" | awk '{print $3}')
        A=1
        """, {"A": "1"}, [1, 2, 3, 4, 5, 6]),
    "reserved words in quotes or as arguments do not open or close": ("""
        echo "if fi done }" 'case' then
        printf '%s\\n' do esac {
        if true; then
          echo "fi" 'done' $(echo fi) `echo esac` ${x:-fi}
          X=1
        fi
        A=1
        """, {"A": "1"}, [1, 2, 3, 4, 5, 6]),
    "arithmetic, whose << is no heredoc": ("""
        (( bits = 1 << 4 ))
        if (( numa_count << 1 > 4 )); then X=1; fi
        A=1
        """, {"A": "1"}, [1, 2]),
    "a brace group": ("""
        { export X=1; export Y=2; } > /dev/null
        {
          Z=1
        }
        A=1
        """, {"A": "1"}, [1, 2, 3, 4]),
    "a command over several lines": ("""
        echo "first line
        NOT_A=variable"
        docker run \\
          FOO=bar \\
          image
        A=1
        """, {"A": "1"}, [1, 2, 3, 4, 5]),
    "a heredoc written to .env is read": ("""
        cat <<EOF > .env
        #!/bin/bash
        export TAG=${TAG}
        export no_proxy="${no_proxy},backend"
        EOF
        A=1
        """, {"TAG": "${TAG}", "no_proxy": "${no_proxy},backend", "A": "1"}, [1, 5]),
    "a heredoc fed to a command is not": ("""
        python3 - <<'PY'
        X=1
        print(X)
        PY
        cat > config.yaml <<-EOF
        	Y=1
        	EOF
        A=1
        """, {"A": "1"}, [1, 2, 3, 4, 5, 6, 7]),
    "a heredoc to .env under a condition is not": ("""
        if [ -n "$WRITE" ]; then
          cat <<EOF > .env
        X=1
        EOF
        fi
        A=1
        """, {"A": "1"}, [1, 2, 3, 4, 5]),
}


@pytest.mark.parametrize("text, values, skipped", CONSTRUCTS.values(), ids=CONSTRUCTS.keys())
def test_shell_constructs_skipped(tmp_path, text, values, skipped):
    assert script(tmp_path, text) == (values, len(skipped), skipped[:5])


def test_command_substitution_left_unset(tmp_path):
    values, warnings = load(tmp_path, textwrap.dedent("""\
        host_ip=old
        export host_ip=$(hostname -I | awk '{print $1}')
        TICK=`date`
        SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" &> /dev/null && pwd)
        if true; then
          JAEGER_IP=$(ip route get 8.8.8.8)
        fi
        KEEP=1
        """))
    assert values == {"KEEP": Template.literal("1")}
    assert warnings == [f"{tmp_path / 'set_env.sh'}: 3 lines skipped, only unconditional assignments are read "
                        "(shell is not run): 5, 6, 7; left unset (the value needs a command run): "
                        "host_ip (line 2), TICK (line 3), SCRIPT_DIR (line 4)"]


def test_one_warning_per_script(tmp_path):
    text = "A=1\n" + "echo hi\n" * 14 + "B=2\n"
    values, warnings = load(tmp_path, text)
    assert values == {"A": Template.literal("1"), "B": Template.literal("2")}
    assert warnings == [f"{tmp_path / 'set_env.sh'}: 14 lines skipped, only unconditional assignments "
                        "are read (shell is not run): 2, 3, 4, 5, 6, …"]
    assert load(tmp_path, "#!/bin/bash\nA=1\n") == ({"A": Template.literal("1")}, [])


@pytest.mark.parametrize("text, line", [('echo "never closed\nA=1\n', 1), ("A=1\ncat <(sort `ls x\n", 2),
                                        ("A=1\nX=$(a\nB=1\necho $(b c\n", 4)])
def test_skipped_command_that_never_ends(tmp_path, text, line):
    with pytest.raises(InputError) as e:
        load(tmp_path, text)
    assert e.value.key == f"line {line}"


def test_script_warning_reaches_the_project(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    image: x:${TAG}\n")
    (tmp_path / "set_env.sh").write_text('check_var "HF_TOKEN"\nexport TAG=1\n')
    project = load_project([tmp_path / "compose.yaml"], [tmp_path / "set_env.sh"])
    assert project.variables["TAG"] == Template.literal("1")
    assert [w for w in project.warnings if "set_env.sh" in w] == [
        f"{tmp_path / 'set_env.sh'}: 1 line skipped, only unconditional assignments are read "
        "(shell is not run): 1"]


# --- dotenv files stay strict -----------------------------------------------------------------------

@pytest.mark.parametrize("line", ["KEY VALUE", "=x", "1ABC=x", "KEY = value", 'check_var "HF_TOKEN"',
                                  "source .set_env.sh", "if [ -z \"$X\" ]; then", "fi", "echo hi",
                                  "export host_ip", "popd > /dev/null"])
@pytest.mark.parametrize("name", ["set_env.env", ".env", "set_env"])
def test_dotenv_malformed_line(tmp_path, line, name):
    with pytest.raises(InputError) as e:
        load(tmp_path, f"A=1\n\n{line}\n", name=name)
    assert e.value.file.endswith(name)
    assert e.value.key == "line 3"
    assert "not a KEY=VALUE line" in str(e.value)


def test_unterminated_quote_and_bad_interpolation(tmp_path):
    for name in ("set_env.sh", "set_env.env"):
        with pytest.raises(InputError) as e:
            load(tmp_path, 'A="never closed\nB=1\n', name)
        assert e.value.key == "line 1"
        with pytest.raises(InputError) as e:
            load(tmp_path, "A=1\nB=${oops\n", name)
        assert e.value.key == "line 2"


def test_unreadable(tmp_path):
    with pytest.raises(InputError) as e:
        read_env_file(tmp_path / "missing.env")
    assert "missing.env" in str(e.value)
    bad = tmp_path / "bin.env"
    bad.write_bytes(b"A=\xff\xfe\n")
    with pytest.raises(InputError):
        read_env_file(bad)


# --- the examples' real scripts give what their dotenv twins give ----------------------------------

PAIRS = sorted(sh for sh in CORPUS.rglob("set_env*.sh") if sh.with_suffix(".env").is_file()) \
    if CORPUS.is_dir() else []


@needs_shared
def test_corpus_has_script_and_dotenv_pairs():
    assert len(PAIRS) >= 30
    names = {str(p.relative_to(CORPUS)) for p in PAIRS}
    assert "head/ChatQnA/docker_compose/intel/hpu/gaudi/set_env.sh" in names   # calls functions
    assert "head/ChatQnA/docker_compose/intel/cpu/xeon/set_env.sh" in names    # if on numa_count


@needs_shared
@pytest.mark.parametrize("sh", PAIRS, ids=lambda p: str(p.relative_to(CORPUS)))
def test_real_script_matches_its_dotenv(sh):
    script_values, _ = read_env_file(sh)
    dotenv_values, dotenv_warnings = read_env_file(sh.with_suffix(".env"))
    assert dotenv_warnings == []
    assert script_values == dotenv_values
    assert list(script_values) == list(dotenv_values)
