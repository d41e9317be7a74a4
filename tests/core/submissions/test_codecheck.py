"""Static code-analysis gate: evasion corpus, allowed corpus, API shape and robustness."""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

from proctor.core.submissions.codecheck import RULES, Finding, Report, Rule, RuleClass, analyze

CORPUS = Path(__file__).parent / "corpus"


def _rules(report: Report) -> set[str]:
    return {f.rule for f in report.findings}


def _check(source: str, forbidden_literals: Iterable[str] | None = None) -> Report:
    return analyze(textwrap.dedent(source), forbidden_literals=forbidden_literals)


# (case id, source, a rule id that must be among the violations)
FORBIDDEN: list[tuple[str, str, str]] = [
    # --- every forbidden module, plain and aliased --------------------------------------------
    ("import-os", "import os", "forbidden-import"),
    ("import-subprocess-alias", "import subprocess as sp\nsp.run(['ls'])", "forbidden-import"),
    ("import-commands", "import commands", "forbidden-import"),
    ("import-socket", "import socket", "forbidden-import"),
    ("import-http-client", "import http.client", "forbidden-import"),
    ("import-urllib-request", "import urllib.request", "forbidden-import"),
    ("from-urllib-import-request", "from urllib import request", "forbidden-import"),
    ("import-urllib-bare", "import urllib", "forbidden-import"),
    ("import-requests", "import requests", "forbidden-import"),
    ("import-ctypes-util", "from ctypes.util import find_library", "forbidden-import"),
    ("import-cffi", "import cffi", "forbidden-import"),
    ("import-pickle", "import pickle", "forbidden-import"),
    ("import-shutil", "from shutil import rmtree as r", "forbidden-import"),
    ("import-posix", "import posix\nposix.system('id')", "forbidden-import"),
    ("import-marshal", "import marshal", "forbidden-import"),
    ("import-multiprocessing", "from multiprocessing import Pool", "forbidden-import"),
    ("import-runpy", "import runpy", "forbidden-import"),
    ("star-import-os", "from os import *\nsystem('id')", "forbidden-import"),
    # --- os exceptions and their traps ---------------------------------------------------------
    ("from-os-import-system-alias", "from os import system as s\ns('id')", "forbidden-import"),
    ("from-os-import-environ", "from os import environ", "forbidden-import"),
    ("import-os-path-then-os", "import os.path, os", "forbidden-import"),
    ("os-path-binds-os", "import os.path\nos.system('id')", "forbidden-import"),
    ("os-path-binds-os-getenv", "import os.path\nos.getenv('HOME')", "forbidden-import"),
    ("os-path-exposes-os", "from os import path\npath.os.system('id')", "forbidden-import"),
    ("os-path-alias-exposes-os", "import os.path as p\np.os.popen('id')", "forbidden-import"),
    # --- encoding modules (integrity) ----------------------------------------------------------
    ("import-base64", "import base64\nbase64.b64decode('eA==')", "encoding-import"),
    ("import-binascii", "import binascii", "encoding-import"),
    ("from-codecs", "from codecs import decode\ndecode('x', 'rot13')", "encoding-import"),
    ("import-zlib-alias", "import zlib as z", "encoding-import"),
    # --- dynamic code and string-built names ---------------------------------------------------
    ("eval", "x = eval('1+1')", "dynamic-code"),
    ("exec", "exec('print(1)')", "dynamic-code"),
    ("compile", "c = compile('1', '<s>', 'eval')", "dynamic-code"),
    ("dunder-import", "m = __import__('o' + 's')\nm.system('id')", "dynamic-code"),
    ("dunder-import-reaches-os", "__import__('o' + 's').system('id')", "forbidden-import"),
    ("eval-alias", "e = eval\ne('1')", "dynamic-code"),
    ("eval-via-map", "list(map(eval, ['1']))", "dynamic-code"),
    ("importlib-alias", "from importlib import import_module as im\nim('json')", "dynamic-code"),
    ("importlib-attr", "import importlib\nimportlib.import_module('json')", "dynamic-code"),
    ("importlib-util", "import importlib.util", "dynamic-code"),
    ("builtins-eval", "import builtins\nbuiltins.eval('1')", "dynamic-code"),
    ("getattr-builtins-concat", "getattr(__builtins__, 'ev' + 'al')('1')", "dynamic-code"),
    (
        "getattr-builtins-join",
        "import builtins\ngetattr(builtins, ''.join(['e', 'x', 'e', 'c']))('1')",
        "dynamic-code",
    ),
    ("getattr-reversed", "import builtins as b\ngetattr(b, 'lave'[::-1])('1')", "dynamic-code"),
    (
        "getattr-chr-sequence",
        "import builtins\ngetattr(builtins, chr(101) + chr(118) + chr(97) + chr(108))('1')",
        "dynamic-code",
    ),
    (
        "getattr-map-chr",
        "import builtins\nf = getattr(builtins, ''.join(map(chr, [101, 118, 97, 108])))",
        "dynamic-code",
    ),
    (
        "getattr-genexp-chr",
        "import builtins\nf = getattr(builtins, ''.join(chr(c) for c in (101, 120, 101, 99)))",
        "dynamic-code",
    ),
    (
        "getattr-bytes-decode",
        "import builtins\ngetattr(builtins, bytes([101, 118, 97, 108]).decode())('1')",
        "dynamic-code",
    ),
    (
        "getattr-fromhex",
        "import builtins\ngetattr(builtins, bytes.fromhex('6576616c').decode())",
        "dynamic-code",
    ),
    ("getattr-upper-lower", "import builtins\ngetattr(builtins, 'EVAL'.lower())", "dynamic-code"),
    ("getattr-percent", "import builtins\ngetattr(builtins, '%s%s' % ('ev', 'al'))", "dynamic-code"),
    ("getattr-fstring", "import builtins\nx = 'ev'\ngetattr(builtins, f'{x}al')", "dynamic-code"),
    ("getattr-format", "import builtins\ngetattr(builtins, '{}{}'.format('ex', 'ec'))", "dynamic-code"),
    (
        "getattr-name-constant",
        "import builtins\nNAME = 'ex' + 'ec'\nrun = getattr(builtins, NAME)",
        "dynamic-code",
    ),
    ("getattr-alias", "import builtins\ng = getattr\ng(builtins, 'eval')('1')", "dynamic-code"),
    (
        "getattr-nonconstant-builtins",
        "import builtins\ndef f(n):\n    return getattr(builtins, n)",
        "builtins-access",
    ),
    (
        "getattr-unknown-name-on-module",
        "import json\ndef f(n):\n    return getattr(json, n)",
        "introspection-escape",
    ),
    ("getattr-unknown-object-eval", "def f(o):\n    return getattr(o, 'ev' + 'al')", "dynamic-code"),
    (
        "operator-attrgetter",
        "import operator\nf = operator.attrgetter('__globals__')",
        "introspection-escape",
    ),
    ("reduce-getattr", "import functools\nfunctools.reduce(getattr, ['a'], object)", "introspection-escape"),
    # --- builtins namespace access -------------------------------------------------------------
    ("globals-builtins", "globals()['__builtins__']['exec']('1')", "builtins-access"),
    ("globals-builtins-reaches-exec", "globals()['__builtins__']['exec']('1')", "dynamic-code"),
    ("globals-get", "g = globals().get('__builtins__')", "builtins-access"),
    ("globals-as-value", "g = globals()\nk = g[input()]", "builtins-access"),
    ("vars-builtins", "import builtins\nvars(builtins)['eval']('1')", "builtins-access"),
    ("vars-dunder-builtins", "d = vars(__builtins__)", "builtins-access"),
    ("builtins-dict", "__builtins__.__dict__['eval']('1')", "builtins-access"),
    ("builtins-dict-reaches-eval", "import builtins\nbuiltins.__dict__['ev' + 'al']('1')", "dynamic-code"),
    ("builtins-assignment", "import builtins\nbuiltins.open = None", "builtins-access"),
    ("setattr-builtins", "import builtins\nsetattr(builtins, 'print', None)", "builtins-access"),
    ("builtins-as-value", "import builtins\nholder = [builtins]", "builtins-access"),
    # --- introspection escapes and sys.modules -------------------------------------------------
    ("subclasses-walk", "().__class__.__bases__[0].__subclasses__()", "introspection-escape"),
    ("mro-walk", "x = ''.__class__.__mro__[-1].__subclasses__()", "introspection-escape"),
    ("func-globals", "def f():\n    pass\nf.__globals__['x']", "introspection-escape"),
    ("func-code", "def f():\n    pass\nc = f.__code__", "introspection-escape"),
    ("getattribute", "object.__getattribute__(object, 'x')", "introspection-escape"),
    ("print-self", "m = print.__self__", "introspection-escape"),
    (
        "getattr-dunder-string",
        "c = getattr(getattr((), '__cl' + 'ass__'), '__ba' + 'ses__')",
        "introspection-escape",
    ),
    ("getattr-nonconstant-on-literal", "def f(a):\n    return getattr((), a)", "introspection-escape"),
    ("sys-modules", "import sys\nsys.modules['os'].system('id')", "introspection-escape"),
    ("sys-modules-reaches-os", "import sys\nsys.modules['o' + 's'].system('id')", "forbidden-import"),
    ("sys-modules-from", "from sys import modules\nmodules['os']", "introspection-escape"),
    ("sys-getframe", "import sys\nf = sys._getframe().f_back.f_globals", "introspection-escape"),
    ("sys-as-value", "import sys\ns = sys\ns.modules", "introspection-escape"),
    (
        "traceback-frame",
        "try:\n    1 / 0\nexcept Exception as e:\n    g = e.__traceback__.tb_frame",
        "introspection-escape",
    ),
    ("gc-objects", "import gc\nobjs = gc.get_objects()", "introspection-escape"),
    ("loader", "__loader__.load_module('os')", "introspection-escape"),
    ("private-module-attr", "import collections\ncollections._sys.modules", "introspection-escape"),
    ("logging-os", "import logging\nlogging.os.system('id')", "forbidden-import"),
    ("from-os-path-import-os", "from os.path import os", "forbidden-import"),
    ("json-codecs", "import json\njson.codecs.decode('uryyb', 'rot13')", "encoding-import"),
    ("fullwidth-eval", "ｅｖａｌ('1')", "dynamic-code"),
    ("asyncio-subprocess", "import asyncio\nasyncio.create_subprocess_shell('id')", "forbidden-call"),
    ("asyncio-subprocess-alias", "from asyncio import create_subprocess_exec as cse", "forbidden-call"),
    ("loop-subprocess", "async def f(loop):\n    await loop.subprocess_shell(None, 'id')", "forbidden-call"),
    ("breakpoint", "breakpoint()", "forbidden-call"),
    (
        "types-codetype",
        "import types\ntypes.CodeType(0, 0, 0, 0, 0, 0, b'', (), (), (), '', '', '', 0, b'', b'', (), ())",
        "dynamic-code",
    ),
    # --- nested scopes ------------------------------------------------------------------------
    (
        "nested-function-class-function",
        """
        def outer():
            class Inner:
                def method(self):
                    def deepest():
                        return __import__('subprocess')
                    return deepest
            return Inner
        """,
        "dynamic-code",
    ),
    ("lambda", "f = lambda: eval('1')", "dynamic-code"),
    (
        "lambda-returns-module",
        "import importlib\nf = lambda: importlib\nf().import_module('json')",
        "dynamic-code",
    ),
    (
        "function-returns-alias",
        "import builtins\ndef g():\n    return builtins\ng().exec('1')",
        "dynamic-code",
    ),
    ("comprehension", "r = [exec(s) for s in ['1']]", "dynamic-code"),
    ("comprehension-target-alias", "import builtins\nr = [m.eval('1') for m in [builtins]]", "dynamic-code"),
    ("decorator", "@eval\ndef f():\n    pass", "dynamic-code"),
    ("default-argument", "def f(run=exec):\n    run('1')", "dynamic-code"),
    (
        "default-argument-module",
        "import importlib\ndef f(m=importlib):\n    return m.import_module('x')",
        "dynamic-code",
    ),
    ("class-body", "class A:\n    runner = compile\n", "dynamic-code"),
    ("global-rebinding", "def f():\n    global E\n    E = eval\ndef g():\n    return E('1')", "dynamic-code"),
    (
        "nonlocal-rebinding",
        "def f():\n    x = None\n    def g():\n        nonlocal x\n        x = exec\n    return x",
        "dynamic-code",
    ),
    ("walrus", "if (r := eval):\n    r('1')", "dynamic-code"),
    (
        "container-alias",
        "import importlib\nd = {'m': importlib}\nd['m'].import_module('json')",
        "dynamic-code",
    ),
    ("shadow-after-use", "x = compile('1', 's', 'exec')\nfrom re import compile", "dynamic-code"),
    # --- file writes --------------------------------------------------------------------------
    ("open-w-positional", "open('out.txt', 'w')", "file-write"),
    ("open-w-keyword", "open('out.txt', mode='w')", "file-write"),
    ("open-append", "with open('log', 'a') as f:\n    f.write('x')", "file-write"),
    ("open-r-plus", "open('data.json', 'r+')", "file-write"),
    ("open-wb", "open('blob', 'wb')", "file-write"),
    ("open-exclusive", "open('new', 'x')", "file-write"),
    ("open-nonconstant-mode", "def f(p, m):\n    return open(p, m)", "file-write"),
    ("open-mode-variable", "MODE = 'a' + 'b'\nopen('f', MODE)", "file-write"),
    ("open-kwargs-splat", "def f(**kw):\n    return open('f', **kw)", "file-write"),
    ("open-alias", "o = open\no('f', 'w')", "file-write"),
    ("open-mode-folded-plus", "open('f', 'r' + '+')", "file-write"),
    ("print-into-written-file", "print('x', file=open('f', 'w'))", "file-write"),
    ("io-fileio", "import io\nio.FileIO('f', 'w')", "file-write"),
    ("io-open", "import io\nio.open('f', 'w')", "file-write"),
    ("path-write-text", "from pathlib import Path\nPath('f').write_text('x')", "file-write"),
    ("path-write-bytes", "def f(p):\n    p.write_bytes(b'x')", "file-write"),
    ("path-open-append", "import pathlib\np = pathlib.Path('f')\np.open('a')", "file-write"),
    ("path-open-unknown-receiver", "def f(p):\n    return p.open('w')", "file-write"),
    ("path-unbound-open", "import pathlib\npathlib.Path.open(pathlib.Path('f'), 'w')", "file-write"),
    ("path-rename", "from pathlib import Path\n(Path('a') / 'b').rename('c')", "file-write"),
    ("tempfile", "import tempfile\ntempfile.NamedTemporaryFile()", "file-write"),
]

