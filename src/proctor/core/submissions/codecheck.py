"""Static code analysis of miner agent files (ORO "Code Requirements", reference doc §8).

The gate rejects a submission on any *security* or *integrity* finding and passes *flag*
findings (determinism signals) on for human review.  This module is pure: it parses nothing
but the given source and reads no files, clock or settings.

The analysis is deliberately conservative rather than precise:

* Names are tracked module-wide, not per scope, so one binding anywhere that aliases something
  dangerous taints every use of that name.
* Every reference to a dangerous object is reported where it appears (a bare ``eval`` passed to
  ``map`` counts), so aliases only need resolving where nothing dangerous is spelled out.
* String expressions used as attribute names, import names or ``open`` modes are constant-folded;
  an unfoldable name used to look something up on a module, builtins or a type is itself a finding.
* The tree walk is iterative and the recursive helpers are depth-capped, so hostile nesting yields
  a ``too-complex`` security finding instead of an exception.

Known limit: a name computed at run time (from ``problem_data`` or in a loop) and handed to
``getattr`` on an ordinary user object is not followed.  Every route by which such an object can
hold a module or builtin (module objects as values, ``__dict__``, ``vars``, ``globals``, frames,
``__subclasses__`` …) is reported instead.
"""

from __future__ import annotations

import ast
import builtins
import functools
import operator
import re
import string
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import compress, repeat
from types import MappingProxyType
from typing import Any, Final, NamedTuple

import ahocorasick


class RuleClass(StrEnum):
    """How the gate treats a rule's findings."""

    SECURITY = "security"
    INTEGRITY = "integrity"
    FLAG = "flag"


@dataclass(frozen=True)
class Rule:
    """One static-analysis rule."""

    id: str
    rule_class: RuleClass
    title: str


FORBIDDEN_IMPORT: Final = "forbidden-import"
FORBIDDEN_CALL: Final = "forbidden-call"
DYNAMIC_CODE: Final = "dynamic-code"
BUILTINS_ACCESS: Final = "builtins-access"
INTROSPECTION_ESCAPE: Final = "introspection-escape"
FILE_WRITE: Final = "file-write"
TOO_COMPLEX: Final = "too-complex"
ENCODING_IMPORT: Final = "encoding-import"
HARDCODED_ANSWER: Final = "hardcoded-answer"
WALL_CLOCK: Final = "wall-clock"
ENVIRONMENT: Final = "environment"
HOST_STATE: Final = "host-state"

RULES: Mapping[str, Rule] = MappingProxyType(
    {
        rule.id: rule
        for rule in (
            Rule(FORBIDDEN_IMPORT, RuleClass.SECURITY, "Import or use of a forbidden module"),
            Rule(FORBIDDEN_CALL, RuleClass.SECURITY, "Process, network or debugger entry point"),
            Rule(DYNAMIC_CODE, RuleClass.SECURITY, "Dynamic code execution or dynamic import"),
            Rule(BUILTINS_ACCESS, RuleClass.SECURITY, "Indirect access to the builtins namespace"),
            Rule(INTROSPECTION_ESCAPE, RuleClass.SECURITY, "Introspection that escapes static analysis"),
            Rule(FILE_WRITE, RuleClass.SECURITY, "Writes to or modifies the filesystem"),
            Rule(TOO_COMPLEX, RuleClass.SECURITY, "Source too deeply nested to analyse"),
            Rule(ENCODING_IMPORT, RuleClass.INTEGRITY, "Encoding or compression module (obfuscation)"),
            Rule(HARDCODED_ANSWER, RuleClass.INTEGRITY, "Hard-coded answer from the problem suite"),
            Rule(WALL_CLOCK, RuleClass.FLAG, "Reads the wall clock"),
            Rule(ENVIRONMENT, RuleClass.FLAG, "Reads environment variables"),
            Rule(HOST_STATE, RuleClass.FLAG, "Reads host or process identity"),
        )
    }
)


@dataclass(frozen=True)
class Finding:
    """One rule hit at a source position."""

    rule: str
    rule_class: RuleClass
    line: int
    col: int
    message: str

    def to_wire(self) -> dict[str, object]:
        """Return the violation shape the ORO CLI prints (line, rule, message, severity)."""
        return {
            "line": self.line,
            "rule": self.rule,
            "message": self.message,
            "severity": self.rule_class.value,
        }


@dataclass(frozen=True)
class Report:
    """All findings for one source, sorted by (line, col, rule) and de-duplicated."""

    findings: tuple[Finding, ...]

    @property
    def violations(self) -> tuple[Finding, ...]:
        """Security and integrity findings (each rejects the submission)."""
        return tuple(f for f in self.findings if f.rule_class is not RuleClass.FLAG)

    @property
    def flags(self) -> tuple[Finding, ...]:
        """Informational determinism findings."""
        return tuple(f for f in self.findings if f.rule_class is RuleClass.FLAG)

    @property
    def has_security(self) -> bool:
        """Whether any security rule fired."""
        return any(f.rule_class is RuleClass.SECURITY for f in self.findings)

    @property
    def has_integrity(self) -> bool:
        """Whether any integrity rule fired."""
        return any(f.rule_class is RuleClass.INTEGRITY for f in self.findings)

    @property
    def ok(self) -> bool:
        """True when there are no violations (flags are allowed)."""
        return not self.violations


def analyze(source: str | ast.Module, *, forbidden_literals: Iterable[str] | None = None) -> Report:
    """Statically check an agent's source; ``forbidden_literals`` activates ``hardcoded-answer``.

    A ``str`` source is parsed here; a ``SyntaxError`` propagates (the caller validates syntax
    first).  Columns are 0-based characters when the source text is given, UTF-8 byte offsets
    (as in the AST) when only a tree is.
    """
    lines: list[str] | None = None
    if isinstance(source, str):
        lines = _LINE_BREAK.split(source)
        try:
            tree = ast.parse(source)
        except (RecursionError, MemoryError):
            return _too_complex_report("source is nested too deeply for the Python parser")
    else:
        tree = source
    try:
        return _Analyzer(tree, lines, _AnswerMatcher(forbidden_literals)).run()
    except RecursionError:
        return _too_complex_report("source is nested too deeply to analyse")


# --------------------------------------------------------------------------------------------
# Policy tables.  Paths are dotted names rooted at a module ("os.system", "builtins.eval").
# --------------------------------------------------------------------------------------------

_Verdict = tuple[str, str]  # (rule, why)


def _group(rule: str, why: str, *modules: str) -> dict[str, _Verdict]:
    return {module: (rule, why) for module in modules}


# A module listed here is forbidden together with its submodules, unless a longer allowed path
# matches first.
_FORBIDDEN_MODULES: Final[Mapping[str, _Verdict]] = {
    # The documented list (reference §8).
    **_group(FORBIDDEN_IMPORT, "operating-system access", "os"),
    **_group(FORBIDDEN_IMPORT, "runs system commands", "subprocess", "commands"),
    **_group(FORBIDDEN_IMPORT, "direct network access", "socket", "http", "urllib", "requests"),
    **_group(FORBIDDEN_IMPORT, "loads native code", "ctypes", "cffi"),
    **_group(FORBIDDEN_IMPORT, "deserialises arbitrary objects", "pickle"),
    **_group(FORBIDDEN_IMPORT, "filesystem manipulation", "shutil"),
    # posix/nt are the C modules behind os: posix.system is os.system.
    **_group(FORBIDDEN_IMPORT, "native backend of os", "posix", "nt"),
    # Python 2 spellings and the raw spawn primitives behind subprocess and pty.
    **_group(FORBIDDEN_IMPORT, "spawns processes", "popen2", "_posixsubprocess", "_winapi", "pty"),
    # multiprocessing forks interpreters and carries its own socket layer.
    **_group(FORBIDDEN_IMPORT, "spawns processes", "multiprocessing"),
    # The C halves of ctypes/pickle/socket are the same capability under another name.
    **_group(FORBIDDEN_IMPORT, "loads native code", "_ctypes"),
    **_group(FORBIDDEN_IMPORT, "deserialises arbitrary objects", "_pickle", "cPickle", "marshal"),
    # shelve/dill/cloudpickle/joblib are pickle with a different front door.
    **_group(FORBIDDEN_IMPORT, "deserialises arbitrary objects", "shelve", "dill", "cloudpickle", "joblib"),
    # Every stdlib or common third-party client that opens sockets itself.
    **_group(
        FORBIDDEN_IMPORT,
        "direct network access",
        "_socket",
        "ssl",
        "socketserver",
        "ftplib",
        "smtplib",
        "poplib",
        "imaplib",
        "nntplib",
        "telnetlib",
        "xmlrpc",
        "urllib3",
        "httpx",
        "aiohttp",
        "websocket",
        "websockets",
    ),
    # webbrowser launches an external process and makes network requests.
    **_group(FORBIDDEN_IMPORT, "launches a browser process", "webbrowser"),
    # These import or execute code named by a string, bypassing every other rule.
    **_group(FORBIDDEN_IMPORT, "loads or runs code dynamically", "runpy", "code", "codeop", "zipimport"),
    # pydoc.locate and pkgutil.resolve_name are string-driven importers.
    **_group(FORBIDDEN_IMPORT, "loads or runs code dynamically", "pydoc", "pkgutil"),
    # A debugger executes whatever it is told to.
    **_group(FORBIDDEN_IMPORT, "interactive debugger runs arbitrary code", "pdb", "bdb"),
    # sqlite3 can load native extensions and writes database files.
    **_group(FORBIDDEN_IMPORT, "loads native extensions and writes files", "sqlite3", "_sqlite3"),
    # Package installers combine network access and subprocesses.
    **_group(FORBIDDEN_IMPORT, "installs packages", "pip", "ensurepip"),
    # The documented obfuscation list (reference §8: docs and app copies).
    **_group(ENCODING_IMPORT, "encoding modules are forbidden (obfuscation)", "base64", "binascii", "codecs"),
    **_group(ENCODING_IMPORT, "encoding modules are forbidden (obfuscation)", "zlib"),
    # Same capability: other codecs and compressors that can hide literals.
    **_group(
        ENCODING_IMPORT,
        "encoding modules are forbidden (obfuscation)",
        "_codecs",
        "encodings",
        "quopri",
        "uu",
        "binhex",
        "gzip",
        "bz2",
        "lzma",
        "zipfile",
        "tarfile",
    ),
}

_ALLOWED_MODULES: Final = frozenset({"os.path", "urllib.parse"})
# `from os import getenv` is allowed; `os.getenv` through an `import os.path` binding is not.
_NAME_ONLY_ALLOWED: Final = frozenset({"os.getenv"})

# Dangerous members of modules that may themselves be imported.
_MEMBERS: Final[Mapping[str, _Verdict]] = {
    **{
        f"builtins.{name}": (DYNAMIC_CODE, f"{name}() executes or imports arbitrary code")
        for name in ("eval", "exec", "compile", "__import__")
    },
    **{
        f"importlib.{name}": (DYNAMIC_CODE, "imports modules named at run time")
        for name in (
            "import_module",
            "__import__",
            "reload",
            "util",
            "machinery",
            "abc",
            "_bootstrap",
            "_bootstrap_external",
        )
    },
    # PYTHONBREAKPOINT can name any callable, and the default hook is an interactive debugger.
    "builtins.breakpoint": (FORBIDDEN_CALL, "starts a debugger"),
    # help() runs pydoc, which may spawn a pager process.
    "builtins.help": (FORBIDDEN_CALL, "runs pydoc, which can spawn a pager process"),
    **{
        f"asyncio.{name}": (FORBIDDEN_CALL, "spawns processes")
        for name in ("create_subprocess_shell", "create_subprocess_exec", "subprocess")
    },
    **{
        f"asyncio.{name}": (FORBIDDEN_CALL, "opens network connections")
        for name in ("open_connection", "start_server", "open_unix_connection", "start_unix_server")
    },
    "concurrent.futures.ProcessPoolExecutor": (FORBIDDEN_CALL, "spawns processes"),
    "concurrent.futures.process": (FORBIDDEN_CALL, "spawns processes"),
    "builtins.__dict__": (BUILTINS_ACCESS, "exposes every builtin by name"),
    **{
        f"sys.{name}": (INTROSPECTION_ESCAPE, "reaches loaded modules, frames or import hooks")
        for name in (
            "modules",
            "_getframe",
            "_current_frames",
            "settrace",
            "setprofile",
            "meta_path",
            "path_hooks",
            "path_importer_cache",
            "call_tracing",
        )
    },
    **{
        f"gc.{name}": (INTROSPECTION_ESCAPE, "reaches arbitrary live objects")
        for name in ("get_objects", "get_referrers", "get_referents")
    },
    **{
        f"inspect.{name}": (INTROSPECTION_ESCAPE, "reaches frames, globals or module members")
        for name in (
            "currentframe",
            "stack",
            "trace",
            "getouterframes",
            "getinnerframes",
            "getmembers",
            "getmembers_static",
            "getmodule",
            "getclosurevars",
        )
    },
    # tempfile's constructors all create files or directories on disk.
    **{
        f"tempfile.{name}": (FILE_WRITE, "creates files on disk")
        for name in (
            "TemporaryFile",
            "NamedTemporaryFile",
            "SpooledTemporaryFile",
            "TemporaryDirectory",
            "mkstemp",
            "mkdtemp",
        )
    },
}

