# dill and shelve both unpickle.
import shelve

import dill

print(dill.loads(b""), shelve.open("/data/db"))