# (case id, source, exact set of flag rules expected)
ALLOWED: list[tuple[str, str, set[str]]] = [
    ("os-path", "import os.path\np = os.path.join('a', 'b')", set()),
    ("os-path-alias", "import os.path as osp\np = osp.exists('a')", set()),
    ("from-os-import-path", "from os import path\np = path.basename('a/b')", set()),
    ("from-os-path-import", "from os.path import join, dirname\np = join(dirname('a'), 'b')", set()),
    ("from-os-import-getenv", "from os import getenv\nkey = getenv('API_KEY')", {"environment"}),
    ("urllib-parse", "import urllib.parse\nq = urllib.parse.quote('a b')", set()),
    ("from-urllib-import-parse", "from urllib import parse\nq = parse.urlencode({'a': 1})", set()),
    ("from-urllib-parse-import", "from urllib.parse import urlparse as up\nu = up('http://x')", set()),
    ("open-read-default", "def f(p):\n    return open(p).read()", set()),
    ("open-read-binary", "def f(p):\n    return open(p, 'rb').read()", set()),
    (
        "open-mode-keyword-read",
        "def f(p):\n    with open(p, mode='r', encoding='utf-8') as fh:\n        return fh.read()",
        set(),
    ),
    ("open-mode-constant-name", "MODE = 'r'\ndef f(p):\n    return open(p, MODE)", set()),
    (
        "path-read",
        "from pathlib import Path\nt = Path('a').read_text()\nwith Path('a').open() as f:\n    pass",
        set(),
    ),
    ("image-open", "def f(Image, p):\n    return Image.open(p)", set()),
    (
        "re-compile-shadow",
        "from re import compile\nPAT = compile(r'\\d+')\ndef f(s):\n    return PAT.match(s)",
        set(),
    ),
    ("getattr-user-object", "def f(obj, field):\n    return getattr(obj, field, None)", set()),
    ("getattr-constant", "import math\ndef f():\n    return getattr(math, 'pi')", set()),
    ("vars-self", "class A:\n    def d(self):\n        return dict(vars(self))", set()),
    ("globals-constant-key", "CACHE = {}\ndef f():\n    return globals()['CACHE']", set()),
    ("str-replace", "s = 'a.b'.replace('.', '/')", set()),
    ("sys-argv", "import sys\nargs = sys.argv[1:]\nprint('x', file=sys.stderr)", set()),
    ("monotonic", "import time\nt0 = time.monotonic()\ntime.sleep(0)", set()),
    ("wall-clock-time", "import time\nnow = time.time()", {"wall-clock"}),
    ("wall-clock-from-time", "from time import gmtime\nhour = gmtime().tm_hour", {"wall-clock"}),
    ("wall-clock-datetime", "from datetime import datetime\nh = datetime.now().hour", {"wall-clock"}),
    ("wall-clock-date-today", "import datetime\nd = datetime.date.today()", {"wall-clock"}),
    ("host-platform", "import platform\nn = platform.node()", {"host-state"}),
    ("host-proc-path", "def f():\n    return open('/proc/cpuinfo').read()", {"host-state"}),
    ("host-uuid", "import uuid\nmac = uuid.getnode()", {"host-state"}),
    (
        "mixed-flags",
        "import time, platform\nfrom os import getenv\nx = (time.time(), platform.system(), getenv('X'))",
        {"wall-clock", "host-state", "environment"},
    ),
    (
        "isinstance-functiontype",
        "import types\ndef f(x):\n    return isinstance(x, types.FunctionType)",
        set(),
    ),
    ("hashlib-json", "import hashlib, json\nh = hashlib.sha256(json.dumps({}).encode()).hexdigest()", set()),
    ("importlib-metadata", "import importlib.metadata\nv = importlib.metadata.version('pip')", set()),
    (
        "class-method-named-compile",
        "class Q:\n    def compile(self):\n        return 1\nq = Q().compile()",
        set(),
    ),
    ("attrgetter-constant", "import operator\nkey = operator.attrgetter('price')", set()),
    (
        "getattr-handler-on-self",
        "class A:\n    def f(self, k):\n        return getattr(self, f'on_{k}')()",
        set(),
    ),
    ("user-object-dict", "class A:\n    pass\nx = A().__dict__", set()),
    ("string-mentions-eval", "doc = 'we never call eval or exec here'\nmodel = {'mode': 'eval'}", set()),
]


