# type(...).mro() reaches object without a dunder.
base = type(1).mro()[-1]
print(base)
