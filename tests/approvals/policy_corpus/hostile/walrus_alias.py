# open bound by an assignment expression.
if (reader := open):
    print(reader("/etc/passwd").read())
