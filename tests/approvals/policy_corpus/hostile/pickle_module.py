# The pickle module itself.
import pickle

with open("/data/model.pkl", "rb") as handle:
    print(pickle.load(handle))
