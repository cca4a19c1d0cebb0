# pandas' plotting backend set as an option attribute.
import pandas as pd

pd.options.plotting.backend = "attacker" + "_module"
