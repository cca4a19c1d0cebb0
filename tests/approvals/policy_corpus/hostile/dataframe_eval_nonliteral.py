# DataFrame.eval with a string read from the data.
import pandas as pd

df = pd.read_csv("/data/sales.csv")
expression = str(df.iloc[0, 0])
df.eval(expression)
