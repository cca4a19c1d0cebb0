# The method name comes from the data itself, and pandas passes the path on to that method.
import pandas as pd

df = pd.read_csv("/data/sales.csv")
method = df.columns[0]
df.agg(method, "/etc/cron.d/job")
