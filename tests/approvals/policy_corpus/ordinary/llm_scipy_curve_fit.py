import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from scipy.optimize import curve_fit


def logistic(t, k, r, t0):
    return k / (1 + np.exp(-r * (t - t0)))


df = pd.read_csv("/data/adoption.csv", parse_dates=["week"])
t = (df["week"] - df["week"].min()).dt.days.to_numpy()
y = df["users"].cumsum().to_numpy()

params, _ = curve_fit(logistic, t, y, p0=[y.max() * 1.2, 0.05, np.median(t)], maxfev=10000)
k, r, t0 = params
print(f"Saturation: {k:,.0f} users; growth rate {r:.3f}/day; midpoint at day {t0:.0f}")

plt.plot(t, y, "o", label="observed")
plt.plot(t, logistic(t, *params), "-", label="logistic fit")
plt.legend()