# Harmless to mention (isinstance checks), dangerous to call: they build code objects.
_CALL_ONLY: Final[Mapping[str, _Verdict]] = {
    "types.CodeType": (DYNAMIC_CODE, "builds a code object from raw bytecode"),
    "types.FunctionType": (DYNAMIC_CODE, "builds a function from a code object"),
}

# Module objects that must not travel as values: they expose forbidden modules or builtins
# through attributes, which a run-time attribute name could then reach.
_SENSITIVE_VALUES: Final[Mapping[str, _Verdict]] = {
    "builtins": (BUILTINS_ACCESS, "the builtins module used as a value"),
    "sys": (INTROSPECTION_ESCAPE, "the sys module used as a value"),
    "importlib": (DYNAMIC_CODE, "the importlib module used as a value"),
    "gc": (INTROSPECTION_ESCAPE, "the gc module used as a value"),
    "inspect": (INTROSPECTION_ESCAPE, "the inspect module used as a value"),
    **{
        name: (INTROSPECTION_ESCAPE, f"the {name} module used as a value exposes os")
        for name in ("os.path", "posixpath", "ntpath", "genericpath")
    },
}

# Fine to call directly; as first-class values they hide what they look up.
_VALUE_ONLY: Final[Mapping[str, _Verdict]] = {
    "builtins.getattr": (INTROSPECTION_ESCAPE, "getattr used as a value hides the attribute name"),
    "inspect.getattr_static": (INTROSPECTION_ESCAPE, "getattr_static used as a value"),
    "builtins.globals": (BUILTINS_ACCESS, "globals used as a value"),
    "builtins.locals": (BUILTINS_ACCESS, "locals used as a value"),
    "builtins.vars": (BUILTINS_ACCESS, "vars used as a value"),
}

_FLAGS: Final[Mapping[str, tuple[str, str]]] = {
    **{
        f"time.{name}": (WALL_CLOCK, "reads the wall clock")
        for name in ("time", "time_ns", "gmtime", "localtime", "ctime", "asctime", "strftime")
    },
    # time.monotonic/perf_counter are not flagged: elapsed-time budgets do not identify the hour.
    **{
        f"datetime.datetime.{name}": (WALL_CLOCK, "reads the wall clock")
        for name in ("now", "utcnow", "today")
    },
    "datetime.date.today": (WALL_CLOCK, "reads the wall clock"),
    **{
        name: (ENVIRONMENT, "reads environment variables")
        for name in ("os.environ", "os.environb", "os.getenv", "os.getenvb", "posix.environ")
    },
    # random is not flagged: unseeded randomness is not host identity, and seeding it from the
    # clock already trips the wall-clock flag.
    "platform": (HOST_STATE, "reads host identity"),
    **{
        name: (HOST_STATE, "reads host or process identity")
        for name in (
            "socket.gethostname",
            "socket.getfqdn",
            "os.uname",
            "os.getpid",
            "os.getppid",
            "os.getlogin",
            "os.getuid",
            "os.cpu_count",
            "os.getloadavg",
            "getpass.getuser",
            "uuid.getnode",
            "uuid.uuid1",
            "multiprocessing.cpu_count",
        )
    },
}

_ESCAPE_REASON: Final = "introspection can reach globals, builtins or arbitrary classes"
# Attribute names that lead out of ordinary object graphs, flagged on any receiver.
_ESCAPE_ATTRS: Final[Mapping[str, str]] = {
    **{
        name: INTROSPECTION_ESCAPE
        for name in (
            "__subclasses__",
            "__globals__",
            "__code__",
            "__closure__",
            "__bases__",
            "__base__",
            "__mro__",
            "mro",
            "__getattribute__",
            "__self__",
            "__loader__",
            "__spec__",
            "__reduce__",
            "__reduce_ex__",
            "f_globals",
            "f_locals",
            "f_builtins",
            "f_back",
            "tb_frame",
            "gi_frame",
            "cr_frame",
            "ag_frame",
        )
    },
    "__builtins__": BUILTINS_ACCESS,
    "__import__": DYNAMIC_CODE,
}
# The same names inside string constants (attrgetter paths, names fed to reduce(getattr, ...)).
_ESCAPE_STRING = re.compile(
    r"__(?:subclasses|globals|builtins|bases|base|mro|code|closure|import|loader|spec"
    r"|getattribute|reduce|reduce_ex|self)__"
    r"|\b(?:f_globals|f_locals|f_builtins|f_back|tb_frame|gi_frame|cr_frame|ag_frame)\b"
)
_HOST_PATH = re.compile(r"\s*(?:/proc|/sys)(?:/|\s*$)|\s*/etc/(?:hostname|machine-id)\b")

# Constant attribute names worth reporting even when the receiver is an unknown object.
_SUSPICIOUS_NAMES: Final[Mapping[str, _Verdict]] = {
    **{
        name: (DYNAMIC_CODE, "names a dynamic-code function")
        for name in ("eval", "exec", "compile", "__import__", "import_module")
    },
    **{
        name: (FORBIDDEN_CALL, "names a process-spawning function")
        for name in ("system", "popen", "spawnl", "spawnv", "spawnve", "execv", "execve", "execvp", "fork")
    },
    "modules": (INTROSPECTION_ESCAPE, "names sys.modules"),
    "builtins": (BUILTINS_ACCESS, "names the builtins module"),
    **{name: (FORBIDDEN_IMPORT, "names a forbidden module") for name in _FORBIDDEN_MODULES},
}

_GETATTR_LIKE: Final = frozenset(
    {"builtins.getattr", "builtins.setattr", "builtins.delattr", "builtins.hasattr", "inspect.getattr_static"}
)
_ATTR_GETTERS: Final = frozenset({"operator.attrgetter", "operator.methodcaller"})
_IMPORTERS: Final = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})
_NAMESPACES: Final = frozenset({"builtins.globals", "builtins.locals"})

# open-like callables -> index of the positional `mode` argument.
_OPENERS: Final[Mapping[str, int]] = {
    "builtins.open": 1,
    "io.open": 1,
    "_io.open": 1,
    "io.FileIO": 1,
    "_io.FileIO": 1,
    "codecs.open": 1,
    "gzip.open": 1,
    "bz2.open": 1,
    "lzma.open": 1,
    "pathlib.Path.open": 1,
    "pathlib.Path().open": 0,
}
_WRITE_MODE_CHARS: Final = frozenset("wax+")
_MODE_CHARS: Final = frozenset("rwxabtU+")
# Unambiguous filesystem mutators, reported on any receiver.
_WRITE_METHODS: Final = frozenset(
    {
        "write_text",
        "write_bytes",
        "touch",
        "mkdir",
        "rmdir",
        "unlink",
        "symlink_to",
        "hardlink_to",
        "link_to",
        "chmod",
        "lchmod",
    }
)
# Too common on strings to report unless the receiver is known to be a Path.
_PATH_WRITE_METHODS: Final = frozenset({"rename", "replace"})
_PROCESS_METHODS: Final[Mapping[str, str]] = {
    **{
        name: "spawns processes"
        for name in (
            "subprocess_exec",
            "subprocess_shell",
            "create_subprocess_exec",
            "create_subprocess_shell",
        )
    },
    **{
        name: "opens network connections"
        for name in (
            "create_connection",
            "create_datagram_endpoint",
            "create_server",
            "create_unix_connection",
            "create_unix_server",
            "sock_connect",
            "open_connection",
            "start_server",
        )
    },
}

# Calls whose result may be one of their arguments (containers, iterators, copies).
_PASSTHROUGH_CALLS: Final = frozenset(
    {
        f"builtins.{name}"
        for name in (
            "next",
            "iter",
            "list",
            "tuple",
            "set",
            "frozenset",
            "sorted",
            "reversed",
            "min",
            "max",
            "dict",
            "filter",
            "enumerate",
            "zip",
        )
    }
    | {"copy.copy", "copy.deepcopy", "functools.reduce", "types.SimpleNamespace"}
)
_PASSTHROUGH_METHODS: Final = frozenset(
    {"get", "pop", "popitem", "setdefault", "copy", "values", "items", "__getitem__", "__next__"}
)
_LOOKUP_METHODS: Final = frozenset({"get", "pop", "setdefault", "__getitem__"})

_PATH_CLASSES: Final = frozenset(
    f"pathlib.{name}"
    for name in ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath")
)
_PATH_METHODS: Final = frozenset(
    {"joinpath", "with_name", "with_suffix", "with_stem", "resolve", "absolute", "expanduser", "relative_to"}
)
_PATH_CLASSMETHODS: Final = frozenset({"home", "cwd"})
_PATH_ATTRS: Final = frozenset({"parent"})

# A segment naming one of these modules re-roots a path: `os.path.os.system` is `os.system`,
# `collections._sys.modules` is `sys.modules`.
_REROOT: Final = frozenset(
    {
        "os",
        "posix",
        "nt",
        "subprocess",
        "socket",
        "ctypes",
        "cffi",
        "pickle",
        "marshal",
        "shutil",
        "multiprocessing",
        "pty",
        "posixsubprocess",
        "runpy",
        "sys",
        "builtins",
        "importlib",
        "gc",
        "inspect",
        "types",
        "base64",
        "binascii",
        "codecs",
        "zlib",
    }
)

_BUILTIN_NAMES: Final = frozenset(dir(builtins))
_GLOBALS: Final = "<globals>"
_TYPE: Final = "<type>"
_DYNAMIC: Final = "<dynamic>"
_PATH: Final = "pathlib.Path()"
_REF: Final = "<ref>"  # some object reached from a module, type or builtins: not user data
_PATH_MAKERS: Final = frozenset(
    {
        *_PATH_CLASSES,
        *(f"{cls}.{method}" for cls in _PATH_CLASSES for method in _PATH_CLASSMETHODS),
        *(f"{_PATH}.{method}" for method in _PATH_METHODS),
    }
)
# Callees that _call_special looks at, and callees that some check of a call acts on.
_SPECIAL_CALLS: Final = frozenset(
    {"builtins.getattr", "inspect.getattr_static", "builtins.vars", "builtins.type"}
    | _IMPORTERS
    | _NAMESPACES
    | _PATH_MAKERS
)
_CHECKED_CALLS: Final = frozenset(
    _GETATTR_LIKE | _ATTR_GETTERS | _NAMESPACES | {"builtins.vars"} | _OPENERS.keys() | _CALL_ONLY.keys()
)
_EMPTY: Final[frozenset[str]] = frozenset()
_MISSING: Final = object()
_CONSTANT: Final = ast.Constant
_NAME: Final = ast.Name
_CONSTANT_VALUES: Final = (str, bytes, int)  # the constants that fold
_SIZED_VALUES: Final = (str, bytes, tuple)  # folded values whose length counts against the budget
_NAME_ID: Final = operator.attrgetter("id")
_POSITION: Final = operator.attrgetter("lineno", "col_offset")


def _key_tree() -> frozenset[str]:
    """Every policy key and each of its dotted prefixes."""
    keys: set[str] = {
        *_FORBIDDEN_MODULES,
        *_ALLOWED_MODULES,
        *_NAME_ONLY_ALLOWED,
        *_MEMBERS,
        *_CALL_ONLY,
        *_SENSITIVE_VALUES,
        *_VALUE_ONLY,
        *_FLAGS,
        *_OPENERS,
        *_GETATTR_LIKE,
        *_ATTR_GETTERS,
        *_IMPORTERS,
        *_PASSTHROUGH_CALLS,
        *_PATH_CLASSES,
        *(f"{cls}.{method}" for cls in _PATH_CLASSES for method in _PATH_CLASSMETHODS),
        *(f"{_PATH}.{method}" for method in _PATH_METHODS),
        *(f"builtins.{name}" for name in _BUILTIN_NAMES),
    }
    return frozenset(".".join(key.split(".")[:i]) for key in keys for i in range(1, key.count(".") + 2))


