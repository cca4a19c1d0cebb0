import numpy as np
import pandas as pd

df = pd.read_csv("/data/sales.csv")
x = df["units"].to_numpy(dtype=float)
y = df["revenue"].to_numpy(dtype=float)

coeffs = np.polyfit(x, y, deg=2)
poly = np.poly1d(coeffs)
residuals = y - poly(x)
print("Quadratic fit:", poly)
print(f"RMSE: {np.sqrt(np.mean(residuals ** 2)):.2f}")

A = np.column_stack([np.ones_like(x), x])
beta, *_ = np.linalg.lstsq(A, y, rcond=None)
print(f"Least squares: intercept={beta[0]:.2f}, slope={beta[1]:.2f}")
print(f"Condition number: {np.linalg.cond(A):.1f}")
