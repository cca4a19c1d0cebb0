import csv
import math
import statistics

with open("/data/measurements.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))

values = [float(r["value"]) for r in rows if r["value"]]
mean = statistics.mean(values)
stdev = statistics.stdev(values)
print(f"n = {len(values)}, mean = {mean:.3f}, sd = {stdev:.3f}")
print(f"95% CI: {mean - 1.96 * stdev / math.sqrt(len(values)):.3f} .. {mean + 1.96 * stdev / math.sqrt(len(values)):.3f}")
print(f"median = {statistics.median(values):.3f}, quartiles = {statistics.quantiles(values, n=4)}")
