# open hidden as a lambda's default argument.
read = lambda path, f=open: f(path).read()
print(read("/etc/passwd"))
