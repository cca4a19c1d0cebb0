# The same through the plot call's keyword.
import pandas as pd

name = "attacker" + "_module"
pd.DataFrame({"a": [1, 2]}).plot(backend=name)