@pytest.mark.parametrize(("source", "rule"), [pytest.param(s, r, id=i) for i, s, r in FORBIDDEN])
def test_forbidden_snippet_is_rejected(source: str, rule: str) -> None:
    report = _check(source)
    assert rule in {f.rule for f in report.violations}, report.findings
    assert not report.ok
    assert report.has_security or report.has_integrity


@pytest.mark.parametrize(("source", "flags"), [pytest.param(s, f, id=i) for i, s, f in ALLOWED])
def test_allowed_snippet_passes(source: str, flags: set[str]) -> None:
    report = _check(source)
    assert report.violations == (), report.violations
    assert report.ok
    assert {f.rule for f in report.flags} == flags
    assert all(f.rule_class is RuleClass.FLAG for f in report.flags)


def test_corpus_sizes_meet_the_brief() -> None:
    assert len(FORBIDDEN) >= 40 and len(ALLOWED) >= 15
    ids = [case[0] for case in FORBIDDEN] + [case[0] for case in ALLOWED]
    assert len(set(ids)) == len(ids)


# --- rule table and API shape ------------------------------------------------------------------


def test_rule_table_lists_every_rule_with_its_class() -> None:
    expected = {
        "forbidden-import": RuleClass.SECURITY,
        "forbidden-call": RuleClass.SECURITY,
        "dynamic-code": RuleClass.SECURITY,
        "builtins-access": RuleClass.SECURITY,
        "introspection-escape": RuleClass.SECURITY,
        "file-write": RuleClass.SECURITY,
        "too-complex": RuleClass.SECURITY,
        "encoding-import": RuleClass.INTEGRITY,
        "hardcoded-answer": RuleClass.INTEGRITY,
        "wall-clock": RuleClass.FLAG,
        "environment": RuleClass.FLAG,
        "host-state": RuleClass.FLAG,
    }
    assert {rule_id: rule.rule_class for rule_id, rule in RULES.items()} == expected
    assert all(
        isinstance(rule, Rule) and rule.id == rule_id and rule.title for rule_id, rule in RULES.items()
    )
    with pytest.raises(TypeError):
        RULES["eval"] = Rule("eval", RuleClass.FLAG, "x")  # type: ignore[index]


