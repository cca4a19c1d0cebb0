# The path travels in a **mapping.
import pandas as pd

df = pd.read_csv("/data/sales.csv")
options = {"path_or_buf": "/etc/cron.d/job"}
df.to_csv(**options)
