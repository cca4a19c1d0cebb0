# pandas imports its plotting backend by name.
import pandas as pd

pd.set_option("plotting.backend", "attacker_module")
pd.DataFrame({"a": [1, 2]}).plot()