def test_every_emitted_rule_is_in_the_table() -> None:
    emitted: set[str] = set()
    for _, source, _ in FORBIDDEN:
        for finding in _check(source).findings:
            emitted.add(finding.rule)
            assert finding.rule_class is RULES[finding.rule].rule_class
    assert emitted <= set(RULES)
    assert emitted >= set(RULES) - {
        "too-complex",
        "hardcoded-answer",
        "wall-clock",
        "environment",
        "host-state",
    }


def test_message_names_module_and_alias() -> None:
    report = _check("import subprocess as sp\nsp.run(['ls'])\n")
    first, second = report.violations
    assert (first.rule, first.line, first.col) == ("forbidden-import", 1, 7)
    assert "'subprocess'" in first.message and "(as 'sp')" in first.message
    assert (second.line, second.col) == (2, 3)  # findings on attributes point at the name
    assert "sp.run" in second.message


def test_import_os_path_then_os_system_points_at_the_use() -> None:
    report = _check("import os.path\n\nx = os.path.join('a', 'b')\nos.system('id')\n")
    assert [(f.rule, f.line) for f in report.violations] == [("forbidden-import", 4)]
    assert "os.system" in report.violations[0].message


def test_import_os_path_then_os_reports_the_second_alias() -> None:
    report = _check("import os.path, os\n")
    assert [(f.rule, f.line, f.col) for f in report.violations] == [("forbidden-import", 1, 16)]


