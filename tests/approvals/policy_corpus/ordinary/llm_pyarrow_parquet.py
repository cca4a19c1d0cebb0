import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

table = pq.read_table("/data/trips.parquet", columns=["distance_km", "fare", "payment_type"])
print(table.schema)
print(f"{table.num_rows:,} rows")

fares = table.column("fare")
print(f"Mean fare: {pc.mean(fares).as_py():.2f}")
per_km = pc.divide(fares, table.column("distance_km"))
print(f"Median fare per km: {pc.approximate_median(per_km).as_py():.2f}")

summary = table.group_by("payment_type").aggregate([("fare", "mean"), ("fare", "count")])
pq.write_table(summary, "/output/fare_by_payment.parquet")
print(summary.to_pandas())
df = pa.Table.from_pandas(summary.to_pandas()).to_pandas()
