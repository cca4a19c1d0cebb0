# __import__ inside a lambda called at once.
(lambda: __import__("os").system("id"))()
