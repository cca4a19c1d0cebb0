"""What counts as what: the tables the check reads. Names here are dotted the way the allow-list writes them
(the module where a name is defined, `operator.attrgetter`, not where it was imported from)."""

from __future__ import annotations

import builtins
import re
import sys

# --- modules ---------------------------------------------------------------------------------------

# A module (or a package and everything under it) and the rule that importing or reaching it breaks.
MODULE_RULES = {
    "subprocess": "os-command", "pty": "os-command", "pexpect": "os-command", "sh": "os-command",
    "numpy.f2py": "os-command", "pandas.io.clipboard": "os-command", "pandas.io.clipboards": "os-command",
    "socket": "network", "ssl": "network", "urllib": "network", "urllib3": "network",
    "requests": "network", "http": "network", "httpx": "network", "aiohttp": "network",
    "ftplib": "network", "smtplib": "network", "poplib": "network", "imaplib": "network",
    "telnetlib": "network", "xmlrpc": "network", "websocket": "network", "websockets": "network",
    "pyarrow.fs": "network", "pyarrow.flight": "network", "scipy.datasets": "network",
    "ctypes": "native-code", "_ctypes": "native-code", "cffi": "native-code",
    "numpy.ctypeslib": "native-code", "pyarrow.cffi": "native-code", "pyarrow.jvm": "native-code",
    "importlib": "dynamic-code", "builtins": "dynamic-code", "runpy": "dynamic-code",
    "code": "dynamic-code", "codeop": "dynamic-code", "imp": "dynamic-code", "zipimport": "dynamic-code",
    "pickle": "deserialise", "_pickle": "deserialise", "cPickle": "deserialise", "cloudpickle": "deserialise",
    "dill": "deserialise", "joblib": "deserialise", "shelve": "deserialise", "marshal": "deserialise",
    "copyreg": "deserialise", "pandas.io.pickle": "deserialise",
    "pip": "shell-escape", "IPython": "shell-escape",
}  # fmt: skip

# Modules that analysis code has no use for and that reach the system: a module of these reached through
# another module, or a name taken from one, is reported.
SYSTEM_MODULE_NAMES = frozenset(
    {
        "os", "posix", "nt", "sys", "shutil", "tempfile", "glob", "signal", "resource", "multiprocessing",
        "threading", "_thread", "asyncio", "concurrent", "gc", "inspect", "types", "sysconfig", "site",
        "pkgutil", "atexit", "logging", "linecache", "tokenize", "weakref", "platform", "mmap", "fcntl",
        "socketserver", "webbrowser", "bltns",
    }
    | {name for name in MODULE_RULES if "." not in name}
)  # fmt: skip

# An attribute of a value whose type the check cannot know (a DataFrame, a parameter) with one of these
# names is taken to be that module. Short on purpose: names like `code`, `site` or `signal` are columns in
# `df.site`, and a library object that hands on a module does it under one of these names.
OPAQUE_MODULE_NAMES = frozenset(
    {
        "os", "posix", "nt", "sys", "subprocess", "shutil", "builtins", "bltns", "importlib", "ctypes",
        "_ctypes", "cffi", "pickle", "_pickle", "marshal", "socket", "urllib", "urllib3", "requests", "runpy",
        "pty", "multiprocessing", "tempfile",
    }
)  # fmt: skip

# Names some module gives to a dangerous module (`pyarrow.fs`, `scipy.datasets`) that are also ordinary
# attributes of data (`ShortTimeFFT(...).fs`, a `datasets` column): on a module they are still reported.
DATA_ATTRIBUTE_NAMES = frozenset({"fs", "datasets"})

STANDARD_MODULE_NAMES = frozenset(sys.stdlib_module_names)


