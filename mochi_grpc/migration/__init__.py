"""Moving sessions between mochi-server's JSON files and our store.

`file_format` is the file, key by key; `reading` and `writing` turn one file
into a session with its messages and back; `importing` and `exporting` run
over a directory and report on every file.
"""

from mochi_grpc.migration.exporting import EXPORT_OUTCOMES, export_sessions
from mochi_grpc.migration.importing import IMPORT_OUTCOMES, import_sessions
from mochi_grpc.migration.reading import SessionFileError, read_session_file
from mochi_grpc.migration.report import FileResult, Outcome, total_line
from mochi_grpc.migration.writing import write_session_file

__all__ = [
    "EXPORT_OUTCOMES",
    "IMPORT_OUTCOMES",
    "FileResult",
    "Outcome",
    "SessionFileError",
    "export_sessions",
    "import_sessions",
    "read_session_file",
    "total_line",
    "write_session_file",
]
