# A decorator that replaces the function with eval.
def swap(fn):
    return eval


@swap
def compute(expression):
    return expression


compute("__import__('os').system('id')")
