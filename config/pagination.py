"""The API's pagination: `?limit=&offset=`, answered as `{count, next, previous, results}`."""

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200
