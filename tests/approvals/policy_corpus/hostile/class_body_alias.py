# open stored as a class attribute and called through self.
class Loader:
    opener = open

    def read(self, path):
        return self.opener(path).read()


print(Loader().read("/etc/passwd"))
