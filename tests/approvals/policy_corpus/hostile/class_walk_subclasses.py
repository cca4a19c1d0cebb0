# The classic walk from a tuple to every class in the interpreter.
for cls in ().__class__.__base__.__subclasses__():
    if cls.__name__ == "Popen":
        cls(["id"])
