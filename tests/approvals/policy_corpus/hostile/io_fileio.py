# io.FileIO opens a file like open().
import io

print(io.FileIO("/proc/self/environ").read())
