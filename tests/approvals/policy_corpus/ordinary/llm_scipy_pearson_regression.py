import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from scipy.stats import linregress, pearsonr, spearmanr

df = pd.read_csv("/data/sales.csv").dropna(subset=["units", "revenue"])

r, p = pearsonr(df["units"], df["revenue"])
rho, p_s = spearmanr(df["units"], df["revenue"])
fit = linregress(df["units"], df["revenue"])

print(f"Pearson r = {r:.3f} (p = {p:.3g})")
print(f"Spearman rho = {rho:.3f} (p = {p_s:.3g})")
print(f"revenue = {fit.slope:.2f} * units + {fit.intercept:.2f}  (R^2 = {fit.rvalue ** 2:.3f})")

xs = np.linspace(df["units"].min(), df["units"].max(), 100)
fig, ax = plt.subplots(figsize=(8, 5))
ax.scatter(df["units"], df["revenue"], alpha=0.4, label="orders")
ax.plot(xs, fit.slope * xs + fit.intercept, color="red", label="linear fit")
ax.set_xlabel("Units")
ax.set_ylabel("Revenue")
ax.legend()
