"""Refuse request bodies over the size limit before anything reads them.

DATA_UPLOAD_MAX_MEMORY_SIZE only counts form fields: Django still parses a multipart body of any size
(spooling file parts to disk) and leaves other content types unread. So the whole body is held to that
limit, by its declared length, and a larger one is a 413 without being read. The one page that takes
uploads (a persona's reference photos) has its own, larger limit: four files of at most 20 MB.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

UPLOAD_PATH = re.compile(r"^/personas/[0-9a-f-]{36}/references/$")


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # as Django reads it: an unparseable length is an empty body
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if UPLOAD_PATH.match(request.path_info):
            limit = settings.REFERENCE_UPLOAD_MAX_BYTES
        if length > limit:
            return HttpResponse("Request body too large.", status=413, content_type="text/plain")
        return self.get_response(request)
