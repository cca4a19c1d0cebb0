import pandas as pd
from scipy import stats

df = pd.read_csv("/data/sales.csv")

north = df.loc[df["region"] == "North", "revenue"].dropna()
south = df.loc[df["region"] == "South", "revenue"].dropna()

t_stat, p_value = stats.ttest_ind(north, south, equal_var=False)
print(f"Welch's t-test: t = {t_stat:.3f}, p = {p_value:.4f}")
if p_value < 0.05:
    print("The difference in mean revenue between North and South is statistically significant.")
else:
    print("No significant difference in mean revenue between North and South.")

print(f"North mean: {north.mean():.2f} (n={len(north)})")
print(f"South mean: {south.mean():.2f} (n={len(south)})")
