# numpy reads a system file.
import numpy as np

print(np.loadtxt("/etc/passwd", dtype=str, delimiter=":"))