_KEY_TREE: Final = _key_tree()

_MAX_DEPTH: Final = 100  # effective AST depth; real agents stay far below
_MAX_RECURSION: Final = 120  # cap for the recursive resolve/fold helpers
_MAX_ROUNDS: Final = 12
_MAX_FOLD_LEN: Final = 65_536
_MAX_FOLD_ITEMS: Final = 10_000
_FOLD_BUDGET: Final = 16_000_000  # total folded length per analysis; more is a folding bomb
_MAX_STAR_MODULES: Final = 32
_MAX_INT: Final = 2**64
_SAFE_CODECS: Final = frozenset(
    {"utf-8", "utf8", "ascii", "latin-1", "latin1", "iso-8859-1", "utf-16", "utf-32"}
)
_LINE_BREAK: Final = re.compile(r"\r\n?|\n")


def _too_complex_report(message: str) -> Report:
    return Report((Finding(TOO_COMPLEX, RuleClass.SECURITY, 1, 0, message),))


# --------------------------------------------------------------------------------------------
# Path helpers.
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # pure, and asked the same paths over and over
def _reroot(path: str) -> str:
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if parts[i].strip("_") in _REROOT:
            return ".".join([parts[i].strip("_"), *parts[i + 1 :]])
    return path


@functools.lru_cache(maxsize=4096)  # pure, and asked the same paths over and over
def _extend(path: str, attr: str) -> str:
    """The canonical path of ``attr`` looked up on ``path``."""
    if path == _DYNAMIC:
        return _DYNAMIC
    if path == _PATH and attr in _PATH_ATTRS:
        return _PATH
    if attr == "__dict__":
        # One namespace level is kept so that subscripts into it can be followed.
        return _REF if path.endswith(".__dict__") else f"{path}.__dict__"
    if path.startswith("<"):
        module = attr.strip("_")
        return module if module in _REROOT else _REF
    return _canonical(_reroot(f"{path}.{attr}"))


@functools.lru_cache(maxsize=4096)  # pure, and asked the same paths over and over
def _canonical(path: str) -> str:
    """Keep paths inside the policy key tree; collapse the rest so alias sets stay small.

    Leaving the tree below a dangerous or flagged key keeps that key (its verdict is what
    matters); leaving it anywhere else yields the opaque ``<ref>`` marker.
    """
    if path in _KEY_TREE:
        return path
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in _KEY_TREE:
            return prefix if (_classify(prefix) or _flag_for(prefix)) else _REF
    return _REF


@functools.lru_cache(maxsize=4096)  # pure, and asked the same paths over and over
def _classify(path: str, *, via_name: bool = False) -> tuple[str, str, str, bool] | None:
    """(rule, subject, why, is_module) for a dangerous path; longest known prefix wins."""
    if path.startswith("<"):
        return None
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in _ALLOWED_MODULES or (via_name and prefix in _NAME_ONLY_ALLOWED):
            return None
        member = _MEMBERS.get(prefix)
        if member is not None:
            return member[0], prefix, member[1], False
        module = _FORBIDDEN_MODULES.get(prefix)
        if module is not None:
            return module[0], prefix, module[1], True
    return None


@functools.lru_cache(maxsize=4096)  # pure, and asked the same paths over and over
def _flag_for(path: str) -> tuple[str, str] | None:
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        hit = _FLAGS.get(".".join(parts[:i]))
        if hit is not None:
            return hit
    return None


@functools.lru_cache(maxsize=256)
def _star_exports(module: str) -> frozenset[str] | _Everything:
    """Names a wildcard import from ``module`` may bind that the policy cares about."""
    if _classify(module) is not None:
        return _EVERYTHING
    prefix = module + "."
    return frozenset(key[len(prefix) :].split(".")[0] for key in _KEY_TREE if key.startswith(prefix))


class _Everything:
    """A container holding every name (wildcard import from a forbidden module)."""

    def __contains__(self, item: object) -> bool:
        return True


_EVERYTHING: Final = _Everything()


def _touches_builtins(paths: Iterable[str]) -> bool:
    return any(p == "builtins" or p.startswith("builtins.") for p in paths)


def _subject_text(rule: str, subject: str, is_module: bool) -> str:
    if not is_module:
        return f"'{subject}'"
    noun = "encoding module" if rule == ENCODING_IMPORT else "forbidden module"
    return f"{noun} '{subject}'"


def _as_text(alias: ast.alias) -> str:
    return f" (as '{alias.asname}')" if alias.asname else ""


