# df.query with an f-string: pandas evaluates whatever the string becomes.
import pandas as pd

df = pd.read_csv("/data/sales.csv")
column = df.columns[0]
print(df.query(f"{column} > 0 or @pd.io.common.os.system('id') == 0"))
