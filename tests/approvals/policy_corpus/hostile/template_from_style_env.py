# pandas' Styler keeps a Jinja environment; a template compiled from text can run code.
import pandas as pd

styler = pd.DataFrame({"a": [1]}).style
template = styler.env.from_string("{{ cycler.__init__ }}")
print(template.render())
