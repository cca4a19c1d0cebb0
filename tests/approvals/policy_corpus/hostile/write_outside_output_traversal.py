# A write that climbs out of /output.
import pandas as pd

pd.DataFrame({"a": [1]}).to_csv("/output/../etc/cron.d/job")
