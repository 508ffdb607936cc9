"""Malformed study files never crash the CLI: a property-based fuzz test (Hypothesis).

Each example takes a built-in study as the TOML file `sweeplab studies NAME` writes, mutates
it (a value's type swapped at any depth, a key deleted or added, numbers at their extremes,
strings with control characters, the text truncated or spliced with binary junk) and feeds it
to the real CLI entry point, ``sweeplab.cli.main``. Allowed outcomes: exit 0, or exit 2 with
exactly one line ``sweeplab CMD: error: ...`` on stderr and no store file created. Any other
exception, a traceback or a second line fails the test and Hypothesis shrinks the file.

``SWEEPLAB_FUZZ_EXAMPLES`` sets the example budget (default 300, a soak run: 2000).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
from pathlib import Path
from typing import Any

import pytest
import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweeplab import cli
from sweeplab import study as study_mod

EXAMPLES = int(os.environ.get("SWEEPLAB_FUZZ_EXAMPLES", "300"))
TRAIN_AT_MOST = 3  # valid mutants trained for real through `run` (each a few seconds)
BUILTIN = sorted(study_mod.BUILTIN)

# Values at the edges of what TOML can hold and the validators must refuse or accept.
EXTREME_NUMBERS = [0, -1, 1, 2, 10, 2**31, 2**63 - 1, -(2**63), 10**20, 10**400, 1e-320,
                   5e-324, 1e308, -1e308, math.inf, -math.inf, math.nan, 0.5, -0.0, 1.0]
STRINGS = ["", " ", "mnist", "relu", "adam", "layers.1.units", "layers.99.units", "layers.x",
           "a\nb", "\x00", "\x1b[31mred", "tab\there", "\u202e", "é", "😀", "<script>",
           "layers.١.units", "x" * 300]
ODD = [True, False, [], {}, [1, "a"], {"a": 1}, [[1]], {"type": "dense"},
       dt.datetime(1979, 5, 27, 7, 32), dt.date(2020, 1, 1), dt.time(7, 32)]

junk = st.one_of(
    st.sampled_from(EXTREME_NUMBERS),
    st.integers(min_value=-5, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(STRINGS),
    st.text(max_size=12),
    st.sampled_from(ODD).map(copy.deepcopy),  # a fresh object: mutations must not share it
    st.lists(st.integers(-3, 300), max_size=4),
)


# --- TOML writing (the file a user would have edited) -------------------------------------

def _toml_str(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and ch != "\x7f":
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_str(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def to_toml(d: dict[str, Any]) -> str:
    """``d`` as TOML: top-level values, then [model] and [[axes]] as tables when they are."""
    lines, tables = [], []
    for k, v in d.items():
        if k == "model" and isinstance(v, dict):
            tables.append(("[model]", v))
        elif k == "axes" and isinstance(v, list) and v and all(isinstance(a, dict) for a in v):
            tables += [("[[axes]]", a) for a in v]
        else:
            lines.append(f"{_toml_str(k)} = {_toml_value(v)}")
    for header, table in tables:
        lines += ["", header] + [f"{_toml_str(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# --- mutations -----------------------------------------------------------------------------

def _nodes(x: Any, path: tuple = ()) -> list[tuple]:
    """Every container path inside ``x`` (the root included)."""
    out = [path] if isinstance(x, (dict, list)) else []
    if isinstance(x, dict):
        for k, v in x.items():
            out += _nodes(v, path + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out += _nodes(v, path + (i,))
    return out


def _get(x: Any, path: tuple) -> Any:
    for p in path:
        x = x[p]
    return x


@st.composite
def mutated_study(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(BUILTIN))
    d = tomllib.loads(study_mod.study_to_toml(study_mod.BUILTIN[name]))
    for _ in range(draw(st.integers(1, 3))):
        node = _get(d, draw(st.sampled_from(_nodes(d))))
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "wrap", "extreme"]))
        if isinstance(node, dict):
            keys = list(node)
            if op == "add" or not keys:
                node[draw(st.sampled_from(["extra", "units", "rate", "type", "paths", "path",
                                           "labels", "preset", "\x00key", "name"]))] = draw(junk)
                continue
            key = draw(st.sampled_from(keys))
        else:
            if op == "add" or not node:
                node.append(draw(junk))
                continue
            key = draw(st.integers(0, len(node) - 1))
        if op == "delete":
            del node[key]
        elif op == "wrap":
            node[key] = draw(st.sampled_from([[node[key]], {"a": node[key]}]))
        elif op == "extreme":
            node[key] = draw(st.sampled_from(EXTREME_NUMBERS))
        else:
            node[key] = draw(junk)
    text = to_toml(d).encode()
    damage = draw(st.sampled_from(["none"] * 6 + ["truncate", "splice"]))
    if damage == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif damage == "splice":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=8)) + text[at:]
    return name, text


def _one_error_line(err: str, command: str) -> None:
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith(f"sweeplab {command}: error: "), err
    assert "Traceback" not in err


_trained = [0]
_seen = {"exit 0": 0, "exit 2": 0, "trained": 0}


@pytest.fixture(scope="module", autouse=True)
def _tally():
    """The outcomes, printed at the end (shown with ``pytest -s``; the soak figure)."""
    yield
    print(f"\nfuzz: {sum(_seen[k] for k in ('exit 0', 'exit 2'))} study files: "
          f"{_seen['exit 2']} refused with one line (exit 2), {_seen['exit 0']} valid "
          f"(exit 0), {_seen['trained']} of them trained through `run`; no traceback")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutated_study())
def test_mutated_builtin_studies_give_exit_0_or_one_error_line(tmp_path_factory, capsys,
                                                               data_dir, case):
    _, text = case
    where = tmp_path_factory.mktemp("fuzz")
    path = where / "study.toml"
    path.write_bytes(text)
    capsys.readouterr()
    rc = cli.main(["check", str(path)])
    out, err = capsys.readouterr()
    assert rc in (0, 2), (rc, out, err)
    _seen[f"exit {rc}"] += 1
    store = where / "s.db"
    run = ["run", str(path), "--store", str(store), "--data-dir", data_dir, "--quiet",
           "--seeds", "1", "--epochs", "1", "--subset", "20"]
    if rc == 2:
        _one_error_line(err, "check")
        # `run` refuses the same file the same way, before a store exists.
        assert cli.main(run) == 2
        _one_error_line(capsys.readouterr().err, "run")
        assert not store.exists() and not Path(f"{store}-wal").exists()
        return
    assert out.count("\n") == 1 and ": ok: " in out, out
    study = study_mod.load_study_file(path)
    if _trained[0] < TRAIN_AT_MOST and len(study_mod.expand(study)) <= 2 \
            and study.search is None \
            and study.base.dataset in ("mnist", "fashion_mnist", "cifar10"):
        _trained[0] += 1
        _seen["trained"] += 1
        rc = cli.main(run)
        out, err = capsys.readouterr()
        if rc == 2 and "--redefine" in err:  # a built-in's name on another definition
            _one_error_line(err, "run")
            assert not store.exists()
            rc = cli.main([*run, "--redefine"])
            out, err = capsys.readouterr()
        assert rc == 0, err
        assert "trained" in out and "1 runs" not in err


@pytest.mark.parametrize("text,key", [
    ('[model]\npreset = "mlp-relu-mse"\n[[axes]]\npaths = 1e-320\nvalues = [1]\n',
     "axes[0].paths"),
    ('dataset = { a = 1 }\n', "dataset must be a built-in name"),
    ('[model]\npreset = ["mlp-relu-mse"]\n', "model.preset"),
    ('[model]\npreset = "mlp-relu-mse"\nlayers = 3\n', "model.layers"),
    ('seeds = 12345678901234567890\n[model]\npreset = "mlp-relu-mse"\n', "seeds"),
    ('[model]\npreset = "mlp-relu-mse"\nlayers = [{ type = ["dense"] }]\n', "layers[0].type"),
    ('[model]\npreset = "mlp-relu-mse"\n[[axes]]\npath = "epochs"\nvalues = [1]\n'
     'labels = 7\n', "axes[0].labels"),
    ('baseline = [1]\n[model]\npreset = "mlp-relu-mse"\n', "baseline"),
    ('title = 3\n[model]\npreset = "mlp-relu-mse"\n', "title"),
    ('[model]\npreset = "mlp-relu-mse"\nlayers = [{ type = "dense", units = 100000000 }]\n',
     "layers[0].units"),
    ('[model]\npreset = "mlp-relu-mse"\n[[axes]]\npath = "layers.\u0661.units"\nvalues = [1]\n',
     "layers.\u0661.units"),
])
def test_the_reported_crashes_are_one_line_naming_the_key(tmp_path, capsys, text, key):
    """The kinds of traceback issue #10 lists, each now one line that names the key."""
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    assert cli.main(["run", str(path), "--store", str(tmp_path / "s.db")]) == 2
    err = capsys.readouterr().err
    _one_error_line(err, "run")
    assert str(path) in err
    assert key in err, err
    assert not (tmp_path / "s.db").exists()


def test_binary_junk_names_the_file(tmp_path, capsys):
    path = tmp_path / "junk.toml"
    path.write_bytes(b"name = \"x\"\n\xff\xfe\x00\x01")
    assert cli.main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    _one_error_line(err, "check")
    assert "junk.toml" in err and "UTF-8" in err
