# read_pickle imported under another name.
from pandas import read_pickle as load_table

print(load_table("/data/model.pkl"))