def test_from_os_import_getenv_allowed_but_other_names_are_not() -> None:
    assert _check("from os import getenv\n").ok
    for name in ("system", "environ", "popen", "getcwd"):
        report = _check(f"from os import {name}\n")
        assert [f.rule for f in report.violations] == ["forbidden-import"], name


def test_to_wire_shape() -> None:
    report = _check("import time\nimport pickle\nnow = time.time()\n")
    wires = [f.to_wire() for f in report.findings]
    assert wires == [
        {
            "line": 2,
            "rule": "forbidden-import",
            "message": wires[0]["message"],
            "severity": "security",
        },
        {"line": 3, "rule": "wall-clock", "message": wires[1]["message"], "severity": "flag"},
    ]
    assert all(isinstance(w["message"], str) and w["message"] for w in wires)
    integrity = _check("import base64\n").findings[0].to_wire()
    assert integrity["severity"] == "integrity" and integrity["rule"] == "encoding-import"


def test_findings_sorted_and_deduplicated() -> None:
    source = "import os\nimport os\nexec('1'); eval('2')\nimport base64\nopen('f', 'w')\n"
    report = _check(source)
    keys = [(f.line, f.col, f.rule) for f in report.findings]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))
    assert [(f.line, f.rule) for f in report.findings] == [
        (1, "forbidden-import"),
        (2, "forbidden-import"),
        (3, "dynamic-code"),
        (3, "dynamic-code"),
        (4, "encoding-import"),
        (5, "file-write"),
    ]


