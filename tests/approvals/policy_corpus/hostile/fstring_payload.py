# The call hides inside an f-string placeholder.
import pathlib

print(f"{pathlib.os.popen('id').read()}")
