"""Day-2 tools for a minio-platform stack (``python -m day2 --help``)."""
