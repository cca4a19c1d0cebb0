# allow_pickle given through a variable.
import numpy as np

flag = 1 > 0
print(np.load("/data/arrays.npy", allow_pickle=flag))
