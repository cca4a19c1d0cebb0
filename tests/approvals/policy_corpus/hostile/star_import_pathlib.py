# A star import brings pathlib's names, and os is one of them.
from pathlib import *

os.system("id")
