import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

rng = np.random.default_rng(42)

df = pd.read_csv("/data/sales.csv")
daily = df.groupby("date")["revenue"].sum()

# Bootstrap the mean daily revenue
samples = rng.choice(daily.to_numpy(), size=(5000, len(daily)), replace=True)
means = samples.mean(axis=1)
low, high = np.percentile(means, [2.5, 97.5])

print(f"Mean daily revenue: {daily.mean():,.2f}")
print(f"95% bootstrap interval: [{low:,.2f}, {high:,.2f}]")

plt.hist(means, bins=50, color="steelblue", edgecolor="white")
plt.axvline(low, color="red", linestyle="--")
plt.axvline(high, color="red", linestyle="--")
plt.title("Bootstrap distribution of the mean daily revenue")
