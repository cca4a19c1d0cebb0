# enum keeps the builtins module under the name bltns.
import enum

enum.bltns.exec("print(1)")
