"""A file upload is cut off while the request is read, as soon as one file passes UPLOAD_MAX_BYTES.

Django's own handlers keep every uploaded byte (in memory, or in a temporary file past
FILE_UPLOAD_MAX_MEMORY_SIZE) before a view sees any of it: a 300 MB file was written to disk in full
before the service refused it. `FileSizeLimit`, placed before them, hands them at most the limit of a
file and then drops that file; the view names it. The rest of the dropped file is still read from the
connection and thrown away, so that the request's other files arrive; the reverse proxy in front
(nginx `client_max_body_size`) is what caps the whole body.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest


class FileSizeLimit(FileUploadHandler):
    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.refused: list[str] = []  # the names of the files dropped, in the order they came

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self.refused.append(str(self.file_name))
            raise SkipFile  # the parser closes what the later handlers kept of it and reads past the rest
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the handlers after this one build the file

    def message(self, file_name: str) -> str:
        return f"“{file_name}” was refused: the limit is {self.limit:,} bytes for one file."