def module_rule(name: str) -> str | None:
    """The rule a module breaks by being imported or reached (`numpy.ctypeslib` → native-code)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        rule = MODULE_RULES.get(".".join(parts[:i]))
        if rule:
            return rule
    return None


# --- builtins --------------------------------------------------------------------------------------

_EXCEPTIONS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException | Warning)
}
SAFE_BUILTINS = frozenset(
    {
        "abs", "aiter", "all", "anext", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable",
        "chr", "classmethod", "complex", "dict", "dir", "divmod", "enumerate", "filter", "float", "format",
        "frozenset", "hash", "hex", "id", "int", "isinstance", "issubclass", "iter", "len", "list", "map",
        "max", "memoryview", "min", "next", "object", "oct", "ord", "pow", "print", "property", "range",
        "repr", "reversed", "round", "set", "slice", "sorted", "staticmethod", "str", "sum", "super",
        "tuple", "type", "zip", "Ellipsis", "NotImplemented", "True", "False", "None",
    }
    | _EXCEPTIONS
)  # fmt: skip
CODE_BUILTINS = frozenset(
    {"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "breakpoint"}
)
ATTRIBUTE_BUILTINS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
# Builtins that are harmless when called in plain sight but not once renamed or handed on.
RISKY_BUILTINS = ATTRIBUTE_BUILTINS | {"open"}
BUILTIN_NAMES = frozenset(dir(builtins))

# Dunder names that read a name or a version and lead nowhere.
SAFE_DUNDERS = frozenset(
    {"__name__", "__doc__", "__version__", "__file__", "__init__", "__main__", "__all__", "__qualname__"}
)
SAFE_DUNDER_NAMES = frozenset({"__name__", "__doc__", "__file__", "__debug__"})
# The private names of namedtuples (rows of `df.itertuples()`); other `_names` are not understood.
SAFE_PRIVATE = frozenset({"_asdict", "_replace", "_fields", "_make", "_field_defaults"})


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


# --- attributes, whatever they are read from -------------------------------------------------------

OS_COMMANDS = frozenset(
    {
        "system", "popen", "fork", "forkpty", "kill", "killpg", "startfile", "setuid", "setgid",
        "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe", "spawnl", "spawnle",
        "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp",
        "Popen", "check_output", "check_call", "getoutput", "getstatusoutput", "run_line_magic",
        "run_cell_magic", "to_clipboard", "read_clipboard",
    }
)  # fmt: skip

# An attribute with one of these names is what the rule says whatever it is read from: the check cannot
# know the type of `df` or of a parameter, so the name decides.
DANGEROUS_ATTRIBUTES = {
    **{name: ("os-command", "can start a process or a shell command") for name in OS_COMMANDS},
    **{
        name: ("native-code", "can load native code into the interpreter")
        for name in ("load_library", "LoadLibrary", "CDLL", "PyDLL", "dlopen", "cdll", "pydll", "windll")
    },
    **{
        name: ("dynamic-code", "can import modules or run code given as text")
        for name in ("import_module", "reload", "exec_module", "load_module", "get_type_hints", "ForwardRef")
    },
    "from_string": ("dynamic-code", "compiles a template given as text, and templates can run code"),
    "from_custom_template": ("dynamic-code", "loads templates from files, and templates can run code"),
    **{
        name: ("dynamic-code", "loads or compiles templates, and templates can run code")
        for name in ("get_template", "select_template", "get_or_select_template", "compile_expression",
                     "FileSystemLoader")
    },
    "HDFStore": ("deserialise", "opens HDF5, whose object columns are pickles that can run code"),
    "read_pickle": ("deserialise", "loads a pickle, and loading a pickle can run any code in the file"),
    "Unpickler": ("deserialise", "loads a pickle, and loading a pickle can run any code in the file"),
    "read_hdf": ("deserialise", "reads HDF5, whose object columns are pickles that can run code"),
    **{
        name: ("file-delete", "deletes files or directories")
        for name in ("unlink", "rmdir", "rmtree", "removedirs")
    },
    **{
        name: ("network", "opens a network connection")
        for name in ("urlopen", "urlretrieve", "create_connection", "load_dataset", "get_dataset_names")
    },
    **{
        name: ("dunder-access", "reaches the interpreter's frames, code or globals")
        for name in (
            "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "f_trace", "tb_frame", "tb_next",
            "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code",
            "co_code", "co_consts", "co_names", "func_globals", "func_code", "func_closure", "mro",
        )
    },
}  # fmt: skip

# Functions whose names mean something else on other values (`list.remove`), so only the module's own count.
SYSTEM_FUNCTIONS = {
    **{
        f"{module}.{name}": ("file-delete", "deletes or moves files")
        for module in ("os", "posix")
        for name in ("remove", "truncate", "rename", "renames", "replace")
    },
    "shutil.move": ("file-delete", "deletes or moves files"),
}

# matplotlib settings that make it start another program (LaTeX, ffmpeg, ImageMagick, Ghostscript).
PROGRAM_SETTINGS = frozenset(
    {"text.usetex", "animation.ffmpeg_path", "animation.convert_path", "animation.writer", "pgf.texsystem",
     "ps.usedistiller"}
)  # fmt: skip
PROGRAM_SETTING = "makes matplotlib start an external program (LaTeX, ffmpeg, ImageMagick, Ghostscript)"

# Methods that take the name of another method as a string (`df.agg("sum")`): pandas looks it up with
# getattr on the frame, so the string is an attribute access the check must see.
DISPATCH_BY_NAME = frozenset({"agg", "aggregate", "apply", "transform"})
# Methods that run a string as a pandas expression.
STRING_EVALUATORS = frozenset({"eval", "query"})

# --- functions of the allowed modules ---------------------------------------------------------------

# name -> (what it does with a path, the path's position, its keyword names). "open" reads or writes
# depending on a mode argument, like the builtin.
FILE_FUNCTIONS = {
    "pandas.ExcelFile": ("read", 0, ("path_or_buffer",)),
    "pandas.ExcelWriter": ("write", 0, ("path",)),
    "pandas.HDFStore": ("write", 0, ("path",)),
    "numpy.load": ("read", 0, ("file",)),
    "numpy.loadtxt": ("read", 0, ("fname",)),
    "numpy.genfromtxt": ("read", 0, ("fname",)),
    "numpy.fromfile": ("read", 0, ("file",)),
    "numpy.fromregex": ("read", 0, ("file",)),
    "numpy.memmap": ("write", 0, ("filename",)),
    "numpy.save": ("write", 0, ("file",)),
    "numpy.savez": ("write", 0, ("file",)),
    "numpy.savez_compressed": ("write", 0, ("file",)),
    "numpy.savetxt": ("write", 0, ("fname",)),
    "matplotlib.pyplot.imread": ("read", 0, ("fname",)),
    "matplotlib.image.imread": ("read", 0, ("fname",)),
    "matplotlib.pyplot.imsave": ("write", 0, ("fname",)),
    "matplotlib.image.imsave": ("write", 0, ("fname",)),
    "matplotlib.pyplot.savefig": ("write", 0, ("fname",)),
    "openpyxl.load_workbook": ("read", 0, ("filename",)),
    "pyarrow.parquet.read_table": ("read", 0, ("source",)),
    "pyarrow.parquet.read_pandas": ("read", 0, ("source",)),
    "pyarrow.parquet.ParquetFile": ("read", 0, ("source",)),
    "pyarrow.parquet.ParquetDataset": ("read", 0, ("path_or_paths",)),
    "pyarrow.parquet.read_metadata": ("read", 0, ("where",)),
    "pyarrow.parquet.read_schema": ("read", 0, ("where",)),
    "pyarrow.parquet.write_table": ("write", 1, ("where",)),
    "pyarrow.parquet.write_to_dataset": ("write", 1, ("root_path",)),
    "pyarrow.parquet.ParquetWriter": ("write", 0, ("where",)),
    "pyarrow.csv.read_csv": ("read", 0, ("input_file",)),
    "pyarrow.csv.open_csv": ("read", 0, ("input_file",)),
    "pyarrow.csv.write_csv": ("write", 1, ("output_file",)),
    "pyarrow.csv.CSVWriter": ("write", 0, ("sink",)),
    "pyarrow.feather.read_feather": ("read", 0, ("source",)),
    "pyarrow.feather.read_table": ("read", 0, ("source",)),
    "pyarrow.feather.write_feather": ("write", 1, ("dest",)),
    "pyarrow.OSFile": ("open", 0, ("path",)),
    "pyarrow.memory_map": ("open", 0, ("path",)),
    "pyarrow.input_stream": ("read", 0, ("source",)),
    "pyarrow.output_stream": ("write", 0, ("source",)),
    "pyarrow.create_memory_map": ("write", 0, ("path",)),
    "io.open": ("open", 0, ("file",)),
    "io.FileIO": ("open", 0, ("file",)),
    "io.open_code": ("read", 0, ("path",)),
}
# What these return is an open file or writer (or a buffer in memory): writing to it opens nothing more.
FILE_OPENERS = frozenset(FILE_FUNCTIONS) | {"io.StringIO", "io.BytesIO"}
# Readers of pandas (`pd.read_csv`, …) take the path first.
PANDAS_READER = re.compile(r"^pandas\.read_\w+$")
READER_KEYWORDS = ("filepath_or_buffer", "path", "path_or_buf", "io", "path_or_buffer")

# Methods on values of unknown type that write their first argument (or `path`, …) as a file.
WRITE_METHODS = frozenset(
    {
        "to_csv", "to_excel", "to_parquet", "to_json", "to_pickle", "to_feather", "to_hdf", "to_stata",
        "to_orc", "to_html", "to_latex", "to_markdown", "to_xml", "savefig", "save", "savetxt", "savez",
        "savez_compressed", "tofile", "to_string",
    }
)  # fmt: skip
WRITE_KEYWORDS = ("path_or_buf", "excel_writer", "path", "fname", "file", "buf", "filename")

PATH_CLASSES = frozenset({"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "pathlib.PurePosixPath"})
PATH_READS = frozenset(
    {"read_text", "read_bytes", "open", "iterdir", "glob", "rglob", "exists", "is_file", "is_dir", "stat"}
)
PATH_WRITES = frozenset(
    {"write_text", "write_bytes", "touch", "mkdir", "rename", "replace", "symlink_to", "hardlink_to", "chmod"}
)
PATH_DELETES = frozenset({"unlink", "rmdir"})

# pd.eval runs its first argument as an expression.
EXPRESSION_FUNCTIONS = frozenset({"pandas.eval"})
# Functions that take attribute names as strings and return a getter for them.
ATTRIBUTE_GETTERS = frozenset({"operator.attrgetter", "operator.methodcaller"})
# Matplotlib imports a backend named `module://name`: a module import given as a string.
BACKEND_SWITCHES = frozenset({"matplotlib.use", "matplotlib.pyplot.switch_backend"})
