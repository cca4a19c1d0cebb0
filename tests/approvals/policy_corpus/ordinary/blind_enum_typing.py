from enum import Enum
from typing import Optional

import pandas as pd


class Trend(Enum):
    UP = "up"
    DOWN = "down"
    FLAT = "flat"


def classify(change: Optional[float], tolerance: float = 0.02) -> Trend:
    if change is None or abs(change) < tolerance:
        return Trend.FLAT
    return Trend.UP if change > 0 else Trend.DOWN


df = pd.read_csv("/data/sales.csv", parse_dates=["date"])
monthly = df.set_index("date").resample("MS")["revenue"].sum()
changes = monthly.pct_change()
labels = [classify(None if pd.isna(c) else c).value for c in changes]
print(pd.DataFrame({"revenue": monthly.round(2), "change": changes.round(3), "trend": labels}))
