# Code compiled from a string and executed.
exec(compile("import os; os.system('id')", "<x>", "exec"))
