# DataFrame.query taken from the class and given the frame and a string built at run time.
import pandas as pd

df = pd.read_csv("/data/sales.csv")
expression = "".join(["@pd", ".io"])
pd.DataFrame.query(df, expression)
