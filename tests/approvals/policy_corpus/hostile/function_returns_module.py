# A function that returns a module.
import pathlib


def system_module():
    return pathlib.os


system_module().system("id")
