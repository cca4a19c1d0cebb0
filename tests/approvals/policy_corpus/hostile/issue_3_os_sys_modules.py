# Issue #21: os.sys is sys; sys.modules holds importlib, which imports anything.
import os.path

os.sys.modules["importlib"].import_module("socket")
