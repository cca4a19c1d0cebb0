# np.load with pickles allowed.
import numpy as np

arrays = np.load("/data/arrays.npy", allow_pickle=True)
print(arrays)