def test_same_rule_at_same_position_is_reported_once() -> None:
    # `builtins.__dict__` is both a dangerous path and a `__dict__` access on a module.
    report = _check("import builtins\nd = builtins.__dict__\n")
    hits = [f for f in report.findings if f.rule == "builtins-access" and f.line == 2]
    assert len(hits) == 1


def test_report_properties() -> None:
    report = _check("import zlib\nimport time\nt = time.time()\n")
    assert report.has_integrity and not report.has_security
    assert [f.rule for f in report.violations] == ["encoding-import"]
    assert [f.rule for f in report.flags] == ["wall-clock"]
    assert not report.ok
    flag_only = _check("import time\nt = time.time()\n")
    assert flag_only.ok and not flag_only.has_security and not flag_only.has_integrity
    assert flag_only.flags and not flag_only.violations


def test_finding_is_frozen() -> None:
    finding = Finding("eval", RuleClass.SECURITY, 1, 0, "m")
    with pytest.raises(AttributeError):
        finding.line = 2  # type: ignore[misc]


def test_accepts_a_parsed_module() -> None:
    tree = ast.parse("import subprocess\n")
    report = analyze(tree)
    assert [(f.rule, f.line) for f in report.findings] == [("forbidden-import", 1)]
    assert ast.dump(tree) == ast.dump(ast.parse("import subprocess\n"))


def test_syntax_errors_are_left_to_the_caller() -> None:
    with pytest.raises(SyntaxError):
        analyze("def (:\n")


# --- determinism flags -------------------------------------------------------------------------


def test_flags_never_reject() -> None:
    source = """
    import time, datetime, platform, uuid
    from os import getenv
    def agent_main(problem_data):
        if datetime.datetime.utcnow().hour in range(18, 23) or time.localtime().tm_hour > 3:
            return [platform.platform(), getenv('REGION'), uuid.uuid1(), open('/sys/class/net').read()]
        return []
    """
    report = _check(source)
    assert report.ok
    assert {f.rule for f in report.flags} == {"wall-clock", "environment", "host-state"}
    assert all(f.rule_class is RuleClass.FLAG for f in report.findings)


def test_environment_flag_also_set_on_forbidden_os_environ() -> None:
    report = _check("import os\nk = os.environ['KEY']\n")
    assert {"forbidden-import", "environment"} <= _rules(report)
    assert not report.ok


# --- hard-coded answers ------------------------------------------------------------------------