def _describe(node: ast.AST) -> str:
    """A short source-like rendering of an expression (iterative; bounded)."""
    suffix: list[str] = []
    for _ in range(6):
        if isinstance(node, ast.Attribute):
            suffix.append("." + node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            suffix.append("(...)")
            node = node.func
        elif isinstance(node, ast.Subscript):
            suffix.append("[...]")
            node = node.value
        else:
            break
    head = node.id if isinstance(node, ast.Name) else "..." if suffix else type(node).__name__.lower()
    return head + "".join(reversed(suffix))


def _is_literal(node: ast.AST) -> bool:
    return isinstance(
        node,
        (
            ast.Constant,
            ast.List,
            ast.Tuple,
            ast.Dict,
            ast.Set,
            ast.JoinedStr,
            ast.ListComp,
            ast.SetComp,
            ast.DictComp,
            ast.GeneratorExp,
            ast.Lambda,
        ),
    )


# --------------------------------------------------------------------------------------------
# Constant folding of plain values (str, bytes, int and tuples of them).
# --------------------------------------------------------------------------------------------


def _bounded(value: object) -> object:
    """Return ``value`` if it is a small foldable value, else None."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, bytearray):
        value = bytes(value)
    if isinstance(value, (str, bytes, tuple)):
        return value if len(value) <= _MAX_FOLD_LEN else None
    if isinstance(value, int):
        return value if abs(value) <= _MAX_INT else None
    return None


def _binop(op: ast.operator, left: object, right: object) -> object:
    if left is None or right is None:
        return None
    try:
        if (
            isinstance(op, ast.Add)
            and type(left) is type(right)
            and isinstance(left, (str, bytes, int, tuple))
        ):
            return _bounded(left + right)  # type: ignore[operator]
        if isinstance(op, ast.Sub) and isinstance(left, int) and isinstance(right, int):
            return _bounded(left - right)
        if isinstance(op, ast.Mult):
            return _repeat(left, right)
        if isinstance(op, ast.Mod):
            return _percent(left, right)
    except (TypeError, ValueError, OverflowError):
        return None
    return None


def _repeat(left: object, right: object) -> object:
    if isinstance(left, int) and isinstance(right, int):
        return _bounded(left * right)
    seq, count = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(seq, (str, bytes, tuple)) and isinstance(count, int):
        if len(seq) * max(count, 0) > _MAX_FOLD_LEN:
            return None
        return seq * count
    return None


def _percent(fmt: object, arg: object) -> object:
    if isinstance(fmt, int) and isinstance(arg, int):
        return fmt % arg if arg else None
    if not isinstance(fmt, str) or re.search(r"%(?![%sdirc])", fmt):
        return None  # widths/precision could inflate the result
    args = arg if isinstance(arg, tuple) else (arg,)
    if not all(isinstance(a, (str, int)) for a in args):
        return None
    try:
        return _bounded(fmt % args)
    except (TypeError, ValueError, OverflowError):
        return None


def _str_format(fmt: str, args: list[object]) -> object:
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return None
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if spec or conversion or not (name == "" or name.isdigit()):
            return None  # attribute/index access or widths: not a plain constant join
    if not all(isinstance(a, (str, int)) for a in args):
        return None
    try:
        return _bounded(fmt.format(*args))
    except (IndexError, ValueError, KeyError):
        return None


_SIMPLE_METHODS: Final = frozenset(
    {
        "lower",
        "upper",
        "casefold",
        "swapcase",
        "title",
        "capitalize",
        "strip",
        "lstrip",
        "rstrip",
        "removeprefix",
        "removesuffix",
        "split",
        "rsplit",
    }
)


def _apply_method(recv: object, name: str, args: list[object]) -> object:
    """Evaluate a whitelisted str/bytes method on folded values."""
    if not isinstance(recv, (str, bytes)):
        return None
    try:
        if name in _SIMPLE_METHODS and len(args) <= 1 and all(type(a) is type(recv) for a in args):
            return _bounded(getattr(recv, name)(*args))
        if name == "replace" and len(args) == 2 and all(type(a) is type(recv) for a in args):
            return _replace(recv, args[0], args[1])  # type: ignore[arg-type]
        if name == "join" and len(args) == 1:
            return _join(recv, args[0])
        if name == "format" and isinstance(recv, str):
            return _str_format(recv, args)
        if name in ("encode", "decode"):
            return _transcode(recv, args)
        if name == "hex" and isinstance(recv, bytes) and not args:
            return _bounded(recv.hex())
    except (TypeError, ValueError, UnicodeError, LookupError, AttributeError):
        return None
    return None


def _replace(recv: str | bytes, old: str | bytes, new: str | bytes) -> object:
    growth = (recv.count(old) + (1 if not old else 0)) * max(len(new) - len(old), 0)  # type: ignore[arg-type]
    if len(recv) + growth > _MAX_FOLD_LEN:
        return None
    return recv.replace(old, new)  # type: ignore[arg-type]


def _join(sep: str | bytes, items: object) -> object:
    if isinstance(items, (str, bytes)) and isinstance(sep, str) and isinstance(items, str):
        items = tuple(items)
    if not isinstance(items, tuple) or not all(type(i) is type(sep) for i in items):
        return None
    if sum(len(i) for i in items) + len(sep) * len(items) > _MAX_FOLD_LEN:
        return None
    return sep.join(items)


def _transcode(recv: str | bytes, args: list[object]) -> object:
    if len(args) > 1:
        return None
    codec = args[0] if args else "utf-8"
    if not isinstance(codec, str) or codec.lower() not in _SAFE_CODECS:
        return None  # rot13/hex codecs are obfuscation engines, not constants to fold
    if isinstance(recv, str):
        return _bounded(recv.encode(codec))
    return _bounded(recv.decode(codec))


def _fold_builtin(name: str, args: list[object]) -> object:
    """Evaluate a whitelisted builtin on folded arguments."""
    try:
        if name == "chr" and len(args) == 1 and isinstance(args[0], int):
            return chr(args[0])
        if name == "ord" and len(args) == 1 and isinstance(args[0], str):
            return ord(args[0])
        if name == "str":
            return _fold_str_call(args)
        if name in ("bytes", "bytearray"):
            return _fold_bytes_call(args)
        if name == "int" and 1 <= len(args) <= 2:
            return _fold_int_call(args)
        if name in ("reversed", "list", "tuple") and len(args) == 1:
            seq = args[0]
            if isinstance(seq, (str, bytes, tuple)):
                items = tuple(seq)
                return items[::-1] if name == "reversed" else items
    except (TypeError, ValueError, OverflowError, UnicodeError, LookupError):
        return None
    return None


def _fold_str_call(args: list[object]) -> object:
    if not args:
        return ""
    if len(args) == 1 and isinstance(args[0], (str, int)):
        return _bounded(str(args[0]))
    if len(args) == 2 and isinstance(args[0], bytes):
        return _transcode(args[0], [args[1]])
    return None


def _fold_bytes_call(args: list[object]) -> object:
    if len(args) == 1 and isinstance(args[0], tuple):
        return bytes(args[0])
    if len(args) == 1 and isinstance(args[0], bytes):
        return args[0]
    if len(args) == 2 and isinstance(args[0], str):
        return _transcode(args[0], [args[1]])
    return None


def _fold_int_call(args: list[object]) -> object:
    if isinstance(args[0], int) and len(args) == 1:
        return args[0]
    if isinstance(args[0], str) and len(args[0]) <= 64:
        base = args[1] if len(args) == 2 else 10
        return int(args[0], base) if isinstance(base, int) else None
    return None


def _format_value(value: object, conversion: int) -> object:
    if isinstance(value, bool) or not isinstance(value, (str, int, bytes)):
        return None
    if conversion == ord("r"):
        return repr(value)
    if conversion == ord("a"):
        return ascii(value)
    return str(value)


# --------------------------------------------------------------------------------------------
# Hard-coded answers.
# --------------------------------------------------------------------------------------------


class _AnswerMatcher:
    """Case-insensitive matcher: whole-string for short answers, substring for long ones.

    Substrings are found with an Aho-Corasick automaton over the case-folded text: one linear pass
    whatever the number of answers. (A regular-expression alternation of a suite's answers, the obvious
    alternative, tries every answer at every position: over a megabyte of string literals and a hundred
    answers that took over a second.) The reported answer is the leftmost match, the longest there.
    """

    _SUBSTRING_MIN: Final = 6  # shorter answers would match inside ordinary words

    def __init__(self, literals: Iterable[str] | None) -> None:
        items = {s for s in (literals or ()) if isinstance(s, str) and s.strip()}
        self._short = {s.casefold(): s for s in items if len(s) < self._SUBSTRING_MIN}
        self._long = {s.casefold(): s for s in items if len(s) >= self._SUBSTRING_MIN}
        self._automaton = _automaton(frozenset(self._long)) if self._long else None

    @property
    def active(self) -> bool:
        return bool(self._short or self._long)

    def find(self, text: str) -> str | None:
        folded = text.casefold()
        if self._automaton is not None:
            best: tuple[int, int] | None = None  # (start, -length)
            for end, key in self._automaton.iter(folded):
                start = end - len(key) + 1
                if best is not None and start > best[0]:
                    break  # matches arrive by end position: nothing later can start further left
                if best is None or (start, -len(key)) < best:
                    best = (start, -len(key))
            if best is not None:
                start, negative = best
                return self._long[folded[start : start - negative]]
        return self._short.get(folded.strip())


@functools.lru_cache(maxsize=8)  # one suite's answers serve every submission until the suite changes
def _automaton(keys: frozenset[str]) -> Any:
    automaton = ahocorasick.Automaton()
    for key in keys:
        automaton.add_word(key, key)
    automaton.make_automaton()
    return automaton


# --------------------------------------------------------------------------------------------
# The analyser.
# --------------------------------------------------------------------------------------------


class _Binding(NamedTuple):  # a tuple: much cheaper to build than a frozen dataclass
    kind: str  # import | expr (exact value) | elem (part of value) | def | class | opaque
    node: ast.AST | None = None
    path: str = ""
    toplevel: bool = False
    end: tuple[int, int] = (0, 0)


# _Binding from a 5-tuple without the keyword-handling __new__ (collection calls it per name).
_new_binding: Final[Callable[[tuple[str, ast.AST | None, str, bool, tuple[int, int]]], _Binding]] = (
    functools.partial(tuple.__new__, _Binding)  # type: ignore[arg-type]
)
_OPAQUE: Final = _Binding("opaque")


_SCOPES: Final = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_RESULTS: Final = (ast.Return, ast.Yield, ast.YieldFrom)
_CHILD_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}


def _children(node: ast.AST) -> list[ast.AST]:
    """Child nodes, minus the shared context/operator singletons (a faster iter_child_nodes)."""
    fields = _CHILD_FIELDS.get(type(node))
    if fields is None:
        fields = tuple(f for f in node._fields if f not in ("ctx", "op", "ops"))
        _CHILD_FIELDS[type(node)] = fields
    found: list[ast.AST] = []
    for name in fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            found.extend(item for item in value if isinstance(item, ast.AST))
        elif isinstance(value, ast.AST):
            found.append(value)
    return found


# What the one-pass scan does at a node, besides collecting bindings and queueing checks.
_PLAIN, _ATTRIBUTE, _CALL, _SUBSCRIPT, _BIN_OP, _STRING_PART, _CLASS, _GENERIC = range(8)
_SCAN_ACTIONS: Final[Mapping[type[ast.AST], int]] = {
    ast.Attribute: _ATTRIBUTE,
    ast.Call: _CALL,
    ast.Subscript: _SUBSCRIPT,
    ast.BinOp: _BIN_OP,
    ast.JoinedStr: _STRING_PART,
    ast.FormattedValue: _STRING_PART,
    ast.ClassDef: _CLASS,
}
# Fields the grammar types as identifiers, strings, ints or constants: they never hold nodes.
_SCALAR_FIELDS: Final = frozenset(
    {
        "ctx",
        "op",
        "ops",
        "id",
        "attr",
        "arg",
        "asname",
        "module",
        "level",
        "kind",
        "type_comment",
        "conversion",
        "is_async",
        "simple",
        "rest",
        "kwd_attrs",
        "tag",
        "lineno",
    }
)
_SCALAR_BY_TYPE: Final[Mapping[str, frozenset[str]]] = {
    "Constant": frozenset({"value"}),
    "MatchSingleton": frozenset({"value"}),
    "Global": frozenset({"names"}),
    "Nonlocal": frozenset({"names"}),
    **{
        name: frozenset({"name"})
        for name in (
            "FunctionDef",
            "AsyncFunctionDef",
            "ClassDef",
            "alias",
            "ExceptHandler",
            "MatchAs",
            "MatchStar",
            "TypeVar",
            "ParamSpec",
            "TypeVarTuple",
        )
    },
}

_ChildList = Callable[[Any], "list[Any] | tuple[Any, ...]"]


def _node_fields(cls: type[ast.AST]) -> tuple[str, ...]:
    scalar = _SCALAR_FIELDS | _SCALAR_BY_TYPE.get(cls.__name__, frozenset())
    return tuple(f for f in cls._fields if f not in scalar)


def _field_reader(fields: tuple[str, ...]) -> _ChildList:
    """The children of a node, in field order; may include None and other non-nodes."""

    def read(node: ast.AST) -> list[Any]:
        found: list[Any] = []
        for name in fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                found.extend(value)
            elif value is not None:
                found.append(value)
        return found

    return read


# Hand-unrolled readers for the commonest nodes, each with the fields it assumes.
_FAST_READERS: Final[Mapping[type[ast.AST], tuple[tuple[str, ...], _ChildList]]] = {
    ast.Call: (("func", "args", "keywords"), lambda n: (n.func, *n.args, *n.keywords)),
    ast.Attribute: (("value",), lambda n: (n.value,)),
    ast.Subscript: (("value", "slice"), lambda n: (n.value, n.slice)),
    ast.Tuple: (("elts",), lambda n: n.elts),
    ast.List: (("elts",), lambda n: n.elts),
    ast.Set: (("elts",), lambda n: n.elts),
    ast.BoolOp: (("values",), lambda n: n.values),
    ast.Compare: (("left", "comparators"), lambda n: (n.left, *n.comparators)),
    ast.Assign: (("targets", "value"), lambda n: (*n.targets, n.value)),
    ast.Expr: (("value",), lambda n: (n.value,)),
    ast.keyword: (("value",), lambda n: (n.value,)),
    ast.Dict: (("keys", "values"), lambda n: (*n.keys, *n.values)),
    ast.arg: (("annotation",), lambda n: () if n.annotation is None else (n.annotation,)),
    ast.Return: (("value",), lambda n: () if n.value is None else (n.value,)),
    ast.UnaryOp: (("operand",), lambda n: (n.operand,)),
    ast.If: (("test", "body", "orelse"), lambda n: (n.test, *n.body, *n.orelse)),
    ast.For: (("target", "iter", "body", "orelse"), lambda n: (n.target, n.iter, *n.body, *n.orelse)),
    ast.comprehension: (("target", "iter", "ifs"), lambda n: (n.target, n.iter, *n.ifs)),
    ast.GeneratorExp: (("elt", "generators"), lambda n: (n.elt, *n.generators)),
    ast.ListComp: (("elt", "generators"), lambda n: (n.elt, *n.generators)),
}

_ScanEntry = tuple[_ChildList, int, "Callable[[_Analyzer, Any], None] | None", bool]


def _scan_entry(cls: type[ast.AST]) -> _ScanEntry:
    """(children reader, action, collector, checked) for a node class."""
    fields = _node_fields(cls)
    fast = _FAST_READERS.get(cls)
    reader = fast[1] if fast is not None and fast[0] == fields else _field_reader(fields)
    return reader, _SCAN_ACTIONS.get(cls, _PLAIN), _COLLECTORS.get(cls), cls in _CHECKS


class _Scan:
    """What one walk of the tree learns: the nodes to check, in the order the checks must run,
    the parent facts the checks ask about, and a bound on the nesting depth.

    The facts are recorded from each parent's side, so they assume a tree, as ``ast.parse``
    builds: a node object shared by two parents (possible only in a hand-built tree) has the
    facts of both.
    """

    __slots__ = (
        "checks",
        "receivers",
        "callees",
        "subscripted",
        "string_parts",
        "methods",
        "toplevel",
        "loads",
        "special_stores",
        "depth_bound",
    )

    def __init__(self, tree: ast.AST) -> None:
        self.checks: list[ast.AST] = []
        self.receivers: dict[int, ast.Attribute] = {}  # id(value) -> the Attribute reading it
        self.callees: dict[int, ast.Call] = {}  # id(func) -> the Call calling it
        self.subscripted: set[int] = set()  # ids of subscripted values
        self.string_parts: set[int] = set()  # ids of children of BinOp/JoinedStr/FormattedValue
        self.methods: set[int] = set()  # ids of direct children of classes
        self.toplevel = {id(child) for child in _children(tree)}
        self.loads: list[ast.Name] = []  # every name read, in pre-order
        self.special_stores = False  # whether a special name (__builtins__ ...) is assigned
        self.depth_bound = 0  # >= the nesting depth: exact unless a level holds no nodes


def _scan(analyzer: _Analyzer, scan: _Scan, tree: ast.AST, answers: bool) -> None:
    """Walk ``tree`` once in pre-order, calling each node's collector and queueing its checks
    (``answers``: whether hard-coded answers are looked for, so every literal is checked).

    This is the hot loop (hundreds of thousands of nodes), so it is kept flat: a stack of
    iterators over each level's children, names and constants handled inline.
    """
    queue_check = scan.checks.append
    queue_load = scan.loads.append
    receivers, callees = scan.receivers, scan.callees
    subscripted, string_parts = scan.subscripted, scan.string_parts
    entries = _SCAN_ENTRIES
    name_type, constant_type, load_type = ast.Name, ast.Constant, ast.Load
    load = _LOAD
    bound = 0
    # Frames: (iterator over the children still to visit, their depth).
    frames: list[tuple[Iterator[Any], int]] = [(iter((tree,)), 0)]
    push_frame, pop_frame = frames.append, frames.pop
    while frames:
        frame, level = frames[-1]
        for node in frame:
            # Follow the chain of first children without a frame; the other children wait in
            # a frame at the top of the stack, so a chain that pushed any ends the frame loop.
            depth = level
            pushed = False
            while True:
                cls = type(node)
                if cls is name_type:
                    ctx = node.ctx
                    if ctx is load or isinstance(ctx, load_type):
                        queue_check(node)
                        queue_load(node)
                    elif node.id in _SPECIAL_NAMES:
                        queue_check(node)
                        scan.special_stores = True
                    break
                if cls is constant_type:
                    # Skip literals _check_text cannot report on: every escape name holds "__",
                    # "f_" or "_frame", and every host path a "/".
                    value = node.value
                    if isinstance(value, str):
                        if (
                            answers
                            or "/" in value
                            or "_" in value
                            and ("__" in value or "f_" in value or "_frame" in value)
                        ):
                            queue_check(node)
                    elif isinstance(value, bytes):
                        if (
                            answers
                            or b"/" in value
                            or b"_" in value
                            and (b"__" in value or b"f_" in value or b"_frame" in value)
                        ):
                            queue_check(node)
                    elif answers and isinstance(value, int) and not isinstance(value, bool):
                        queue_check(node)
                    break
                entry = entries.get(cls)
                if entry is None:
                    if not isinstance(node, ast.AST):
                        break  # not a node: a None key in a dict display, say
                    entry = entries[cls] = _scan_entry(cls) if cls in _KNOWN_NODES else _GENERIC_ENTRY
                read, action, collector, checked = entry
                if collector is not None:
                    collector(analyzer, node)
                if checked:
                    queue_check(node)
                if action:
                    if action == _BIN_OP:
                        # Left-leaning operator chains (a + b + c ...) cost no depth.
                        left, right = node.left, node.right
                        string_parts.add(id(left))
                        string_parts.add(id(right))
                        push_frame((iter((right,)), depth + 1))
                        if depth >= bound:
                            bound = depth + 1
                        node, pushed = left, True
                        continue
                    if action == _ATTRIBUTE:
                        receivers[id(node.value)] = node
                    elif action == _CALL:
                        callees[id(node.func)] = node
                    elif action == _SUBSCRIPT:
                        subscripted.add(id(node.value))
                    elif action == _STRING_PART:
                        string_parts.update(map(id, _children(node)))
                    elif action == _CLASS:
                        scan.methods.update(map(id, _children(node)))
                    else:  # a node class outside the tables (a subclass, say): as the checks ask
                        nodes = _scan_generic(scan, node)
                        left = node.left if isinstance(node, ast.BinOp) else None
                        for child in reversed(nodes):
                            push_frame((iter((child,)), depth if child is left else depth + 1))
                        if nodes:
                            pushed = True
                            if depth >= bound:
                                bound = depth + 1
                        break
                try:
                    children = read(node)
                except AttributeError:  # a hand-built node missing a field
                    children = _children(node)
                count = len(children)
                if not count:
                    break
                depth += 1
                if depth > bound:
                    bound = depth
                if count == 1:
                    node = children[0]
                else:
                    rest = iter(children)
                    node = next(rest)
                    push_frame((rest, depth))
                    pushed = True
            if pushed:
                break
        else:
            pop_frame()
    scan.depth_bound = bound


def _scan_generic(scan: _Scan, node: ast.AST) -> list[ast.AST]:
    """Record what the checks may ask about ``node``'s children, judged by isinstance."""
    children = _children(node)
    if isinstance(node, ast.Attribute):
        scan.receivers[id(node.value)] = node
    if isinstance(node, ast.Call):
        scan.callees[id(node.func)] = node
    if isinstance(node, ast.Subscript):
        scan.subscripted.add(id(node.value))
    if isinstance(node, (ast.BinOp, ast.JoinedStr, ast.FormattedValue)):
        scan.string_parts.update(map(id, children))
    if isinstance(node, ast.ClassDef):
        scan.methods.update(map(id, children))
    return children


def _nesting(tree: ast.AST) -> tuple[int, ast.AST]:
    """Exact nesting depth and the first node (pre-order) that reaches it."""
    max_depth, deepest = 0, tree
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            max_depth, deepest = depth, node
        # Left-leaning operator chains (a + b + c ...) are folded iteratively: no depth cost.
        left = node.left if isinstance(node, ast.BinOp) else None
        for child in reversed(_children(node)):
            stack.append((child, depth if child is left else depth + 1))
    return max_depth, deepest


_GENERIC_ENTRY: Final[_ScanEntry] = (_children, _GENERIC, None, False)
_SPECIAL_NAMES: Final = frozenset({"__builtins__", "__loader__", "__spec__"})
_LOAD: Final = ast.parse("x", mode="eval").body.ctx  # type: ignore[attr-defined]
_KNOWN_NODES: Final = frozenset(
    cls
    for cls in vars(ast).values()
    if isinstance(cls, type) and issubclass(cls, ast.AST) and cls.__module__ == "ast"
)


def _results(scope: ast.AST) -> list[ast.AST]:
    """The values a function returns or yields (a lambda: its body), in source order."""
    if type(scope) is ast.Lambda:
        return [scope.body]
    found: list[ast.AST] = []
    pending = list(reversed(_children(scope)))
    while pending:
        node = pending.pop()
        if isinstance(node, _RESULTS) and node.value is not None:
            found.append(node.value)
        if not isinstance(node, _SCOPES):
            pending.extend(reversed(_children(node)))
    return found


def _parent_map(tree: ast.AST) -> dict[int, ast.AST]:
    parents: dict[int, ast.AST] = {}
    pending = [tree]
    while pending:
        node = pending.pop()
        for child in reversed(_children(node)):
            parents[id(child)] = node
            pending.append(child)
    return parents


_PlanStep = tuple[
    str, "tuple[str, str, str, bool] | None", "_Verdict | None", "_Verdict | None", "_Verdict | None"
]


@functools.lru_cache(maxsize=4096)
def _reference_plan(paths: frozenset[str], via_name: bool) -> tuple[_PlanStep, ...]:
    """What referring to an object with these paths reports, path by path (pure, so cached)."""
    plan: list[_PlanStep] = []
    for path in sorted(paths):
        step = (
            path,
            _classify(path, via_name=via_name),
            _flag_for(path),
            _SENSITIVE_VALUES.get(path),
            _VALUE_ONLY.get(path),
        )
        if any(part is not None for part in step[1:]):
            plan.append(step)
    return tuple(plan)


class _Analyzer:
    def __init__(self, tree: ast.Module, lines: list[str] | None, answers: _AnswerMatcher) -> None:
        self._tree = tree
        self._lines = lines
        self._answers = answers
        self._bindings: dict[str, list[_Binding]] = {}
        self._results: dict[int, list[ast.AST]] = {}
        self._parents: dict[int, ast.AST] | None = None
        self._values: dict[str, frozenset[str]] = {}
        self._star_modules: list[str] = []
        self._name_paths: dict[str, frozenset[str]] = {}
        self._fallbacks: dict[str, frozenset[str]] = {}
        self._memo: dict[int, frozenset[str]] = {}
        self._fold_memo: dict[int, object] = {}
        self._name_fold: dict[str, object] = {}
        self._findings: dict[tuple[int, int, str], Finding] = {}
        self._truncated = False
        self._fold_spent = 0
        self._first_load: dict[str, tuple[int, int]] | None = None
        self._index = _Scan(tree)
        _scan(self, self._index, tree, answers.active)
        # Every name read must have a position (_first_loads reads them lazily).
        deque(map(_POSITION, self._index.loads), maxlen=0)

    def run(self) -> Report:
        self._solve_names()
        checks = _CHECKS
        queued = self._index.checks
        # A queued name is a load, whose _check_name reports only what its paths report, or a
        # special name.  Only the names that can report are checked: usually none at all.
        loud = {
            name
            for name in set(map(_NAME_ID, self._index.loads))
            if name in _SPECIAL_NAMES or self._plan(self._name_values(name), True)
        }
        if self._index.special_stores:
            loud |= _SPECIAL_NAMES
        node: Any
        if loud:
            name_type = ast.Name
            for node in queued:
                cls = type(node)
                if cls is not name_type or node.id in loud:
                    checks[cls](self, node)
        else:
            for node in compress(queued, map(_UNNAMED_CHECKS.__contains__, map(type, queued))):
                checks[type(node)](self, node)
        self._check_complexity()
        ordered = sorted(self._findings.values(), key=lambda f: (f.line, f.col, f.rule))
        return Report(tuple(ordered))

    # ---- findings -------------------------------------------------------------------------

    def _add(self, rule: str, node: ast.AST, message: str, attr: str | None = None) -> None:
        line, col = self._position(node, attr)
        key = (line, col, rule)
        if key not in self._findings:
            self._findings[key] = Finding(rule, RULES[rule].rule_class, line, col, message)

    def _position(self, node: ast.AST, attr: str | None) -> tuple[int, int]:
        probe: ast.AST | None = node
        while probe is not None and getattr(probe, "lineno", None) is None:
            if self._parents is None:
                self._parents = _parent_map(self._tree)
            probe = self._parents.get(id(probe))
        if probe is None:
            return 1, 0
        line, col = int(probe.lineno), int(probe.col_offset)  # type: ignore[attr-defined]
        end_line = getattr(probe, "end_lineno", None)
        end_col = getattr(probe, "end_col_offset", None)
        if attr is not None and end_line is not None and end_col is not None:
            # Point at the attribute name itself, so findings along one chain stay distinct.
            line, col = end_line, max(end_col - len(attr.encode("utf-8")), 0)
        return line, self._char_col(line, col)

    def _char_col(self, line: int, col: int) -> int:
        if self._lines is None or not 0 < line <= len(self._lines):
            return col
        text = self._lines[line - 1]
        if text.isascii():
            return col
        return len(text.encode("utf-8")[:col].decode("utf-8", "ignore"))

    # ---- binding collection ---------------------------------------------------------------

    def _bind(self, name: str, binding: _Binding) -> None:
        bucket = self._bindings.get(name)
        if bucket is None:
            self._bindings[name] = [binding]
        else:
            bucket.append(binding)

    def _stmt_binding(
        self, stmt: ast.stmt, kind: str, node: ast.AST | None = None, path: str = ""
    ) -> _Binding:
        toplevel = id(stmt) in self._index.toplevel
        end = (stmt.end_lineno or stmt.lineno, stmt.end_col_offset or 0)
        return _new_binding((kind, node, path, toplevel, end))

    def _collect_import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            path = _canonical(alias.name if alias.asname else top)
            self._bind(alias.asname or top, self._stmt_binding(node, "import", path=path))

    def _collect_import_from(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                if not node.level and node.module and node.module not in self._star_modules:
                    self._star_modules.append(node.module)
                continue
            name = alias.asname or alias.name
            if node.level or not node.module:
                self._bind(name, _OPAQUE)
            else:
                path = _canonical(_reroot(f"{node.module}.{alias.name}"))
                self._bind(name, self._stmt_binding(node, "import", path=path))

    def _bind_target(
        self, target: ast.AST, value: ast.AST | None, exact: bool, stmt: ast.stmt | None
    ) -> None:
        if type(target) is ast.Name:  # the common case, without the work list
            kind = "opaque" if value is None else "expr" if exact else "elem"
            if stmt is not None and kind == "expr":
                self._bind(target.id, self._stmt_binding(stmt, kind, node=value))
            else:
                self._bind(target.id, _new_binding((kind, value, "", False, (0, 0))))
            return
        pending: list[tuple[ast.AST, bool]] = [(target, exact)]
        while pending:
            item, is_exact = pending.pop()
            if isinstance(item, ast.Name):
                kind = "opaque" if value is None else "expr" if is_exact else "elem"
                if stmt is not None and kind == "expr":
                    self._bind(item.id, self._stmt_binding(stmt, kind, node=value))
                else:
                    self._bind(item.id, _new_binding((kind, value, "", False, (0, 0))))
            elif isinstance(item, (ast.Tuple, ast.List)):
                pending.extend((elt, False) for elt in item.elts)
            elif isinstance(item, ast.Starred):
                pending.append((item.value, False))

    def _collect_assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, (ast.Tuple, ast.List)) and isinstance(node.value, (ast.Tuple, ast.List)):
                self._bind_pairs(target, node.value)
            else:
                self._bind_target(target, node.value, True, node)

    def _bind_pairs(self, target: ast.Tuple | ast.List, value: ast.Tuple | ast.List) -> None:
        starred = any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts))
        if starred or len(target.elts) != len(value.elts):
            self._bind_target(target, value, False, None)
            return
        for sub_target, sub_value in zip(target.elts, value.elts, strict=True):
            self._bind_target(sub_target, sub_value, True, None)

    def _collect_ann_assign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._bind_target(node.target, node.value, True, node)

    def _collect_aug_assign(self, node: ast.AugAssign) -> None:
        self._bind_target(node.target, None, False, None)

    def _collect_named_expr(self, node: ast.NamedExpr) -> None:
        self._bind_target(node.target, node.value, True, None)

    def _collect_for(self, node: ast.For | ast.AsyncFor | ast.comprehension) -> None:
        self._bind_target(node.target, node.iter, False, None)

    def _collect_with(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._bind_target(item.optional_vars, item.context_expr, False, None)

    def _collect_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # Methods bind class attributes, not names visible to the rest of the module.
        if id(node) not in self._index.methods:
            self._bind(node.name, self._stmt_binding(node, "def", node=node))
        self._collect_params(node.args)

    def _collect_lambda(self, node: ast.Lambda) -> None:
        self._collect_params(node.args)

    def _collect_params(self, args: ast.arguments) -> None:
        positional = [*args.posonlyargs, *args.args]
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(
            args.defaults
        )
        pairs = [
            *zip(positional, defaults, strict=True),
            *zip(args.kwonlyargs, args.kw_defaults, strict=True),
        ]
        for arg, default in pairs:
            self._bind(
                arg.arg, _OPAQUE if default is None else _new_binding(("elem", default, "", False, (0, 0)))
            )
        for extra in (args.vararg, args.kwarg):
            if extra is not None:
                self._bind(extra.arg, _OPAQUE)

    def _collect_class(self, node: ast.ClassDef) -> None:
        self._bind(node.name, self._stmt_binding(node, "class", node=node))

    def _collect_opaque_name(self, node: ast.ExceptHandler | ast.MatchAs | ast.MatchStar) -> None:
        if node.name:
            self._bind(node.name, _OPAQUE)

    def _collect_match_mapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self._bind(node.rest, _OPAQUE)

    def _collect_delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._bind_target(target, None, False, None)

    def _first_loads(self) -> dict[str, tuple[int, int]]:
        """Where each name is first read."""
        if self._first_load is None:
            first: dict[str, tuple[int, int]] = {}
            never = (1 << 62, 0)
            for node in self._index.loads:
                here = (node.lineno, node.col_offset)
                if here < first.get(node.id, never):
                    first[node.id] = here
            self._first_load = first
        return self._first_load

    # ---- name resolution ------------------------------------------------------------------

    def _solve_names(self) -> None:
        """Fixpoint of name -> paths: sets only grow and canonical paths are finitely many."""
        static = {
            name: frozenset(b.path for b in bs if b.kind == "import") for name, bs in self._bindings.items()
        }
        dynamic = [
            (name, nodes)
            for name, bs in self._bindings.items()
            if (nodes := [b.node for b in bs if b.kind in ("expr", "elem") and b.node is not None])
        ]
        self._name_paths = {name: paths for name, paths in static.items() if paths}
        for round_no in range(_MAX_ROUNDS):
            self._reset_memos()
            changed = False
            # Alternate direction so alias chains written in either order converge quickly.
            for name, nodes in dynamic if round_no % 2 == 0 else reversed(dynamic):
                paths = static[name].union(*(self._resolve(n) for n in nodes))
                if paths != self._name_paths.get(name, _EMPTY):
                    self._name_paths[name] = paths
                    self._values.pop(name, None)
                    changed = True
            if not changed:
                return
        self._truncated = True
        self._reset_memos()

    def _reset_memos(self) -> None:
        self._memo = {}
        self._fold_memo = {}
        self._name_fold = {}

    def _name_values(self, name: str) -> frozenset[str]:
        values = self._values.get(name)
        if values is None:
            values = self._values[name] = self._name_paths.get(name, _EMPTY) | self._fallback(name)
        return values

    def _fallback(self, name: str) -> frozenset[str]:
        """Paths a name has when no binding explains it: builtins and star imports."""
        cached = self._fallbacks.get(name)
        if cached is not None:
            return cached
        found: set[str] = set()
        if name == "__builtins__":
            found.add("builtins")
        elif name in _BUILTIN_NAMES and not self._shadows_builtin(name):
            found.add(f"builtins.{name}")
        for module in self._star_modules[:_MAX_STAR_MODULES]:
            if name in _star_exports(module):
                found.add(_canonical(f"{module}.{name}"))
        result = frozenset(found)
        self._fallbacks[name] = result
        return result

    def _shadows_builtin(self, name: str) -> bool:
        """True when unconditional top-level bindings precede every use (``from re import compile``)."""
        bindings = self._bindings.get(name)
        if not bindings:
            return False
        if any(not b.toplevel or b.kind not in ("import", "def", "class", "expr") for b in bindings):
            return False
        first_end = min(b.end for b in bindings)
        first_use = self._first_loads().get(name)
        return first_use is None or first_use >= first_end

    def _resolve(self, node: ast.AST, depth: int = 0) -> frozenset[str]:
        """Conservative set of paths an expression may evaluate to."""
        key = id(node)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        handler = _RESOLVERS.get(type(node))
        if handler is None:
            return _EMPTY
        if depth > _MAX_RECURSION:
            self._truncated = True
            return _EMPTY
        self._memo[key] = _EMPTY  # provisional: breaks cycles through user-function returns
        result = handler(self, node, depth + 1)
        self._memo[key] = result
        return result

    def _union(self, nodes: Iterable[ast.AST | None], depth: int) -> frozenset[str]:
        found: frozenset[str] = _EMPTY
        resolvers = _RESOLVERS
        for node in nodes:
            if node is not None:
                # A node without a resolver (a constant, say) resolves to nothing, memo untouched.
                paths = self._resolve(node, depth) if type(node) in resolvers else _EMPTY
                if found or paths:
                    # Always a fresh union, never a reused operand: the iteration order of the
                    # result decides which of several callees _f_call folds with.
                    found = found | paths
        return found

    def _r_name(self, node: ast.Name, depth: int) -> frozenset[str]:
        values = self._values.get(node.id)
        return self._name_values(node.id) if values is None else values

    def _r_attribute(self, node: ast.Attribute, depth: int) -> frozenset[str]:
        if node.attr == "__class__":
            return frozenset({_TYPE})
        base = self._resolve(node.value, depth)
        return frozenset(_extend(b, node.attr) for b in base) if base else _EMPTY

    def _r_subscript(self, node: ast.Subscript, depth: int) -> frozenset[str]:
        base = self._resolve(node.value, depth)
        if not base:
            return _EMPTY
        # A container's items resolve to whatever the container holds.
        return base | self._lookup(base, self._fold(node.slice, depth))

    def _r_call(self, node: ast.Call, depth: int) -> frozenset[str]:
        return (
            self._call_special(node, depth)
            | self._call_returns(node, depth)
            | self._call_passthrough(node, depth)
        )

    def _r_elements(self, node: ast.List | ast.Tuple | ast.Set, depth: int) -> frozenset[str]:
        return self._union(node.elts, depth)

    def _r_dict(self, node: ast.Dict, depth: int) -> frozenset[str]:
        return self._union(node.values, depth)

    def _r_if_exp(self, node: ast.IfExp, depth: int) -> frozenset[str]:
        return self._union((node.body, node.orelse), depth)

    def _r_bool_op(self, node: ast.BoolOp, depth: int) -> frozenset[str]:
        return self._union(node.values, depth)

    def _r_value(self, node: ast.NamedExpr | ast.Starred | ast.Await, depth: int) -> frozenset[str]:
        return self._resolve(node.value, depth)

    def _r_comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp, depth: int
    ) -> frozenset[str]:
        return self._resolve(node.elt, depth)

    def _r_dict_comp(self, node: ast.DictComp, depth: int) -> frozenset[str]:
        return self._resolve(node.value, depth)

    def _r_bin_op(self, node: ast.BinOp, depth: int) -> frozenset[str]:
        probe: ast.AST = node
        while isinstance(probe, ast.BinOp):
            if not isinstance(probe.op, ast.Div):
                return _EMPTY
            probe = probe.left
        return frozenset({_PATH}) if _PATH in self._resolve(probe, depth) else _EMPTY

    def _lookup(self, base: frozenset[str], key: object) -> frozenset[str]:
        """Paths reached by subscripting namespace-like objects (globals(), sys.modules, __dict__)."""
        found: set[str] = set()
        for path in base:
            if path == _GLOBALS:
                if key == "__builtins__":
                    found.add("builtins")
                elif isinstance(key, str):
                    found |= self._name_paths.get(key, _EMPTY)
                else:
                    found.add(_DYNAMIC)
            elif path in ("sys.modules", "builtins") or path.endswith(".__dict__"):
                if not isinstance(key, str):
                    found.add(_DYNAMIC)
                    continue
                if path == "sys.modules":
                    found.add(_canonical(key))
                else:
                    found.add(_extend(path.removesuffix(".__dict__"), key))
        return frozenset(found)

    def _call_special(self, node: ast.Call, depth: int) -> frozenset[str]:
        """Paths produced by calls that look things up by name (getattr, __import__, ...)."""
        func_node = node.func
        found: set[str] = set()
        if isinstance(func_node, ast.Call) and node.args:  # else _attrgetter_result finds nothing
            found.update(self._attrgetter_result(node, depth))
        funcs = self._memo.get(id(func_node))
        if funcs is None:
            funcs = self._resolve(func_node, depth)
        for func in () if funcs.isdisjoint(_SPECIAL_CALLS) else funcs:
            if func in _GETATTR_LIKE and func in ("builtins.getattr", "inspect.getattr_static"):
                found |= self._getattr_result(node, depth)
            elif func in _IMPORTERS:
                found |= self._import_result(node, depth)
            elif func in _NAMESPACES or (func == "builtins.vars" and not node.args):
                found.add(_GLOBALS)
            elif func == "builtins.vars":
                found |= {_extend(p, "__dict__") for p in self._resolve(node.args[0], depth)}
            elif func == "builtins.type" and len(node.args) == 1:
                found.add(_TYPE)
            elif self._makes_path(func):
                found.add(_PATH)
        if isinstance(func_node, ast.Attribute) and func_node.attr in _LOOKUP_METHODS and node.args:
            base = self._resolve(func_node.value, depth)
            if base:
                found |= self._lookup(base, self._fold(node.args[0], depth))
        return frozenset(found) if found else _EMPTY

    @staticmethod
    def _makes_path(func: str) -> bool:
        return func in _PATH_MAKERS

    def _getattr_result(self, node: ast.Call, depth: int) -> frozenset[str]:
        args = node.args
        if len(args) < 2 or any(isinstance(a, ast.Starred) for a in args[:2]):
            return frozenset({_DYNAMIC}) if self._union(args, depth) else _EMPTY
        receiver = self._resolve(args[0], depth)
        name = self._fold(args[1], depth)
        default = self._union(args[2:3], depth)
        if not isinstance(name, str):
            dynamic = receiver or _is_literal(args[0])
            return default | (frozenset({_DYNAMIC}) if dynamic else _EMPTY)
        if name == "__class__":
            return default | frozenset({_TYPE})
        return default | frozenset(_extend(r, name) for r in receiver)

    def _attrgetter_result(self, node: ast.Call, depth: int) -> frozenset[str]:
        inner = node.func
        if not isinstance(inner, ast.Call) or not node.args:
            return _EMPTY
        if "operator.attrgetter" not in self._resolve(inner.func, depth) or not inner.args:
            return _EMPTY
        dotted = self._fold(inner.args[0], depth)
        paths = self._resolve(node.args[0], depth)
        if not isinstance(dotted, str):
            return frozenset({_DYNAMIC}) if paths else _EMPTY
        for part in dotted.split("."):
            paths = frozenset(_extend(r, part) for r in paths)
        return paths

    def _import_result(self, node: ast.Call, depth: int) -> frozenset[str]:
        target: ast.AST | None = node.args[0] if node.args else None
        for keyword in node.keywords:
            if keyword.arg == "name":
                target = keyword.value
        name = self._fold(target, depth) if target is not None else None
        if not isinstance(name, str) or not name:
            return frozenset({_DYNAMIC})
        return frozenset({_canonical(name), _canonical(name.split(".")[0])})

    def _call_returns(self, node: ast.Call, depth: int) -> frozenset[str]:
        func = node.func
        if isinstance(func, ast.Lambda):
            return self._resolve(func.body, depth)
        if not isinstance(func, ast.Name):
            return _EMPTY
        found: frozenset[str] = _EMPTY
        for binding in self._bindings.get(func.id, ()):
            if binding.kind == "def" or (binding.kind == "expr" and isinstance(binding.node, ast.Lambda)):
                found = found | self._union(self._function_results(binding.node), depth)
        return found

    def _function_results(self, function: ast.AST | None) -> list[ast.AST]:
        found = self._results.get(id(function))
        if found is None:
            found = self._results[id(function)] = _results(function) if function is not None else []
        return found

    def _call_passthrough(self, node: ast.Call, depth: int) -> frozenset[str]:
        func = node.func
        if self._resolve(func, depth) & _PASSTHROUGH_CALLS:
            return self._union([*node.args, *(k.value for k in node.keywords)], depth)
        if isinstance(func, ast.Attribute) and func.attr in _PASSTHROUGH_METHODS:
            return self._resolve(func.value, depth)
        return _EMPTY

    # ---- constant folding -----------------------------------------------------------------

    def _fold(self, node: ast.AST, depth: int = 0, env: dict[str, object] | None = None) -> object:
        """The constant value of an expression (str, bytes, int or tuple), or None."""
        key = id(node)
        if env is None:
            value = self._fold_memo.get(key, _MISSING)
            if value is not _MISSING:
                return value
        cls = type(node)
        if cls is _CONSTANT:  # _f_constant, without the call
            if depth > _MAX_RECURSION or self._fold_spent > _FOLD_BUDGET:
                return None
            value = node.value  # type: ignore[attr-defined]
            if not isinstance(value, _CONSTANT_VALUES):
                value = None
        else:
            handler = _FOLDERS.get(cls)
            if handler is None or depth > _MAX_RECURSION or self._fold_spent > _FOLD_BUDGET:
                return None
            value = _MISSING
            if cls is _NAME and env is None:  # _f_name's cache, without the call
                value = self._name_fold.get(node.id, _MISSING)  # type: ignore[attr-defined]
            if value is _MISSING:
                value = handler(self, node, depth + 1, env)
            if isinstance(value, _SIZED_VALUES):  # (a constant's own value costs nothing)
                self._fold_spent += len(value)
                if self._fold_spent > _FOLD_BUDGET:
                    self._truncated = True
                    value = None
        if env is None:
            self._fold_memo[key] = value
        return value

    def _f_constant(self, node: ast.Constant, depth: int, env: dict[str, object] | None) -> object:
        return node.value if isinstance(node.value, (str, bytes, int)) else None

    def _f_name(self, node: ast.Name, depth: int, env: dict[str, object] | None) -> object:
        if env is not None and node.id in env:
            return env[node.id]
        name = node.id
        if name in self._name_fold:
            return self._name_fold[name]
        self._name_fold[name] = None  # provisional: self-referential definitions do not fold
        bindings = self._bindings.get(name, ())
        value: object = None
        if bindings and all(b.kind == "expr" and b.node is not None for b in bindings):
            values = [self._fold(b.node, depth) for b in bindings if b.node is not None]
            if values[0] is not None and all(v == values[0] for v in values):
                value = values[0]
        self._name_fold[name] = value
        return value

    def _f_bin_op(self, node: ast.BinOp, depth: int, env: dict[str, object] | None) -> object:
        # Walk the left spine iteratively so long `a + b + c ...` chains cost no recursion.
        spine: list[ast.BinOp] = []
        probe: ast.AST = node
        while isinstance(probe, ast.BinOp) and (
            env is not None or probe is node or id(probe) not in self._fold_memo
        ):
            spine.append(probe)
            probe = probe.left
        value = self._fold(probe, depth, env)
        for item in reversed(spine):
            value = _binop(item.op, value, self._fold(item.right, depth, env))
            if env is None and item is not node:
                self._fold_memo[id(item)] = value
        return value

    def _f_unary_op(self, node: ast.UnaryOp, depth: int, env: dict[str, object] | None) -> object:
        value = self._fold(node.operand, depth, env)
        if not isinstance(value, int):
            return None
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        return ~value if isinstance(node.op, ast.Invert) else None

    def _f_joined_str(self, node: ast.JoinedStr, depth: int, env: dict[str, object] | None) -> object:
        parts: list[str] = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
                continue
            if not isinstance(value, ast.FormattedValue) or value.format_spec is not None:
                return None  # a format spec can pad to any width
            text = _format_value(self._fold(value.value, depth, env), value.conversion)
            if not isinstance(text, str):
                return None
            parts.append(text)
        return _bounded("".join(parts))

    def _f_subscript(self, node: ast.Subscript, depth: int, env: dict[str, object] | None) -> object:
        base = self._fold(node.value, depth, env)
        if not isinstance(base, (str, bytes, tuple)):
            return None
        index = node.slice
        try:
            if isinstance(index, ast.Slice):
                parts = (index.lower, index.upper, index.step)
                bounds = [None if b is None else self._fold(b, depth, env) for b in parts]
                if any(p is not None and not isinstance(b, int) for p, b in zip(parts, bounds, strict=True)):
                    return None
                return base[slice(*bounds)]  # type: ignore[arg-type]
            position = self._fold(index, depth, env)
            return base[position] if isinstance(position, int) else None
        except (IndexError, ValueError, TypeError):
            return None

    def _f_sequence(self, node: ast.List | ast.Tuple, depth: int, env: dict[str, object] | None) -> object:
        items: list[object] = []
        for elt in node.elts:
            if isinstance(elt, ast.Starred):
                inner = self._fold(elt.value, depth, env)
                if not isinstance(inner, (str, tuple)):
                    return None
                items.extend(inner)
            else:
                value = self._fold(elt, depth, env)
                if value is None:
                    return None
                items.append(value)
            if len(items) > _MAX_FOLD_ITEMS:
                return None
        return tuple(items)

    def _f_comprehension(
        self, node: ast.ListComp | ast.GeneratorExp, depth: int, env: dict[str, object] | None
    ) -> object:
        if len(node.generators) != 1:
            return None
        generator = node.generators[0]
        if generator.ifs or generator.is_async or not isinstance(generator.target, ast.Name):
            return None
        source = self._fold(generator.iter, depth, env)
        if not isinstance(source, (str, bytes, tuple)) or len(source) > _MAX_FOLD_ITEMS:
            return None
        results: list[object] = []
        for item in source:
            value = self._fold(node.elt, depth, {**(env or {}), generator.target.id: item})
            if value is None:
                return None
            results.append(value)
        return tuple(results)

    def _f_call(self, node: ast.Call, depth: int, env: dict[str, object] | None) -> object:
        if node.keywords:
            return None
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                return None
        funcs = self._memo.get(id(node.func))
        if funcs is None:
            funcs = self._resolve(node.func, depth)
        if "builtins.map" in funcs and len(node.args) == 2:
            return self._fold_map(node, depth, env)
        args = list(map(self._fold, node.args, repeat(depth), repeat(env)))
        if None in args:
            return None
        func = node.func
        if isinstance(func, ast.Attribute):
            return self._fold_method_call(func, args, depth, env)
        for path in funcs:
            if path.startswith("builtins."):
                value = _fold_builtin(path.removeprefix("builtins."), args)
                if value is not None:
                    return _bounded(value)
        return None

    def _fold_method_call(
        self, func: ast.Attribute, args: list[object], depth: int, env: dict[str, object] | None
    ) -> object:
        receiver = self._fold(func.value, depth, env)
        if receiver is not None:
            return _apply_method(receiver, func.attr, args)
        owners = self._resolve(func.value, depth)
        if not owners & {"builtins.str", "builtins.bytes", "builtins.bytearray"}:
            return None
        if func.attr == "fromhex" and len(args) == 1 and isinstance(args[0], str):
            try:
                return _bounded(bytes.fromhex(args[0]))
            except ValueError:
                return None
        return _apply_method(args[0], func.attr, args[1:]) if args else None

    def _fold_map(self, node: ast.Call, depth: int, env: dict[str, object] | None) -> object:
        mapper = self._resolve(node.args[0], depth)
        source = self._fold(node.args[1], depth, env)
        names = [
            p.removeprefix("builtins.")
            for p in mapper
            if p in ("builtins.chr", "builtins.str", "builtins.ord")
        ]
        if len(names) != 1 or not isinstance(source, (str, bytes, tuple)):
            return None
        results = [_fold_builtin(names[0], [item]) for item in source]
        return None if any(r is None for r in results) else tuple(results)

    # ---- checks ---------------------------------------------------------------------------

    def _is_maximal(self, node: ast.AST) -> bool:
        """Whether ``node`` is not merely the receiver of a longer attribute chain."""
        return id(node) not in self._index.receivers

    def _is_called(self, node: ast.AST) -> bool:
        return id(node) in self._index.callees

    @staticmethod
    def _plan(paths: frozenset[str], via_name: bool) -> tuple[_PlanStep, ...]:
        return _reference_plan(paths, via_name) if paths else ()

    def _check_reference(self, node: ast.AST, paths: frozenset[str], via_name: bool) -> None:
        if not paths:
            return
        plan = self._plan(paths, via_name)
        if not plan:
            return
        shown = _describe(node)
        attr = node.attr if isinstance(node, ast.Attribute) else None
        for path, verdict, flag, sensitive, value_only in plan:
            if verdict is not None:
                rule, subject, why, is_module = verdict
                self._add(
                    rule, node, f"use of {_subject_text(rule, subject, is_module)} via '{shown}': {why}", attr
                )
            if flag is not None:
                self._add(flag[0], node, f"'{shown}' {flag[1]} ({path})", attr)
            if sensitive is not None:
                self._add(sensitive[0], node, f"'{shown}': {sensitive[1]}", attr)
            if value_only is not None and not self._is_called(node):
                self._add(value_only[0], node, f"'{shown}': {value_only[1]}", attr)

    def _check_import(self, node: ast.Import) -> None:
        for alias in node.names:
            verdict = _classify(alias.name)
            if verdict is None:
                continue
            rule, subject, why, is_module = verdict
            what = _subject_text(rule, subject, is_module)
            if is_module and subject == alias.name:
                text = f"import of {what}{_as_text(alias)}: {why}"
            else:
                text = f"import of '{alias.name}'{_as_text(alias)}: {what}, {why}"
            self._add(rule, alias, text)

    def _check_import_from(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        for alias in node.names:
            if alias.name == "*":
                verdict = _classify(node.module)
                if verdict is not None:
                    rule, subject, why, is_module = verdict
                    what = _subject_text(rule, subject, is_module)
                    self._add(rule, alias, f"wildcard import from {what}: {why}")
                continue
            verdict = _classify(_reroot(f"{node.module}.{alias.name}"), via_name=True)
            if verdict is not None:
                rule, subject, why, is_module = verdict
                origin = _subject_text(rule, subject, is_module)
                self._add(
                    rule,
                    alias,
                    f"import of '{alias.name}' from '{node.module}'{_as_text(alias)}: {origin}, {why}",
                )

    def _check_name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self._add(BUILTINS_ACCESS, node, "reference to '__builtins__'")
        elif node.id in ("__loader__", "__spec__"):
            self._add(
                INTROSPECTION_ESCAPE, node, f"reference to '{node.id}': the module loader can import code"
            )
        if isinstance(node.ctx, ast.Load) and self._is_maximal(node):
            self._check_reference(node, self._name_values(node.id), via_name=True)

    def _check_attribute(self, node: ast.Attribute) -> None:
        self._check_attr_name(node)
        if isinstance(node.ctx, ast.Load):
            if self._is_maximal(node):
                self._check_reference(node, self._resolve(node), via_name=False)
        elif _touches_builtins(self._resolve(node.value)):
            self._add(BUILTINS_ACCESS, node, f"assignment to builtins attribute '{node.attr}'", node.attr)

    def _check_attr_name(self, node: ast.Attribute) -> None:
        attr = node.attr
        escape = _ESCAPE_ATTRS.get(attr)
        if escape is not None:
            self._add(escape, node, f"access to '{attr}': {_ESCAPE_REASON}", attr)
        elif attr == "__dict__":
            owners = self._resolve(node.value)
            if owners:
                rule = BUILTINS_ACCESS if _touches_builtins(owners) else INTROSPECTION_ESCAPE
                self._add(rule, node, f"'__dict__' of '{_describe(node.value)}' exposes its namespace", attr)
        elif attr in _WRITE_METHODS or (attr in _PATH_WRITE_METHODS and _PATH in self._resolve(node.value)):
            self._add(FILE_WRITE, node, f"'{_describe(node)}' modifies the filesystem", attr)
        elif attr in _PROCESS_METHODS:
            self._add(FORBIDDEN_CALL, node, f"'{_describe(node)}' {_PROCESS_METHODS[attr]}", attr)

    def _check_subscript(self, node: ast.Subscript) -> None:
        self._check_folded(node)
        self._check_namespace_subscript(node)

    def _check_namespace_subscript(self, node: ast.Subscript) -> None:
        base = self._resolve(node.value)
        if not base:
            return
        containers = {
            p for p in base if p in (_GLOBALS, "sys.modules", "builtins") or p.endswith(".__dict__")
        }
        if not containers:
            return
        key = self._fold(node.slice)
        rule = (
            BUILTINS_ACCESS
            if containers & {_GLOBALS, "builtins", "builtins.__dict__"}
            else INTROSPECTION_ESCAPE
        )
        shown = _describe(node.value)
        if not isinstance(key, str):
            self._add(rule, node, f"non-constant key into '{shown}'")
        elif not isinstance(node.ctx, ast.Load):
            if key.startswith("__") or containers != {_GLOBALS}:
                self._add(rule, node, f"modifies '{shown}[{key!r}]'")
        if isinstance(node.ctx, ast.Load) and self._is_maximal(node):
            self._check_reference(node, self._lookup(frozenset(containers), key), via_name=False)

    def _check_call(self, node: ast.Call) -> None:
        funcs = self._memo.get(id(node.func))
        if funcs is None:
            funcs = self._resolve(node.func)
        if not funcs.isdisjoint(_CHECKED_CALLS):
            self._check_getattr_call(node, funcs)
            self._check_attrgetter_call(node, funcs)
            self._check_namespace_call(node, funcs)
            self._check_open_call(node, funcs)
            for path in sorted(funcs & _CALL_ONLY.keys()):
                self._add(_CALL_ONLY[path][0], node, f"call of '{path}': {_CALL_ONLY[path][1]}")
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "open":
            self._check_open_call(node, funcs)  # the only check that acts on unrecognised callees
        if id(node) not in self._index.receivers:  # _is_maximal
            paths = self._call_special(node, 0)
            if paths:
                self._check_reference(node, paths, via_name=False)
        self._check_folded(node)

    def _check_getattr_call(self, node: ast.Call, funcs: frozenset[str]) -> None:
        kinds = funcs & _GETATTR_LIKE
        if not kinds:
            return
        fname = sorted(kinds)[0].rpartition(".")[2]
        args = node.args
        plain = len(args) >= 2 and not any(isinstance(a, ast.Starred) for a in args[:2])
        receiver = self._resolve(args[0]) if plain else self._union(args, 0)
        name = self._fold(args[1]) if plain else None
        if isinstance(name, str):
            self._check_attr_string(node, name, receiver, fname)
        elif receiver or (plain and _is_literal(args[0])):
            rule = BUILTINS_ACCESS if _touches_builtins(receiver) else INTROSPECTION_ESCAPE
            shown = _describe(args[0]) if plain else "..."
            self._add(rule, node, f"{fname}() with a non-constant attribute name on '{shown}'")
        if kinds & {"builtins.setattr", "builtins.delattr"} and _touches_builtins(receiver):
            self._add(BUILTINS_ACCESS, node, f"{fname}() modifies builtins")

    def _check_attr_string(self, node: ast.Call, name: str, receiver: frozenset[str], fname: str) -> None:
        for part in name.split("."):
            escape = _ESCAPE_ATTRS.get(part)
            suspicious = _SUSPICIOUS_NAMES.get(part)
            if escape is not None:
                self._add(escape, node, f"{fname}() of '{part}': {_ESCAPE_REASON}")
            elif part == "__dict__" and receiver:
                rule = BUILTINS_ACCESS if _touches_builtins(receiver) else INTROSPECTION_ESCAPE
                self._add(rule, node, f"{fname}() of '__dict__' exposes a namespace")
            elif suspicious is not None and not receiver:
                self._add(suspicious[0], node, f"{fname}() of '{part}': {suspicious[1]}")

    def _check_attrgetter_call(self, node: ast.Call, funcs: frozenset[str]) -> None:
        kinds = funcs & _ATTR_GETTERS
        if not kinds:
            return
        fname = sorted(kinds)[0].rpartition(".")[2]
        names = node.args if "operator.attrgetter" in kinds else node.args[:1]
        for arg in names:
            value = self._fold(arg)
            if isinstance(value, str):
                self._check_attr_string(node, value, _EMPTY, fname)
            else:
                self._add(INTROSPECTION_ESCAPE, node, f"{fname}() with a non-constant attribute name")

    def _check_namespace_call(self, node: ast.Call, funcs: frozenset[str]) -> None:
        no_args = not node.args and not node.keywords
        names = sorted(funcs & _NAMESPACES) + (
            ["builtins.vars"] if "builtins.vars" in funcs and no_args else []
        )
        if names:
            if not self._is_constant_lookup(node):
                fname = names[0].rpartition(".")[2]
                self._add(BUILTINS_ACCESS, node, f"{fname}() used other than as a constant-key lookup")
            return
        if "builtins.vars" in funcs and node.args:
            owners = self._resolve(node.args[0])
            if owners:
                rule = BUILTINS_ACCESS if _touches_builtins(owners) else INTROSPECTION_ESCAPE
                self._add(rule, node, f"vars() of '{_describe(node.args[0])}' exposes its namespace")

    def _is_constant_lookup(self, node: ast.Call) -> bool:
        if id(node) in self._index.subscripted:
            return True  # the key itself is checked by _check_subscript
        parent = self._index.receivers.get(id(node))
        if parent is not None and parent.attr in ("get", "__getitem__"):
            call = self._index.callees.get(id(parent))
            if call is not None and call.args:
                key = self._fold(call.args[0])
                return isinstance(key, str) and not key.startswith("__")
        return False

    def _check_open_call(self, node: ast.Call, funcs: frozenset[str]) -> None:
        openers = sorted(p for p in funcs if p in _OPENERS)
        guessed = False
        if openers:
            index = _OPENERS[openers[0]]
            shown = openers[0].rpartition(".")[2]
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "open" and not funcs:
            index, shown, guessed = 0, "open", True  # p.open(...) on an unknown object: Path-like
        else:
            return
        mode_node, positional = self._mode_argument(node, index)
        if mode_node is None:
            if not guessed and self._has_splat(node):
                self._add(
                    FILE_WRITE, node, f"{shown}() with unpacked arguments (mode cannot be proven read-only)"
                )
            return
        mode = self._fold(mode_node)
        if isinstance(mode, str):
            if guessed and positional and not (mode and set(mode) <= _MODE_CHARS and len(mode) <= 3):
                return  # first positional argument is a name, not a mode
            if set(mode) & _WRITE_MODE_CHARS:
                self._add(FILE_WRITE, node, f"{shown}() with write mode {mode!r}")
        elif not (guessed and positional):
            self._add(FILE_WRITE, node, f"{shown}() with a non-constant mode (cannot be proven read-only)")

    @staticmethod
    def _mode_argument(node: ast.Call, index: int) -> tuple[ast.AST | None, bool]:
        for keyword in node.keywords:
            if keyword.arg == "mode":
                return keyword.value, False
        for position, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred):
                return arg, True  # unpacked: the mode could be anything
            if position == index:
                return arg, True
        return None, False

    @staticmethod
    def _has_splat(node: ast.Call) -> bool:
        return any(k.arg is None for k in node.keywords)

    def _check_constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, str):
            self._check_text(node, value)
        elif isinstance(value, bytes):
            self._check_text(node, value.decode("latin-1"))
        elif isinstance(value, int) and not isinstance(value, bool) and self._answers.active:
            answer = self._answers.find(str(value))
            if answer is not None and answer.strip().casefold() == str(value).casefold():
                self._add(HARDCODED_ANSWER, node, f"numeric literal is a problem-suite answer {answer!r}")

    def _check_folded(self, node: ast.AST) -> None:
        """Check the folded value of a maximal string expression built from parts."""
        if id(node) in self._index.string_parts:
            return
        value = self._fold(node)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str):
            self._check_text(node, value, built=True)

    def _check_text(self, node: ast.AST, text: str, built: bool = False) -> None:
        kind = "built string" if built else "string literal"
        # Every escape name has an underscore: a C-speed `in` spares prose and data the regex scan.
        for match in _ESCAPE_STRING.finditer(text) if "_" in text else ():
            name = match.group(0)
            self._add(
                _ESCAPE_ATTRS.get(name, INTROSPECTION_ESCAPE),
                node,
                f"{kind} names '{name}': {_ESCAPE_REASON}",
            )
        if _HOST_PATH.match(text):
            self._add(HOST_STATE, node, f"{kind} names a host path {text.strip()[:40]!r}")
        if self._answers.active:
            answer = self._answers.find(text)
            if answer is not None:
                self._add(HARDCODED_ANSWER, node, f"{kind} contains the problem-suite answer {answer!r}")

    def _check_complexity(self) -> None:
        max_depth, deepest = _nesting(self._tree) if self._index.depth_bound > _MAX_DEPTH else (0, self._tree)
        if max_depth > _MAX_DEPTH:
            self._add(
                TOO_COMPLEX,
                deepest,
                f"nesting depth {max_depth} exceeds the analysable limit of {_MAX_DEPTH}",
            )
        if len(self._star_modules) > _MAX_STAR_MODULES:
            self._add(TOO_COMPLEX, self._tree, f"more than {_MAX_STAR_MODULES} wildcard imports")
        if self._truncated:
            self._add(
                TOO_COMPLEX, self._tree, "alias chains, call chains or folded strings too large to analyse"
            )


