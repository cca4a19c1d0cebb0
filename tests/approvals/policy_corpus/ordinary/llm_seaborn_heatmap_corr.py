import pandas as pd
import seaborn as sns
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
numeric = df.select_dtypes(include="number")
corr = numeric.corr(numeric_only=True)

fig, ax = plt.subplots(figsize=(8, 6))
sns.heatmap(corr, annot=True, fmt=".2f", cmap="coolwarm", vmin=-1, vmax=1, ax=ax)
ax.set_title("Correlation matrix")
fig.tight_layout()

print(corr.round(3))