ANSWERS = ("B0ABCD1234", "B0XYZ98765", "Q7")


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("ANSWER = 'B0ABCD1234'", id="plain"),
        pytest.param("table = {'q1': 'B0XYZ98765'}", id="lookup-table"),
        pytest.param("def f(p):\n    return p.get('x') or 'B0ABCD1234'", id="fallback"),
        pytest.param("s = 'best match is B0ABCD1234 (cached)'", id="embedded"),
        pytest.param("s = 'B0AB' + 'CD1234'", id="concatenated"),
        pytest.param("s = '4321DCBA0B'[::-1]", id="reversed"),
        pytest.param("s = ''.join(['B0X', 'YZ9', '8765'])", id="joined"),
        pytest.param("p = 'B0AB'\ns = f'{p}CD1234'", id="fstring-with-constant-name"),
        pytest.param("s = 'b0abcd1234'.upper()", id="case-folded"),
        pytest.param("s = b'B0ABCD1234'", id="bytes"),
        pytest.param("answer = 'Q7'", id="short-exact"),
    ],
)
def test_hardcoded_answer_detected(source: str) -> None:
    report = _check(source, forbidden_literals=ANSWERS)
    assert "hardcoded-answer" in {f.rule for f in report.violations}
    assert report.has_integrity and not report.has_security
    assert _check(source).ok  # rule is inactive without the forbidden set


def test_hardcoded_answer_inactive_without_set_and_precise_with_it() -> None:
    assert _check("x = 'B0ABCD1234'", forbidden_literals=None).ok
    assert _check("x = 'B0ABCD1234'", forbidden_literals=[]).ok
    assert _check("x = 'B0ABCD1234'", forbidden_literals=["", "  "]).ok
    # Short answers match whole strings only; they are not searched inside longer text.
    assert _check("x = 'Q7 is a question id'", forbidden_literals=ANSWERS).ok
    assert _check("x = 'B0ABCD123'", forbidden_literals=ANSWERS).ok
    report = _check("x = 1\ny = 'B0ABCD1234'\n", forbidden_literals=ANSWERS)
    (finding,) = report.findings
    assert (finding.rule, finding.line, finding.rule_class) == ("hardcoded-answer", 2, RuleClass.INTEGRITY)
    assert "B0ABCD1234" in finding.message


def test_numeric_answer_detected() -> None:
    report = _check("x = 123456\n", forbidden_literals=["123456"])
    assert [f.rule for f in report.findings] == ["hardcoded-answer"]


def test_answer_reported_is_the_leftmost_then_longest_match_in_any_case() -> None:
    answers = ["alpha-beta-gamma", "answer-alpha", "answer-alpha-beta", "STRASSE-42"]
    report = _check("x = 'see ANSWER-Alpha-Beta-gamma here'\n", forbidden_literals=answers)
    assert len(report.violations) == 1 and "'answer-alpha-beta'" in report.violations[0].message
    report = _check("x = 'straße-42 and more'\n", forbidden_literals=answers)  # case folding: ß is ss
    assert [f.rule for f in report.violations] == ["hardcoded-answer"]


def test_many_answers_over_a_megabyte_of_literals_are_all_still_found() -> None:
    answers = [f"answer-{n:04d}-{'x' * (n % 20)}" for n in range(500)]
    filler = " ".join(f"word{n}" for n in range(100_000))
    planted = answers[377]
    report = _check(f'x = """{filler} {planted.upper()} {filler}"""\n', forbidden_literals=answers)
    assert [f.rule for f in report.violations] == ["hardcoded-answer"]
    assert repr(planted) in report.violations[0].message


# --- realistic agents and robustness -----------------------------------------------------------


def test_realistic_agent_passes_with_only_an_environment_flag() -> None:
    report = analyze((CORPUS / "realistic_agent.py.txt").read_text(encoding="utf-8"))
    assert report.ok, report.violations
    assert [f.rule for f in report.flags] == ["environment"]


def test_realistic_agent_with_one_hidden_escape_is_rejected() -> None:
    source = (CORPUS / "realistic_agent.py.txt").read_text(encoding="utf-8")
    source += "\n\ndef _helper(obj):\n    return getattr(obj, '__glo' + 'bals__')\n"
    report = analyze(source)
    assert {f.rule for f in report.violations} == {"introspection-escape"}
    assert {f.line for f in report.violations} == {source.count("\n")}