_Resolver = Callable[[_Analyzer, Any, int], frozenset[str]]
_RESOLVERS: Final[dict[type[ast.AST], _Resolver]] = {
    ast.Name: _Analyzer._r_name,
    ast.Attribute: _Analyzer._r_attribute,
    ast.Subscript: _Analyzer._r_subscript,
    ast.Call: _Analyzer._r_call,
    ast.List: _Analyzer._r_elements,
    ast.Tuple: _Analyzer._r_elements,
    ast.Set: _Analyzer._r_elements,
    ast.Dict: _Analyzer._r_dict,
    ast.IfExp: _Analyzer._r_if_exp,
    ast.BoolOp: _Analyzer._r_bool_op,
    ast.NamedExpr: _Analyzer._r_value,
    ast.Starred: _Analyzer._r_value,
    ast.Await: _Analyzer._r_value,
    ast.ListComp: _Analyzer._r_comprehension,
    ast.SetComp: _Analyzer._r_comprehension,
    ast.GeneratorExp: _Analyzer._r_comprehension,
    ast.DictComp: _Analyzer._r_dict_comp,
    ast.BinOp: _Analyzer._r_bin_op,
}

_Folder = Callable[[_Analyzer, Any, int, "dict[str, object] | None"], object]
_FOLDERS: Final[dict[type[ast.AST], _Folder]] = {
    ast.Constant: _Analyzer._f_constant,
    ast.Name: _Analyzer._f_name,
    ast.BinOp: _Analyzer._f_bin_op,
    ast.UnaryOp: _Analyzer._f_unary_op,
    ast.JoinedStr: _Analyzer._f_joined_str,
    ast.Subscript: _Analyzer._f_subscript,
    ast.List: _Analyzer._f_sequence,
    ast.Tuple: _Analyzer._f_sequence,
    ast.ListComp: _Analyzer._f_comprehension,
    ast.GeneratorExp: _Analyzer._f_comprehension,
    ast.Call: _Analyzer._f_call,
}

