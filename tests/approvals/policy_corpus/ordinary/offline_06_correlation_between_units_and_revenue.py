# Generated offline (no LLM): correlation
# Question: correlation between units and revenue
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
df["date"] = pd.to_datetime(df["date"], errors="coerce")

columns = ["units", "revenue"]
corr = df[columns].corr()

fig, ax = plt.subplots(figsize=(7, 6))
image = ax.imshow(corr.values, cmap="coolwarm", vmin=-1, vmax=1)
fig.colorbar(image, ax=ax, label="Pearson correlation")
ax.set_xticks(range(len(columns)), labels=columns, rotation=45, ha="right")
ax.set_yticks(range(len(columns)), labels=columns)
for i in range(len(columns)):
    for j in range(len(columns)):
        ax.text(j, i, f"{corr.iat[i, j]:.2f}", ha="center", va="center", fontsize=8)
ax.set_title("Correlation between numeric columns")
fig.tight_layout()

print("Correlation matrix (Pearson):")
print(corr.round(2).to_string())
pairs = corr.stack().dropna()
pairs = pairs[[left < right for left, right in pairs.index]]  # each pair once, no diagonal
if len(pairs):
    left, right = pairs.abs().idxmax()
    print(f"Strongest relationship: {left} and {right} (r = {corr.loc[left, right]:.2f}).")
corr