def test_one_megabyte_source_does_not_raise() -> None:
    block = textwrap.dedent(
        """
        def helper_{i}(problem_data, k={i}):
            items = [x * {i} for x in problem_data.get('v', []) if x]
            label = 'item-' + str(k) + '-' + 'x' * 3
            return {{'id': label, 'n': len(items), 'ok': all(items)}}
        """
    )
    parts: list[str] = []
    size = 0
    i = 0
    while size < 1_000_000:
        chunk = block.format(i=i)
        parts.append(chunk)
        size += len(chunk)
        i += 1
    parts.append("import subprocess\n")
    source = "".join(parts)
    assert len(source.encode()) >= 1_000_000
    report = analyze(source)
    assert [f.rule for f in report.violations] == ["forbidden-import"]
    assert report.violations[0].line == source.count("\n")


def test_long_flat_concatenation_is_folded_without_recursion() -> None:
    source = (
        "import builtins\nname = "
        + " + ".join(["''"] * 2500 + ["'ev'", "'al'"])
        + "\ngetattr(builtins, name)\n"
    )
    report = analyze(source)
    assert "dynamic-code" in _rules(report)
    assert "too-complex" not in _rules(report)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("x = " + "-" * 2000 + "1", id="unary-chain"),
        pytest.param("x = " + "(" * 190 + "1" + ",)" * 190, id="nested-tuples"),
        pytest.param("x = " + "f(" * 190 + ")" * 190, id="nested-calls"),
        pytest.param("x = a" + ".b" * 2000, id="attribute-chain"),
        pytest.param("x = " + "[" * 150 + "]" * 150, id="nested-lists"),
        pytest.param("x = " + "lambda: " * 1000 + "1", id="lambda-chain"),
    ],
)
def test_deep_nesting_yields_a_security_finding_not_an_exception(source: str) -> None:
    report = analyze(source)
    assert "too-complex" in {f.rule for f in report.violations}
    assert report.has_security


def test_folding_bomb_is_a_security_finding() -> None:
    source = "".join(f"x{i} = 'a' * 60000\n" for i in range(300))
    report = analyze(source)
    assert [f.rule for f in report.findings] == ["too-complex"]


def test_many_wildcard_imports_are_a_security_finding() -> None:
    source = "".join(f"from m{i} import *\n" for i in range(40))
    assert [f.rule for f in analyze(source).findings] == ["too-complex"]


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "backward"])
def test_long_alias_chains_resolve_in_either_order(reverse: bool) -> None:
    links = [f"a{i} = a{i + 1}\n" for i in range(40)]
    source = "import logging\n" + "".join(reversed(links) if reverse else links)
    source += "a40 = logging\na0.os.system('id')\n"
    report = analyze(source)
    assert [(f.rule, f.line) for f in report.findings] == [("forbidden-import", source.count("\n"))]


def test_parser_level_overflow_is_a_security_finding() -> None:
    report = analyze("x = " + "-" * 100_000 + "1")
    assert [(f.rule, f.line) for f in report.findings] == [("too-complex", 1)]


def test_moderate_nesting_is_not_too_complex() -> None:
    source = "x = " + "[" * 40 + "]" * 40 + "\ny = " + "f(" * 40 + ")" * 40
    assert analyze(source).ok


def test_unicode_identifiers_and_columns() -> None:
    source = "ñame = 1; é = eval\nπ = 'ok'\n"
    report = analyze(source)
    (finding,) = report.findings
    assert (finding.rule, finding.line, finding.col) == ("dynamic-code", 1, 14)


def test_odd_but_valid_python_does_not_crash() -> None:
    source = textwrap.dedent(
        """
        from __future__ import annotations
        import asyncio
        class Meta(type):
            def __new__(mcs, name, bases, ns, **kw):
                return super().__new__(mcs, name, bases, ns)
        class A(metaclass=Meta):
            x: int = 1
            def __init_subclass__(cls, **kw): ...
        async def g():
            async with asyncio.timeout(1) as t:
                async for _ in aiter([]):
                    yield [i async for i in aiter([])]
        match {'a': [1, 2]}:
            case {'a': [x, *rest], **others} if x:
                pass
            case A(x=1) | None:
                pass
            case _:
                pass
        def h(a, /, b=1, *args, c, d=2, **kwargs) -> 'A':
            nonlocal_value = [lambda q=a: q for a in range(3)]
            del nonlocal_value
            try:
                raise ValueError
            except* ValueError as eg:
                pass
            return (yield from [])
        x = [*range(3)][::2]; y = {**{}}; z = {1, 2} | {3}
        w = f"{x!r:>{10}} {y=}"
        t = type('T', (), {})
        """
    )
    report = analyze(source)
    assert report.ok, report.violations
