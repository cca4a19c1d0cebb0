from dataclasses import dataclass

import pandas as pd


@dataclass
class RegionSummary:
    region: str
    revenue: float
    orders: int

    @property
    def average(self) -> float:
        return self.revenue / self.orders if self.orders else 0.0


df = pd.read_csv("/data/sales.csv")
summaries = [
    RegionSummary(region, float(group["revenue"].sum()), len(group))
    for region, group in df.groupby("region")
]
for s in sorted(summaries, key=lambda s: s.average, reverse=True):
    print(f"{s.region}: {s.orders} orders, average {s.average:,.2f}")
