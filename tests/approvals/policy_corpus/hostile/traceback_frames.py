# An exception's traceback leads to frames and their globals.
try:
    1 / 0
except ZeroDivisionError as error:
    frame = error.__traceback__.tb_frame
    print(frame.f_back)
