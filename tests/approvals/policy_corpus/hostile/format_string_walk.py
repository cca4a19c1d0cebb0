# str.format reads attributes named in the format string.
print("{0.__class__.__mro__}".format(1))
