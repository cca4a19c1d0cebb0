# A generator's frame leads to the module globals and the builtins.
gen = (x for x in [1])
print(gen.gi_frame.f_globals["__builtins__"])
