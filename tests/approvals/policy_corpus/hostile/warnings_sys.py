# warnings.sys is sys.
import warnings

warnings.sys.modules["subprocess"].run(["id"])
