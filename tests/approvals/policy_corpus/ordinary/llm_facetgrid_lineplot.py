import pandas as pd
import seaborn as sns

df = pd.read_csv("/data/sales.csv", parse_dates=["date"])
df["month"] = df["date"].dt.to_period("M").dt.to_timestamp()
monthly = df.groupby(["month", "region", "product"], as_index=False)["units"].sum()

g = sns.FacetGrid(monthly, col="region", col_wrap=2, height=3.5, aspect=1.4)
g.map_dataframe(sns.lineplot, x="month", y="units", hue="product")
g.add_legend()
g.set_titles("{col_name}")
g.tight_layout()
