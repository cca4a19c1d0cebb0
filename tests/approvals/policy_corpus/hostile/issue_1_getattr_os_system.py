# Issue #21: os.path is allowed, and it binds `os`; getattr reaches os.system by name.
import os.path

getattr(os, "system")("id")
