# matplotlib imports subprocess at module level; it is an attribute of the package.
import matplotlib

matplotlib.subprocess.run(["id"])
