import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore", category=FutureWarning)
pd.set_option("display.max_columns", None)
pd.set_option("display.width", 120)
np.set_printoptions(precision=3, suppress=True)

df = pd.read_csv("/data/sales.csv")
print(df.head(20))
print(df.isna().mean().sort_values(ascending=False).head())
