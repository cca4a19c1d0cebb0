# importlib imports any module by name.
import importlib

importlib.import_module("subprocess").run(["id"])
