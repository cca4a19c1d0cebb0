import numpy as np
import pandas as pd
from scipy import integrate, interpolate

df = pd.read_csv("/data/flow.csv").sort_values("t")
spline = interpolate.CubicSpline(df["t"], df["rate"])
grid = np.linspace(df["t"].min(), df["t"].max(), 500)
total, err = integrate.quad(spline, df["t"].min(), df["t"].max())
print(f"Total volume: {total:,.1f} (error estimate {err:.2e})")
print(f"Trapezoid on raw points: {np.trapezoid(df['rate'], df['t']):,.1f}")
print(f"Peak rate {spline(grid).max():.2f} at t={grid[spline(grid).argmax()]:.1f}")