_Visitor = Callable[[_Analyzer, Any], None]
_COLLECTORS: Final[dict[type[ast.AST], _Visitor]] = {
    ast.Import: _Analyzer._collect_import,
    ast.ImportFrom: _Analyzer._collect_import_from,
    ast.Assign: _Analyzer._collect_assign,
    ast.AnnAssign: _Analyzer._collect_ann_assign,
    ast.AugAssign: _Analyzer._collect_aug_assign,
    ast.NamedExpr: _Analyzer._collect_named_expr,
    ast.For: _Analyzer._collect_for,
    ast.AsyncFor: _Analyzer._collect_for,
    ast.comprehension: _Analyzer._collect_for,
    ast.With: _Analyzer._collect_with,
    ast.AsyncWith: _Analyzer._collect_with,
    ast.FunctionDef: _Analyzer._collect_function,
    ast.AsyncFunctionDef: _Analyzer._collect_function,
    ast.Lambda: _Analyzer._collect_lambda,
    ast.ClassDef: _Analyzer._collect_class,
    ast.ExceptHandler: _Analyzer._collect_opaque_name,
    ast.MatchAs: _Analyzer._collect_opaque_name,
    ast.MatchStar: _Analyzer._collect_opaque_name,
    ast.MatchMapping: _Analyzer._collect_match_mapping,
    ast.Delete: _Analyzer._collect_delete,
}

_CHECKS: Final[dict[type[ast.AST], _Visitor]] = {
    ast.Import: _Analyzer._check_import,
    ast.ImportFrom: _Analyzer._check_import_from,
    ast.Name: _Analyzer._check_name,
    ast.Attribute: _Analyzer._check_attribute,
    ast.Subscript: _Analyzer._check_subscript,
    ast.Call: _Analyzer._check_call,
    ast.Constant: _Analyzer._check_constant,
    ast.BinOp: _Analyzer._check_folded,
    ast.JoinedStr: _Analyzer._check_folded,
}

_SCAN_ENTRIES: Final[dict[type[ast.AST], _ScanEntry]] = {cls: _scan_entry(cls) for cls in _KNOWN_NODES}
_UNNAMED_CHECKS: Final = frozenset(_CHECKS.keys() - {ast.Name})
