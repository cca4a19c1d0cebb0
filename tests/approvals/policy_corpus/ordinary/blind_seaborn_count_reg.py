import pandas as pd
import seaborn as sns
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
sns.countplot(data=df, y="product", order=df["product"].value_counts().index, ax=left)
sns.regplot(data=df, x="units", y="revenue", scatter_kws={"alpha": 0.3}, ax=right)
left.set_title("Orders per product")
right.set_title("Revenue vs units")
sns.despine()
