# A module:// backend is imported by name.
import matplotlib

matplotlib.use("module://attacker_backend")
