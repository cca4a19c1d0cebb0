import numpy as np
import pandas as pd
import seaborn as sns
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
df["log_revenue"] = np.log1p(df["revenue"].clip(lower=0))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
sns.histplot(df["revenue"], bins=40, kde=True, ax=ax1)
ax1.set_title("Revenue")
sns.histplot(df["log_revenue"], bins=40, kde=True, ax=ax2, color="green")
ax2.set_title("log(1 + revenue)")
fig.tight_layout()

print(df[["revenue", "log_revenue"]].skew().round(2))
